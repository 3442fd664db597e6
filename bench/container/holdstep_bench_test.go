package containerbench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/faults/container"
	"github.com/faultline/faultline/internal/dockertest"
	"golang.org/x/sync/errgroup"
)

// BenchmarkHoldStep measures what watching a held fault costs the runner at every step:
// one read-back (Verify: one engine inspect) of each paused container, at most
// faults.Parallelism at once as the runner does, on 1 and 20 containers. It reports
// step-ms (the wall time of one step's read-backs) and per-target-ms.
//
//	go test ./bench/container -run '^$' -bench HoldStep -benchtime 50x
func BenchmarkHoldStep(b *testing.B) {
	cli := dockertest.Client(b)
	img := dockertest.Image(b, cli, dockertest.Sleeper)
	ctx := context.Background()
	f, err := container.New(cli, "pause", nil)
	if err != nil {
		b.Fatal(err)
	}
	var actions []faults.Action
	for i := 0; i < 20; i++ {
		c := dockertest.Run(b, cli, dockertest.RunOptions{Name: fmt.Sprintf("holdstep-%d", i), Image: img})
		st := dockertest.Wait(b, cli, c.ID, "running", dockertest.Running)
		a, err := f.Prepare(ctx, faults.Target{ID: c.ID, Name: c.Name, PID: st.State.Pid})
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Apply(ctx); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { a.Revert(context.Background()) })
		actions = append(actions, a)
	}
	for _, n := range []int{1, 20} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				var g errgroup.Group
				g.SetLimit(faults.Parallelism)
				for _, a := range actions[:n] {
					g.Go(func() error {
						vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
						defer cancel()
						_, err := a.Verify(vctx)
						return err
					})
				}
				if err := g.Wait(); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
			}
			step := float64(total.Microseconds()) / float64(b.N) / 1000
			b.ReportMetric(step, "step-ms")
			b.ReportMetric(step/float64(n), "per-target-ms")
		})
	}
}
