package runner

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/waitfor"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/experiments/journal"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/faults/container"
	"github.com/faultline/faultline/internal/dockertest"
	"github.com/faultline/faultline/internal/promtest"
	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/result"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The tests in this file run the runner for real: real containers on the real Docker
// Engine, the real container faults, the real journal.

// targetOf describes a test container as target resolution would.
func targetOf(t *testing.T, cli *client.Client, c dockertest.Container, group string) faults.Target {
	t.Helper()
	in := dockertest.Inspect(t, cli, c.ID)
	return faults.Target{ID: in.ID, Name: c.Name, State: string(in.State.Status), PID: in.State.Pid, Group: group}
}

func dockerPlan(targets map[string][]faults.Target, specs ...*experiments.FaultSpec) *experiments.Plan {
	e := &experiments.Experiment{Name: "docker", Baseline: time.Second, Recovery: time.Second, Step: time.Second, Faults: specs}
	p := experiments.NewPlan(e)
	p.Targets = targets
	return p
}

func containerFaults(cli container.Client) FaultFactory {
	return func(spec *experiments.FaultSpec) (faults.Fault, error) {
		return container.New(cli, spec.Kind, spec.Params)
	}
}

func TestRealPauseAndKillAreRevertedOnTime(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli, dockertest.Sleeper)
	a := dockertest.Run(t, cli, dockertest.RunOptions{Name: "runner-pause", Image: img})
	b := dockertest.Run(t, cli, dockertest.RunOptions{Name: "runner-kill", Image: img})
	dockertest.WaitLog(t, cli, a.ID, "ready")
	dockertest.WaitLog(t, cli, b.ID, "ready")

	// The four actions are planned 1.5 s apart; each must be sent within 1 s of its own
	// planned time, so none can pass for another's even on a loaded machine. The 2 s
	// baseline leaves the first fault its whole PrepareLead for the engine's inspect.
	const apart, lateBound = 1500 * time.Millisecond, time.Second
	pause := &experiments.FaultSpec{Kind: "pause", Name: "freeze", Target: "a", Start: 0, Duration: 2 * apart, Params: faults.Params{}}
	kill := &experiments.FaultSpec{Kind: "kill", Name: "crash", Target: "b", Start: apart, Duration: 2 * apart,
		Params: faults.Params{"signal": "SIGKILL", "restore": true}}
	plan := experiments.NewPlan(&experiments.Experiment{Name: "docker", Baseline: PrepareLead, Recovery: time.Second, Step: time.Second, Faults: []*experiments.FaultSpec{pause, kill}})
	plan.Targets = map[string][]faults.Target{"a": {targetOf(t, cli, a, "a")}, "b": {targetOf(t, cli, b, "b")}}

	dir := t.TempDir()
	j, err := journal.Create(dir, "docker-run", "docker")
	if err != nil {
		t.Fatal(err)
	}
	// While each fault holds, see it for real on the engine.
	var mu sync.Mutex
	seen := map[string]bool{}
	progress := func(u Update) {
		if u.Event == nil || u.Event.Type != result.EventInject || u.Event.Error != "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// A kill is acknowledged when the process is dead, which the engine may
		// record a moment later: give it until well before the revert.
		var in client.ContainerInspectResult
		var inspectErr error
		waitfor.Poll(time.Second, func() bool {
			in, inspectErr = cli.ContainerInspect(ctx, u.Event.Target.ID, client.ContainerInspectOptions{})
			return inspectErr != nil || u.Event.Kind != "kill" || !in.Container.State.Running
		})
		if inspectErr != nil {
			t.Errorf("inspect %s: %v", u.Event.Target.Name, inspectErr)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		seen["paused "+u.Event.Target.Name] = in.Container.State.Paused
		seen["running "+u.Event.Target.Name] = in.Container.State.Running
	}
	res, err := Run(context.Background(), Config{Plan: plan, Faults: containerFaults(cli), Journal: j, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("journal after a clean run: %v", err)
	}
	if !seen["paused "+a.Name] || seen["running "+b.Name] {
		t.Fatalf("during the faults: %v; want %s paused and %s not running", seen, a.Name, b.Name)
	}
	if !dockertest.Running(dockertest.Inspect(t, cli, a.ID)) || dockertest.Paused(dockertest.Inspect(t, cli, a.ID)) {
		t.Fatalf("%s not running unpaused after the run", a.Name)
	}
	dockertest.Wait(t, cli, b.ID, "running again after the kill's revert", dockertest.Running)
	if res.ExitCode != 0 || len(res.Events) != 4 {
		t.Fatalf("exit %d (%s), %d events; want 0 and 4", res.ExitCode, res.Reason, len(res.Events))
	}
	for _, ev := range res.Events {
		// Correctness, not performance: each action happened at its own planned time,
		// never early, and not at another one's.
		if ev.Started == nil || ev.Error != "" || ev.Actual.Before(*ev.Started) {
			t.Errorf("%s %s on %s: error %q, started %v, acknowledged %s", ev.Type, ev.Fault, ev.Target.Name, ev.Error, ev.Started, ev.Actual)
			continue
		}
		if late := ev.Started.Sub(ev.Planned); late < 0 || late > lateBound {
			t.Errorf("%s %s on %s: sent %s after plan, want within %s (actions are %s apart)", ev.Type, ev.Fault, ev.Target.Name, late, lateBound, apart)
		}
	}
	if left, _ := journal.Scan(dir); len(left) != 0 {
		t.Fatalf("journal left after a clean run: %+v", left)
	}
}

func TestRealTargetRemovedMidFaultIsAWarning(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli, dockertest.Sleeper)
	c := dockertest.Run(t, cli, dockertest.RunOptions{Name: "runner-vanish", Image: img})
	dockertest.WaitLog(t, cli, c.ID, "ready")
	pause := &experiments.FaultSpec{Kind: "pause", Name: "freeze", Target: "a", Start: 0, Duration: 2 * time.Second, Params: faults.Params{}}
	plan := dockerPlan(map[string][]faults.Target{"a": {targetOf(t, cli, c, "a")}}, pause)
	j, err := journal.Create(t.TempDir(), "vanish", "docker")
	if err != nil {
		t.Fatal(err)
	}
	progress := func(u Update) {
		if u.Event != nil && u.Event.Type == result.EventInject {
			dockertest.Remove(t, cli, c.ID) // the target disappears while paused
		}
	}
	res, err := Run(context.Background(), Config{Plan: plan, Faults: containerFaults(cli), Journal: j, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("a vanished target left its journal entry: %v", err)
	}
	if res.ExitCode != 0 || len(res.Warnings) == 0 || !hasGoneEvent(res) {
		t.Fatalf("exit %d, warnings %v, events %+v; want 0 with a target-gone warning", res.ExitCode, res.Warnings, res.Events)
	}
}

// failingUnpause is the real client with an engine that refuses to unpause.
type failingUnpause struct {
	*client.Client
	mu    sync.Mutex
	calls int
}

func (f *failingUnpause) ContainerUnpause(ctx context.Context, id string, opts client.ContainerUnpauseOptions) (client.ContainerUnpauseResult, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	return client.ContainerUnpauseResult{}, fmt.Errorf("engine error: unpause refused (injected by the test): %w", cerrdefs.ErrUnavailable)
}

func TestRealRevertFailureKeepsTheJournalForRecover(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli, dockertest.Sleeper)
	c := dockertest.Run(t, cli, dockertest.RunOptions{Name: "runner-stuck", Image: img})
	dockertest.WaitLog(t, cli, c.ID, "ready")
	pause := &experiments.FaultSpec{Kind: "pause", Name: "freeze", Target: "a", Start: 0, Duration: time.Second, Params: faults.Params{}}
	plan := dockerPlan(map[string][]faults.Target{"a": {targetOf(t, cli, c, "a")}}, pause)
	dir := t.TempDir()
	j, err := journal.Create(dir, "stuck", "docker")
	if err != nil {
		t.Fatal(err)
	}
	broken := &failingUnpause{Client: cli}
	res, err := Run(context.Background(), Config{Plan: plan, Faults: containerFaults(broken), Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err == nil {
		t.Fatal("journal closed clean although the revert failed")
	}
	// The action retries from one budget (the first call and 8 retries for container
	// faults); the runner adds no retries on top (it used to: 3 times the budget).
	if res.ExitCode != 4 || res.Status != result.StatusError || broken.calls < 2 || broken.calls > 9 {
		t.Fatalf("exit %d status %s after %d unpause calls; want 4, error, and 2 to 9 calls (one retry budget)", res.ExitCode, res.Status, broken.calls)
	}
	if !dockertest.Paused(dockertest.Inspect(t, cli, c.ID)) {
		t.Fatal("container not paused although every unpause failed: the test proves nothing")
	}
	// What `faultline recover` does: revive from the journal with a working engine.
	dead, err := journal.Pending(dir)
	if err != nil || len(dead) != 1 || len(dead[0].Pending) != 1 {
		t.Fatalf("Pending = %+v, %v", dead, err)
	}
	rec, err := journal.Claim(dead[0].Path, journal.ByRecover)
	if err != nil {
		t.Fatal(err)
	}
	action, err := container.NewReviver(cli).Revive(dead[0].Pending[0].Record)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), faults.RevertTimeout)
	defer cancel()
	if err := action.Revert(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rec.Complete(dead[0].Pending[0].ID, "recovered"); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if dockertest.Paused(dockertest.Inspect(t, cli, c.ID)) {
		t.Fatal("still paused after recovery")
	}
}

// TestRealPrometheusLostMidFault stops a real Prometheus while a real container is
// paused: the run aborts, and the container is unpaused.
func TestRealPrometheusLostMidFault(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli, dockertest.Sleeper)
	c := dockertest.Run(t, cli, dockertest.RunOptions{Name: "runner-blind", Image: img})
	dockertest.WaitLog(t, cli, c.ID, "ready")

	exporter := httptest.NewServer(promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{}))
	t.Cleanup(exporter.Close)
	prom := promtest.Start(t, promtest.Options{Targets: []string{strings.TrimPrefix(exporter.URL, "http://")}, ScrapeInterval: time.Second})
	prom.WaitForSamples(t, "up", 30*time.Second)

	pause := &experiments.FaultSpec{Kind: "pause", Name: "freeze", Target: "a", Start: 0, Duration: 5 * time.Minute, Params: faults.Params{}}
	plan := dockerPlan(map[string][]faults.Target{"a": {targetOf(t, cli, c, "a")}}, pause)
	e := plan.Experiment
	e.Prometheus = &experiments.Prometheus{URL: prom.URL, Timeout: time.Second, LossGrace: 2 * time.Second}
	e.Metrics = []*experiments.Metric{{Name: "up", Query: "up"}}
	promClient, err := metrics.NewClient(ClientConfig(e.Prometheus), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.Create(t.TempDir(), "blind", "docker")
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	progress := func(u Update) {
		if u.Event != nil && u.Event.Type == result.EventInject {
			once.Do(func() { go prom.Stop() }) // Prometheus goes away mid-fault
		}
	}
	res, err := Run(context.Background(), Config{Plan: plan, Faults: containerFaults(cli), Journal: j, Progress: progress,
		Sampler: metrics.NewSampler(promClient.Query, Queries(e)), RangeQuery: promClient.RangeQuery})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if res.Status != result.StatusAborted || res.ExitCode != 3 || !strings.Contains(res.Reason, lostPrefix) {
		t.Fatalf("status %s exit %d reason %q; want aborted, 3, observation lost", res.Status, res.ExitCode, res.Reason)
	}
	if in := dockertest.Inspect(t, cli, c.ID); dockertest.Paused(in) {
		t.Fatal("container still paused after observation was lost")
	}
	if d := res.EndedAt.Sub(res.StartedAt); d > time.Minute {
		t.Fatalf("run lasted %s: the 5-minute fault was not cut short", d)
	}
}

// TestRealBackToBackKillThenPause: a pause planned for the instant a kill with restore
// ends finds the container running again (the kill's revert started it), not exited.
func TestRealBackToBackKillThenPause(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli, dockertest.Sleeper)
	c := dockertest.Run(t, cli, dockertest.RunOptions{Name: "runner-back-to-back", Image: img})
	dockertest.WaitLog(t, cli, c.ID, "ready")
	kill := &experiments.FaultSpec{Kind: "kill", Name: "crash", Target: "a", Duration: time.Second,
		Params: faults.Params{"signal": "SIGKILL", "restore": true}}
	pause := &experiments.FaultSpec{Kind: "pause", Name: "freeze", Target: "a", Start: time.Second, Duration: time.Second, Params: faults.Params{}}
	plan := dockerPlan(map[string][]faults.Target{"a": {targetOf(t, cli, c, "a")}}, kill, pause)
	j, err := journal.Create(t.TempDir(), "back-to-back", "docker")
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	res, err := Run(context.Background(), Config{Plan: plan, Faults: containerFaults(cli), Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || len(res.Events) != 4 {
		t.Fatalf("exit %d (%s), %d events; want 0 and 4: the pause must find the container started again", res.ExitCode, res.Reason, len(res.Events))
	}
	for _, ev := range res.Events {
		if ev.Error != "" {
			t.Errorf("%s %s: %s", ev.Type, ev.Fault, ev.Error)
		}
	}
	if in := dockertest.Inspect(t, cli, c.ID); !dockertest.Running(in) || dockertest.Paused(in) {
		t.Fatal("not running unpaused after the run")
	}
}
