// Package networkbench measures faultline's bandwidth fault (tbf over netlink inside
// each container's namespace) against what a user scripts today: `tc` run once per
// container through `nsenter -t PID -n`. Both hit the same containers in the same run.
// Run it with run.sh, or:
//
//	go test ./bench/network -run '^$' -bench . -benchtime 10x
//
// Per iteration and for all N containers, each way reports apply-ms (faultline: Prepare,
// which opens the namespace and checks the root qdisc, then Apply; tc: one nsenter+tc
// process per container) and revert-ms. faultline also reports applyonly-ms, Apply alone
// on already prepared actions, which is what a journaled run spends between its
// decision and the fault being in place.
package networkbench

import (
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/faults/network"
	"github.com/faultline/faultline/internal/dockertest"
)

var sizes = []int{1, 10, 50}

func BenchmarkBandwidth(b *testing.B) {
	cli := dockertest.Client(b)
	for _, tool := range []string{"nsenter", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s is not installed: nothing to compare against", tool)
		}
	}
	img := dockertest.Image(b, cli, dockertest.Sleeper)
	nw := dockertest.Network(b, cli, dockertest.NetworkOptions{Internal: true})
	var targets []faults.Target
	for i := 0; i < sizes[len(sizes)-1]; i++ {
		c := dockertest.Run(b, cli, dockertest.RunOptions{Name: fmt.Sprintf("netbench-%d", i), Image: img, Networks: []string{nw.Name}})
		st := dockertest.Wait(b, cli, c.ID, "running", dockertest.Running)
		targets = append(targets, faults.Target{ID: c.ID, Name: c.Name, PID: st.State.Pid})
	}
	params := faults.Params{"rate": uint64(8_000_000)}
	fault, err := network.New("bandwidth", params, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range sizes {
		set := targets[:n]
		b.Run(fmt.Sprintf("targets=%d/faultline", n), func(b *testing.B) {
			var apply, applyOnly, revert time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				actions := make([]faults.Action, 0, n)
				for _, t := range set {
					a, err := fault.Prepare(b.Context(), t)
					if err != nil {
						b.Fatal(err)
					}
					if err := a.Apply(b.Context()); err != nil {
						b.Fatal(err)
					}
					actions = append(actions, a)
				}
				apply += time.Since(start)
				start = time.Now()
				for _, a := range actions {
					if err := a.Revert(b.Context()); err != nil {
						b.Fatal(err)
					}
				}
				revert += time.Since(start)

				// Apply alone, on actions prepared beforehand (untimed).
				b.StopTimer()
				actions = actions[:0]
				for _, t := range set {
					a, err := fault.Prepare(b.Context(), t)
					if err != nil {
						b.Fatal(err)
					}
					actions = append(actions, a)
				}
				b.StartTimer()
				start = time.Now()
				for _, a := range actions {
					if err := a.Apply(b.Context()); err != nil {
						b.Fatal(err)
					}
				}
				applyOnly += time.Since(start)
				b.StopTimer()
				for _, a := range actions {
					if err := a.Revert(b.Context()); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
			}
			report(b, apply, revert)
			b.ReportMetric(ms(applyOnly)/float64(b.N), "applyonly-ms")
		})
		b.Run(fmt.Sprintf("targets=%d/tc-nsenter", n), func(b *testing.B) {
			var apply, revert time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				for _, t := range set {
					tc(b, t.PID, "qdisc", "add", "dev", "eth0", "root", "handle", "fa17:", "tbf", "rate", "8mbit", "burst", "1514", "latency", "50ms")
				}
				apply += time.Since(start)
				start = time.Now()
				for _, t := range set {
					tc(b, t.PID, "qdisc", "del", "dev", "eth0", "root", "handle", "fa17:")
				}
				revert += time.Since(start)
			}
			report(b, apply, revert)
		})
	}
}

func tc(b *testing.B, pid int, args ...string) {
	out, err := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(pid), "-n", "tc"}, args...)...).CombinedOutput()
	if err != nil {
		b.Fatalf("nsenter -t %d -n tc %v: %v: %s", pid, args, err, out)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func report(b *testing.B, apply, revert time.Duration) {
	b.ReportMetric(ms(apply)/float64(b.N), "apply-ms")
	b.ReportMetric(ms(revert)/float64(b.N), "revert-ms")
}
