package containerbench

import (
	"context"
	"testing"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/faults/container"
	"github.com/faultline/faultline/internal/dockertest"
)

// BenchmarkReadBack measures one read-back (Verify: one engine inspect) against the
// fault's own Apply, for pause and resources on one container. It reports apply-ms and
// verify-ms per iteration.
//
//	go test ./bench/container -run '^$' -bench ReadBack -benchtime 50x
func BenchmarkReadBack(b *testing.B) {
	cli := dockertest.Client(b)
	img := dockertest.Image(b, cli, dockertest.Sleeper)
	c := dockertest.Run(b, cli, dockertest.RunOptions{Name: "readback", Image: img})
	st := dockertest.Wait(b, cli, c.ID, "running", dockertest.Running)
	target := faults.Target{ID: c.ID, Name: c.Name, PID: st.State.Pid}
	ctx := context.Background()
	for _, k := range []struct {
		name   string
		params faults.Params
	}{
		{"pause", nil},
		{"resources", faults.Params{"cpus": 0.5, "memory": int64(64 << 20)}},
	} {
		f, err := container.New(cli, k.name, k.params)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(k.name, func(b *testing.B) {
			var apply, verify time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				a, err := f.Prepare(ctx, target)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				if err := a.Apply(ctx); err != nil {
					b.Fatal(err)
				}
				apply += time.Since(start)
				start = time.Now()
				if v, err := a.Verify(ctx); err != nil || !v.OK() {
					b.Fatalf("read-back: %v (%s)", err, v)
				}
				verify += time.Since(start)
				b.StopTimer()
				if err := a.Revert(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(apply.Microseconds())/float64(b.N)/1000, "apply-ms")
			b.ReportMetric(float64(verify.Microseconds())/float64(b.N)/1000, "verify-ms")
		})
	}
}
