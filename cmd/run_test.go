package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testreal"
	"github.com/faultline/faultline/internal/waitfor"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/experiments/journal"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/internal/dockertest"
	"github.com/faultline/faultline/result"
	"github.com/moby/moby/client"
)

func TestRunFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args     []string
		wantCode int
		check    func(*runOptions) bool
	}{
		{[]string{"run", "x.hcl"}, 0, func(o *runOptions) bool {
			return o.File == "x.hcl" && strings.Join(o.Formats, ",") == "html,text" && o.LogFormat == "text" && !o.DryRun
		}},
		{[]string{"run", "--dry-run", "--seed", "7", "--max-targets", "2", "--format", "md,junit", "--out", "o", "--state-dir", "s", "--log-format", "json", "--var", "a=b", "x.hcl"}, 0,
			func(o *runOptions) bool {
				return o.DryRun && o.Targets.Seed == 7 && o.Targets.MaxTargets == 2 && strings.Join(o.Formats, ",") == "md,junit" &&
					o.Out == "o" && o.StateDir == "s" && o.LogFormat == "json" && len(o.Flags.Vars) == 1
			}},
		{[]string{"run"}, result.ExitInvalid, nil},
		{[]string{"run", "--bogus", "x.hcl"}, result.ExitInvalid, nil},
	}
	for _, tc := range tests {
		var got *runOptions
		env := &Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }, Context: context.Background()}
		root := NewRootCmd(env)
		for _, c := range root.Commands() {
			if c.Name() == "run" {
				root.RemoveCommand(c)
			}
		}
		root.AddCommand(newRunCmd(env, func(o *runOptions) error { got = o; return nil }))
		root.SetArgs(tc.args)
		code := codeOf(root.Execute(), false) // flag and argument errors come before a command starts
		if code != tc.wantCode {
			t.Errorf("%v: exit %d, want %d", tc.args, code, tc.wantCode)
			continue
		}
		if tc.check != nil && (got == nil || !tc.check(got)) {
			t.Errorf("%v: options %+v", tc.args, got)
		}
	}
}

func TestRunRejectsBadOptionsBeforeAnything(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--format", "pdf", "../examples/killed-replica.hcl"}, "--format"},
		{[]string{"run", "--log-format", "xml", "../examples/killed-replica.hcl"}, "--log-format"},
		{[]string{"run", "--max-targets", "-1", "../examples/killed-replica.hcl"}, "--max-targets"},
		{[]string{"run", "../experiments/testdata/errors/checks.hcl"}, ""},
	}
	for _, tc := range tests {
		code, _, stderr := memRun(t, tc.args...)
		if code != result.ExitInvalid || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestRefuseJournaledTargets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	scan := func() []journal.RunState {
		t.Helper()
		st, err := journal.Scan(dir)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// A claim alone (a run still in preflight or waiting for its first fault) refuses.
	claimer, err := journal.Create(dir, "claiming-run", "claimer", faults.TargetRef{ID: "c3", Name: "shop-db-1"})
	if err != nil {
		t.Fatal(err)
	}
	err = refuseJournaledTargets(scan(), "ours", planWithTargets("c3"))
	if err == nil || !strings.Contains(err.Error(), `experiment "claimer", run claiming-run, pid `) || !strings.Contains(err.Error(), "live") {
		t.Fatalf("live claim on our target: %v, want a refusal naming experiment, run and pid", err)
	}
	if err := refuseJournaledTargets(scan(), "claiming-run", planWithTargets("c3")); err != nil {
		t.Fatalf("our own claim: %v, want no refusal", err)
	}
	claimer.Close()
	waitUnlocked(t, dir)

	j, err := journal.Create(dir, "old-run", "old")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(faults.Record{Kind: "pause", Fault: "freeze", Target: faults.TargetRef{ID: "c1", Name: "shop-backend-1"}}); err != nil {
		t.Fatal(err)
	}
	p := planWithTargets("c1")
	// Live: the other run is still going.
	if err := refuseJournaledTargets(scan(), "ours", p); err == nil || !strings.Contains(err.Error(), "live") {
		t.Fatalf("live journal on our target: %v, want a refusal naming the live run", err)
	}
	if err := refuseJournaledTargets(scan(), "ours", planWithTargets("c2")); err != nil {
		t.Fatalf("journal on another container: %v, want no refusal", err)
	}
	j.Close() // leaves the entry: a dead run
	waitUnlocked(t, dir)
	err = refuseJournaledTargets(scan(), "ours", p)
	if err == nil || !strings.Contains(err.Error(), "faultline recover") || !strings.Contains(err.Error(), "c1 claimed") || !strings.Contains(err.Error(), "dead") {
		t.Fatalf("dead journal on our target: %v, want a refusal saying to run faultline recover", err)
	}
	if lead := unrecoveredLead(scan()); !strings.HasPrefix(lead, "1 fault(s) of dead runs were never reverted") || !strings.Contains(lead, "faultline recover") {
		t.Fatalf("lead for an unresolvable target: %q, want the dead run's fault and the recover command", lead)
	}
}

// faultlineBinary builds faultline once per test process.
var faultlineBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "faultline-test-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "faultline")
	cmd := exec.Command("go", "build", "-o", bin, "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func buildFaultline(t *testing.T) string {
	t.Helper()
	bin, err := faultlineBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// crashExperiment pauses one container and kills another (restore = true), both for
// long enough that the test acts in the middle.
// crashExperiment pauses one container and kills another for two minutes; with a
// third (shaped, "" for none) it also caps that one's bandwidth and blackholes a
// network from it.
func crashExperiment(t *testing.T, paused, killed, shaped string) string {
	t.Helper()
	src := fmt.Sprintf(`
experiment "crash-test" {
  baseline = "1s"
  recovery = "1s"
  step     = "1s"
}

target "frozen" {
  name = "^%s$"
}

target "dead" {
  name = "^%s$"
}

fault "pause" "freeze" {
  target   = target.frozen
  duration = "2m"
}

fault "kill" "crash" {
  target   = target.dead
  duration = "2m"
  restore  = true
}
`, paused, killed)
	if shaped != "" {
		src += fmt.Sprintf(`
target "shaped" {
  name = "^%s$"
}

fault "bandwidth" "thin" {
  target   = target.shaped
  duration = "2m"
  rate     = "1mbit"
}

fault "partition" "cut" {
  target   = target.shaped
  duration = "2m"
  to       = ["10.123.0.0/16"]
}
`, shaped)
	}
	path := filepath.Join(t.TempDir(), "crash.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startRun starts `faultline run` and returns it with its combined output so far.
func startRun(t *testing.T, bin string, args ...string) (*exec.Cmd, *syncBuf) {
	t.Helper()
	return startRunEnv(t, bin, nil, args...)
}

// startRunEnv is startRun with more environment variables (NAME=value).
func startRunEnv(t *testing.T, bin string, env []string, args ...string) (*exec.Cmd, *syncBuf) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	out := &syncBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGINT) // let it revert
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
			}
		}
	})
	return cmd, out
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func TestKilledRunIsRecovered(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	bin := buildFaultline(t)
	fx := newCrashFixture(t, cli, "crash")
	a, b, exp, nFaults := fx.paused, fx.killed, fx.exp, fx.faults
	state := t.TempDir()

	run, out := startRun(t, bin, "run", "--state-dir", state, "--out", t.TempDir(), exp)
	dockertest.Wait(t, cli, a.ID, "paused by the run", dockertest.Paused)
	dockertest.Wait(t, cli, b.ID, "killed by the run", dockertest.NotRunning)
	if fx.shaped != "" {
		waitFor(t, func() bool {
			now := netState(t, fx.shapedPID)
			return strings.Contains(now, "blackhole 10.123.0.0/16") && strings.Contains(now, "root tbf")
		}, "bandwidth cap and partition in place", out)
	}
	waitFor(t, func() bool { return strings.Count(out.String(), "msg=injected") == nFaults }, "every injection logged", out)
	// The watchdog goes too (stopped first, so that it cannot react to the run's
	// death): recover is what is left when both are gone.
	wd := watchdogOf(t, state, out)
	if err := syscall.Kill(wd, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := run.Process.Kill(); err != nil { // SIGKILL: no revert can run
		t.Fatal(err)
	}
	run.Wait()
	syscall.Kill(wd, syscall.SIGKILL)
	waitFor(t, func() bool { return processGone(wd) }, "the killed watchdog to go", out)
	if !dockertest.Paused(dockertest.Inspect(t, cli, a.ID)) {
		t.Fatalf("the container was unpaused without recover: the test proves nothing\n%s", out)
	}

	// A new run on the same targets refuses and says what to do.
	again := exec.Command(bin, "run", "--state-dir", state, "--out", t.TempDir(), exp)
	refusal, err := again.CombinedOutput()
	if code := exitCode(t, err); code != result.ExitPreflight || !strings.Contains(string(refusal), "faultline recover") {
		t.Fatalf("run over an unrecovered journal: exit %d\n%s\nwant 5 naming faultline recover", code, refusal)
	}
	if i := strings.Index(string(refusal), "allow_empty"); i >= 0 && i < strings.Index(string(refusal), "faultline recover") {
		t.Fatalf("the pointer to faultline recover comes after the empty selection:\n%s", refusal)
	}

	rec := exec.Command(bin, "recover", "--state-dir", state)
	recOut, err := rec.CombinedOutput()
	if code := exitCode(t, err); code != 0 {
		t.Fatalf("recover: exit %d\n%s", code, recOut)
	}
	if strings.Count(string(recOut), "reverted") < nFaults {
		t.Fatalf("recover did not report all %d reverts:\n%s", nFaults, recOut)
	}
	fx.networkRestored(t, "after recover")
	if in := dockertest.Inspect(t, cli, a.ID); !dockertest.Running(in) || dockertest.Paused(in) {
		t.Fatalf("%s not running unpaused after recover", a.Name)
	}
	if !dockertest.Running(dockertest.Inspect(t, cli, b.ID)) {
		t.Fatalf("%s not running after recover", b.Name)
	}
	if left, err := journal.Scan(state); err != nil || len(left) != 0 {
		t.Fatalf("journals left after recover: %+v, %v", left, err)
	}
	recOut, err = exec.Command(bin, "recover", "--state-dir", state).CombinedOutput()
	if code := exitCode(t, err); code != 0 || !strings.Contains(string(recOut), "nothing to recover") {
		t.Fatalf("second recover: exit %d\n%s", code, recOut)
	}
}

func TestInterruptedRunRevertsAndReports(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	bin := buildFaultline(t)
	fx := newCrashFixture(t, cli, "sigint")
	a, b, exp, nFaults := fx.paused, fx.killed, fx.exp, fx.faults
	state, outDir := t.TempDir(), t.TempDir()

	run, out := startRun(t, bin, "run", "--state-dir", state, "--out", outDir, "--format", "html", exp)
	dockertest.Wait(t, cli, a.ID, "paused by the run", dockertest.Paused)
	dockertest.Wait(t, cli, b.ID, "killed by the run", dockertest.NotRunning)
	// Wait until both injections are acknowledged, so the interrupt hits mid-fault.
	waitFor(t, func() bool { return strings.Count(out.String(), "msg=injected") == nFaults }, "every injection logged", out)
	if err := run.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// The first interrupt still observes the recovery (1s here); the run ends by itself.
	err := run.Wait()
	if code := exitCode(t, err); code != result.ExitAborted {
		t.Fatalf("exit %d after SIGINT, want 3\n%s", code, out)
	}
	if in := dockertest.Inspect(t, cli, a.ID); !dockertest.Running(in) || dockertest.Paused(in) {
		t.Fatalf("%s still paused after the interrupt\n%s", a.Name, out)
	}
	if !dockertest.Running(dockertest.Inspect(t, cli, b.ID)) {
		t.Fatalf("%s not restarted after the interrupt\n%s", b.Name, out)
	}
	res, err := result.ReadFile(filepath.Join(outDir, "result.json"))
	if err != nil {
		t.Fatalf("no result written: %v\n%s", err, out)
	}
	fx.networkRestored(t, "after the interrupt")
	if res.Status != result.StatusInterrupted || res.ExitCode != result.ExitAborted || len(res.Events) != 2*nFaults {
		b, _ := json.MarshalIndent(res.Events, "", " ")
		t.Fatalf("result: status %s exit %d, events %s", res.Status, res.ExitCode, b)
	}
	if _, err := os.Stat(filepath.Join(outDir, "result.html")); err != nil {
		t.Fatalf("html report: %v", err)
	}
	if left, _ := journal.Scan(state); len(left) != 0 {
		t.Fatalf("journal left after an interrupted run: %+v", left)
	}
}

// waitFor polls cond until it holds or 60s pass.
func waitFor(t *testing.T, cond func() bool, what string, out fmt.Stringer) {
	t.Helper()
	waitfor.Condition(t, 60*time.Second, what, cond, out)
}

func planWithTargets(ids ...string) *experiments.Plan {
	p := experiments.NewPlan(&experiments.Experiment{Name: "x"})
	var ts []faults.Target
	for _, id := range ids {
		ts = append(ts, faults.Target{ID: id, Name: id})
	}
	p.Targets = map[string][]faults.Target{"t": ts}
	return p
}

// crashFixture is what the crash and interrupt tests run on: a container to pause, one
// to kill and, when this process may shape networks, one to cap and partition.
type crashFixture struct {
	paused, killed dockertest.Container
	shaped         string // "" when network faults are left out
	shapedPID      int
	netBefore      string
	exp            string // the experiment file
	faults         int    // fault blocks in it
}

func newCrashFixture(t *testing.T, cli *client.Client, prefix string) *crashFixture {
	t.Helper()
	img := dockertest.Image(t, cli, dockertest.Sleeper)
	fx := &crashFixture{faults: 2}
	fx.paused = dockertest.Run(t, cli, dockertest.RunOptions{Name: prefix + "-paused", Image: img})
	fx.killed = dockertest.Run(t, cli, dockertest.RunOptions{Name: prefix + "-killed", Image: img})
	dockertest.WaitLog(t, cli, fx.paused.ID, "ready")
	dockertest.WaitLog(t, cli, fx.killed.ID, "ready")
	if canShapeNetworks() {
		c := dockertest.Run(t, cli, dockertest.RunOptions{Name: prefix + "-shaped", Image: img})
		dockertest.WaitLog(t, cli, c.ID, "ready")
		in := dockertest.Wait(t, cli, c.ID, "running", dockertest.Running)
		fx.shaped, fx.shapedPID, fx.netBefore = c.Name, in.State.Pid, netState(t, in.State.Pid)
		if strings.Contains(fx.netBefore, "blackhole") || strings.Contains(fx.netBefore, "tbf") {
			t.Fatalf("a new container's network already holds what the faults add: %s", fx.netBefore)
		}
		fx.faults = 4
	} else if testreal.Required() {
		t.Fatal("FAULTLINE_REQUIRE_REAL=1 but not root: the network half of this test cannot run")
	} else {
		t.Log("not root: the network faults are left out of this test")
	}
	fx.exp = crashExperiment(t, fx.paused.Name, fx.killed.Name, fx.shaped)
	return fx
}

// networkRestored fails unless the shaped container's network is as before the run.
func (fx *crashFixture) networkRestored(t *testing.T, when string) {
	t.Helper()
	if fx.shaped == "" {
		return
	}
	if now := netState(t, fx.shapedPID); now != fx.netBefore {
		t.Fatalf("network of %s %s: %q, want what it was before the run: %q", fx.shaped, when, now, fx.netBefore)
	}
}
