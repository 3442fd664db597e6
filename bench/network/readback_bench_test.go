package networkbench

import (
	"fmt"
	"testing"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/faults/network"
	"github.com/faultline/faultline/internal/dockertest"
)

// BenchmarkReadBack measures one read-back (Verify: one qdisc dump, in the target's
// namespace) against the fault's own Apply, for a bandwidth fault on 1 and 10
// containers, one after the other. It reports apply-us and verify-us per target.
//
//	go test ./bench/network -run '^$' -bench ReadBack -benchtime 200x
func BenchmarkReadBack(b *testing.B) {
	cli := dockertest.Client(b)
	img := dockertest.Image(b, cli, dockertest.Sleeper)
	nw := dockertest.Network(b, cli, dockertest.NetworkOptions{Internal: true})
	var targets []faults.Target
	for i := 0; i < 10; i++ {
		c := dockertest.Run(b, cli, dockertest.RunOptions{Name: fmt.Sprintf("readback-%d", i), Image: img, Networks: []string{nw.Name}})
		st := dockertest.Wait(b, cli, c.ID, "running", dockertest.Running)
		targets = append(targets, faults.Target{ID: c.ID, Name: c.Name, PID: st.State.Pid})
	}
	fault, err := network.New("bandwidth", faults.Params{"rate": uint64(8_000_000)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			var apply, verify time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				actions := make([]faults.Action, 0, n)
				for _, t := range targets[:n] {
					a, err := fault.Prepare(b.Context(), t)
					if err != nil {
						b.Fatal(err)
					}
					actions = append(actions, a)
				}
				b.StartTimer()
				start := time.Now()
				for _, a := range actions {
					if err := a.Apply(b.Context()); err != nil {
						b.Fatal(err)
					}
				}
				apply += time.Since(start)
				start = time.Now()
				for _, a := range actions {
					if v, err := a.Verify(b.Context()); err != nil || !v.OK() {
						b.Fatalf("read-back: %v (%s)", err, v)
					}
				}
				verify += time.Since(start)
				b.StopTimer()
				for _, a := range actions {
					if err := a.Revert(b.Context()); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
			}
			per := float64(b.N * n)
			b.ReportMetric(float64(apply.Microseconds())/per, "apply-us/target")
			b.ReportMetric(float64(verify.Microseconds())/per, "verify-us/target")
		})
	}
}
