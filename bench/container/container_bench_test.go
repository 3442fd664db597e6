// Package containerbench measures faultline's container faults against what a user
// scripts today: the docker CLI called once per container in a loop, and one docker
// CLI call given every id (the CLI then works on them in parallel, as the engine
// allows). All hit the same containers in the same run. BenchmarkCommands (in
// commands_bench_test.go) times whole commands instead, Pumba's among them. Run it with
// run.sh, or:
//
//	go test ./bench/container -run '^$' -bench . -benchtime 3x
//
// Each benchmark reports inject-ms (from the decision to the last acknowledgment:
// faultline's Prepare and Apply, or one CLI call per container) and revert-ms for
// all N containers, per iteration.
package containerbench

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/faults/container"
	"github.com/faultline/faultline/internal/dockertest"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

var sizes = []int{1, 10, 50}

// kind is one fault kind, both ways.
type kind struct {
	name   string
	params faults.Params
	// cliInject and cliRevert are the docker CLI arguments for the given containers
	// (nil: nothing to do).
	cliInject, cliRevert func(ids ...string) []string
	// settled is the state to wait for after the inject, untimed, before the revert.
	settled func(c ctypes.InspectResponse) bool
}

var (
	exitedState  = dockertest.NotRunning
	pausedState  = dockertest.Paused
	runningState = dockertest.Running
)

// waitAll waits, untimed, until every target is in the state the next step expects.
func waitAll(b *testing.B, cli *client.Client, targets []faults.Target, cond func(ctypes.InspectResponse) bool) {
	b.StopTimer()
	defer b.StartTimer()
	for _, t := range targets {
		dockertest.Wait(b, cli, t.ID, "settled", cond)
	}
}

func BenchmarkContainerFaults(b *testing.B) {
	cli := dockertest.Client(b)
	if _, err := exec.LookPath("docker"); err != nil {
		b.Skip("docker CLI not installed: nothing to compare against")
	}
	img := dockertest.Image(b, cli, dockertest.Sleeper)
	kinds := []kind{
		{name: "kill", params: faults.Params{"signal": "SIGKILL", "restore": true},
			cliInject: func(ids ...string) []string { return append([]string{"kill", "--signal", "SIGKILL"}, ids...) },
			cliRevert: func(ids ...string) []string { return append([]string{"start"}, ids...) },
			settled:   exitedState},
		{name: "stop", params: faults.Params{"grace": 10 * time.Second},
			cliInject: func(ids ...string) []string { return append([]string{"stop", "--time", "10"}, ids...) },
			cliRevert: func(ids ...string) []string { return append([]string{"start"}, ids...) },
			settled:   exitedState},
		{name: "pause", params: nil,
			cliInject: func(ids ...string) []string { return append([]string{"pause"}, ids...) },
			cliRevert: func(ids ...string) []string { return append([]string{"unpause"}, ids...) },
			settled:   pausedState},
		{name: "restart", params: faults.Params{"timeout": 10 * time.Second},
			cliInject: func(ids ...string) []string { return append([]string{"restart", "--time", "10"}, ids...) },
			settled:   runningState},
		{name: "resources", params: faults.Params{"cpus": 0.5, "memory": int64(64 << 20)},
			// The same updates faultline sends: the CLI cannot express "no limit" either.
			cliInject: func(ids ...string) []string {
				return append([]string{"update", "--cpu-period", "100000", "--cpu-quota", "50000", "--memory", "64m", "--memory-swap", "64m"}, ids...)
			},
			cliRevert: func(ids ...string) []string {
				big := strconv.FormatInt(9223372036854771712, 10)
				return append([]string{"update", "--cpu-period", "100000", "--cpu-quota", "-1", "--memory", big, "--memory-swap", big}, ids...)
			},
			settled: runningState},
	}
	for _, n := range sizes {
		var targets []faults.Target
		for range n {
			c := dockertest.Run(b, cli, dockertest.RunOptions{Name: "bench", Image: img})
			targets = append(targets, faults.Target{ID: c.ID, Name: c.Name})
		}
		for _, t := range targets {
			dockertest.Wait(b, cli, t.ID, "running", dockertest.Running)
		}
		for _, k := range kinds {
			b.Run(fmt.Sprintf("%s/n=%d/faultline", k.name, n), func(b *testing.B) {
				benchFaultline(b, cli, k, targets)
			})
			b.Run(fmt.Sprintf("%s/n=%d/docker-cli", k.name, n), func(b *testing.B) {
				benchCLI(b, cli, k, targets, false)
			})
			b.Run(fmt.Sprintf("%s/n=%d/docker-cli-all", k.name, n), func(b *testing.B) {
				benchCLI(b, cli, k, targets, true)
			})
		}
	}
}

func benchFaultline(b *testing.B, cli *client.Client, k kind, targets []faults.Target) {
	ctx := context.Background()
	f, err := container.New(cli, k.name, k.params)
	if err != nil {
		b.Fatal(err)
	}
	var inject, apply, revert time.Duration
	for b.Loop() {
		start := time.Now()
		actions := make([]faults.Action, len(targets))
		errs := make([]error, len(targets))
		sem := make(chan struct{}, container.DefaultParallelism)
		done := make(chan struct{})
		for i, t := range targets {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; done <- struct{}{} }()
				actions[i], errs[i] = f.Prepare(ctx, t)
			}()
		}
		for range targets {
			<-done
		}
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		applyStart := time.Now()
		for _, err := range container.ApplyAll(ctx, actions, container.DefaultParallelism) {
			if err != nil {
				b.Fatal(err)
			}
		}
		inject += time.Since(start)
		apply += time.Since(applyStart)
		waitAll(b, cli, targets, k.settled)

		start = time.Now()
		for _, err := range container.RevertAll(ctx, actions, container.DefaultParallelism) {
			if err != nil {
				b.Fatal(err)
			}
		}
		revert += time.Since(start)
		waitAll(b, cli, targets, runningState)
	}
	report(b, inject, revert)
	// Apply alone: the part after Prepare, whose inspections a run does before it
	// journals, ahead of the injection time.
	b.ReportMetric(float64(apply.Microseconds())/1000/float64(b.N), "apply-ms")
}

// benchCLI runs the docker CLI once per container, or with all given one call.
func benchCLI(b *testing.B, cli *client.Client, k kind, targets []faults.Target, all bool) {
	var ids []string
	for _, t := range targets {
		ids = append(ids, t.ID)
	}
	each := func(args func(ids ...string) []string) {
		if all {
			docker(b, args(ids...))
			return
		}
		for _, id := range ids {
			docker(b, args(id))
		}
	}
	var inject, revert time.Duration
	for b.Loop() {
		start := time.Now()
		each(k.cliInject)
		inject += time.Since(start)
		waitAll(b, cli, targets, k.settled)

		start = time.Now()
		if k.cliRevert != nil {
			each(k.cliRevert)
		}
		revert += time.Since(start)
		waitAll(b, cli, targets, runningState)
	}
	report(b, inject, revert)
}

func docker(b *testing.B, args []string) {
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		b.Fatalf("docker %v: %v\n%s", args, err, out)
	}
}

func report(b *testing.B, inject, revert time.Duration) {
	n := float64(b.N)
	b.ReportMetric(float64(inject.Microseconds())/1000/n, "inject-ms")
	b.ReportMetric(float64(revert.Microseconds())/1000/n, "revert-ms")
}
