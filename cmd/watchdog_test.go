package cmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/waitfor"

	"github.com/faultline/faultline/experiments/journal"
	"github.com/faultline/faultline/experiments/watchdog"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/internal/dockertest"
	"github.com/faultline/faultline/result"
	"github.com/moby/moby/client"
)

// testLease is the lease the watchdog tests run with: short, so they are quick, and
// still four renewals long.
const testLease = 2 * time.Second

// watchdogOf waits until the run's journal names its watchdog and returns its pid.
func watchdogOf(t *testing.T, state string, out fmt.Stringer) int {
	t.Helper()
	pid := 0
	waitFor(t, func() bool {
		states, _ := journal.Scan(state)
		for _, st := range states {
			if st.Watchdog != 0 {
				pid = st.Watchdog
				return true
			}
		}
		return false
	}, "the run's watchdog in its journal", out)
	return pid
}

// waitUnlocked waits until no journal in dir is locked. A journal closed in this test
// process may stay locked for a moment: a child that another test forks at that
// instant holds a copy of its descriptor until it execs.
func waitUnlocked(t *testing.T, dir string) {
	t.Helper()
	waitFor(t, func() bool {
		states, _ := journal.Scan(dir)
		for _, st := range states {
			if st.Live {
				return false
			}
		}
		return true
	}, "the closed journals to be unlocked", &bytes.Buffer{})
}

// processGone reports whether pid has exited (or is a zombie waiting to be reaped).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] == "Z"
}

// sessionOf reads the session id of pid from /proc.
func sessionOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	sid, _ := strconv.Atoi(fields[3]) // state ppid pgrp session
	return sid
}

// restored reports whether every fault of the fixture is undone: the paused container
// runs unpaused, the killed one runs again, the shaped one's network is as before.
func (fx *crashFixture) restored(t *testing.T, cli *client.Client) bool {
	t.Helper()
	a := dockertest.Inspect(t, cli, fx.paused.ID)
	b := dockertest.Inspect(t, cli, fx.killed.ID)
	if !dockertest.Running(a) || dockertest.Paused(a) || !dockertest.Running(b) {
		return false
	}
	return fx.shaped == "" || netState(t, fx.shapedPID) == fx.netBefore
}

// startFaulted starts a run of the fixture with the test lease and waits until every
// fault is in place; it returns the run, its output and its watchdog's pid.
func startFaulted(t *testing.T, cli *client.Client, bin string, fx *crashFixture, state string) (*exec.Cmd, *syncBuf, int) {
	t.Helper()
	run, out := startRun(t, bin, "run", "--state-dir", state, "--out", t.TempDir(), "--lease", testLease.String(), fx.exp)
	dockertest.Wait(t, cli, fx.paused.ID, "paused by the run", dockertest.Paused)
	dockertest.Wait(t, cli, fx.killed.ID, "killed by the run", dockertest.NotRunning)
	if fx.shaped != "" {
		waitFor(t, func() bool {
			now := netState(t, fx.shapedPID)
			return strings.Contains(now, "blackhole 10.123.0.0/16") && strings.Contains(now, "root tbf")
		}, "bandwidth cap and partition in place", out)
	}
	waitFor(t, func() bool { return strings.Count(out.String(), "msg=injected") == fx.faults }, "every injection logged", out)
	wd := watchdogOf(t, state, out)
	if processGone(wd) {
		t.Fatalf("watchdog %d is not running\n%s", wd, out)
	}
	if sid := sessionOf(t, wd); sid != wd {
		t.Fatalf("watchdog %d is in session %d, want its own (setsid)", wd, sid)
	}
	return run, out, wd
}

// waitRestored waits until the fixture is restored and returns how long after since
// that took. The goal is the lease plus a second (the figures are logged); the test
// fails only past the lease plus five, so that a loaded 2-core machine starting the
// killed container again (0.5 to 1.2 s idle) does not trip it, while a watchdog that
// waits for anything but the lease still does.
func waitRestored(t *testing.T, cli *client.Client, fx *crashFixture, since time.Time, out fmt.Stringer) time.Duration {
	t.Helper()
	bound := testLease + 5*time.Second
	var unpaused time.Duration
	waitfor.Condition(t, bound+30*time.Second, "the fixture to be restored after the run stopped", func() bool {
		if unpaused == 0 && !dockertest.Paused(dockertest.Inspect(t, cli, fx.paused.ID)) {
			unpaused = time.Since(since)
		}
		return fx.restored(t, cli)
	}, out)
	took := time.Since(since)
	if unpaused == 0 {
		unpaused = took
	}
	t.Logf("paused container running again %s after the run stopped", unpaused)
	if took > bound {
		t.Errorf("restored %s after the run stopped, want within %s", took, bound)
	}
	return took
}

// nextRunAndRecoverReport checks that the next run and then recover say what the
// watchdog of runID reverted, and that nothing is left for a second recover.
func nextRunAndRecoverReport(t *testing.T, bin, state string, wd, faults int) {
	t.Helper()
	// The next run prints the report before anything else; its target selects nothing,
	// so it stops there (exit 2).
	next := filepath.Join(t.TempDir(), "next.hcl")
	os.WriteFile(next, []byte(`
experiment "next" {
  baseline = "1s"
  recovery = "1s"
  step     = "1s"
}
target "none" {
  name = "^`+dockertest.UniqueName(t, "no-such")+`$"
}
fault "pause" "p" {
  target   = target.none
  duration = "1s"
}
`), 0o600)
	b, err := exec.Command(bin, "run", "--state-dir", state, "--out", t.TempDir(), next).CombinedOutput()
	code := exitCode(t, err)
	want := fmt.Sprintf("the watchdog (pid %d)", wd)
	// In brief: one line of counts (the faults one by one are recover's to show).
	brief := fmt.Sprintf("; %d reverted\n", faults)
	if code != result.ExitInvalid || !strings.Contains(string(b), want) || !strings.Contains(string(b), brief) ||
		strings.Count(string(b), "reverted ") != 0 || !strings.Contains(string(b), "`faultline recover --state-dir "+state+"` shows") {
		t.Fatalf("next run: exit %d\n%s\nwant 2, after the report of %s in brief (%q) and how to see it whole", code, b, want, brief)
	}
	b, err = exec.Command(bin, "recover", "--state-dir", state).CombinedOutput()
	if code := exitCode(t, err); code != 0 || !strings.Contains(string(b), want) || strings.Count(string(b), "reverted ") < faults {
		t.Fatalf("recover: exit %d\n%s\nwant 0 with the report of %s", code, b, want)
	}
	if left, err := journal.Scan(state); err != nil || len(left) != 0 {
		t.Fatalf("journals left after the watchdog: %+v, %v", left, err)
	}
	b, err = exec.Command(bin, "recover", "--state-dir", state).CombinedOutput()
	if code := exitCode(t, err); code != 0 || !strings.Contains(string(b), "nothing to recover") {
		t.Fatalf("second recover: exit %d\n%s, want nothing to recover (the report shown once)", code, b)
	}
}

func TestWatchdogRevertsKilledRun(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	bin := buildFaultline(t)
	fx := newCrashFixture(t, cli, "wd-kill")
	state := t.TempDir()
	run, out, wd := startFaulted(t, cli, bin, fx, state)

	// recover while the run lives leaves it alone and names its watchdog.
	b, err := exec.Command(bin, "recover", "--state-dir", state).CombinedOutput()
	if code := exitCode(t, err); code != 0 || !strings.Contains(string(b), fmt.Sprintf("guarded by its watchdog (pid %d)", wd)) {
		t.Fatalf("recover of a live run: exit %d\n%s", code, b)
	}
	if !dockertest.Paused(dockertest.Inspect(t, cli, fx.paused.ID)) {
		t.Fatal("recover touched a live run's fault")
	}

	killed := time.Now()
	if err := run.Process.Kill(); err != nil { // SIGKILL: the run reverts nothing
		t.Fatal(err)
	}
	took := waitRestored(t, cli, fx, killed, out)
	run.Wait()
	t.Logf("kill -9 to every fault reverted (%d faults): %s", fx.faults, took)
	waitFor(t, func() bool { return processGone(wd) }, "the watchdog to exit after its work", out)
	reps, _ := watchdog.Reports(state)
	if len(reps) != 1 || reps[0].Killed || len(reps[0].Faults) != fx.faults {
		t.Fatalf("watchdog reports %+v, want one of a run that died, with %d faults", reps, fx.faults)
	}
	for _, f := range reps[0].Faults {
		t.Logf("watchdog: %s %s in %.1f ms", f.Note, f.Kind, f.TookMS)
	}
	t.Logf("watchdog: noticed to done %s", reps[0].Done.Sub(reps[0].Noticed))
	nextRunAndRecoverReport(t, bin, state, wd, fx.faults)
}

func TestWatchdogRevertsStoppedRun(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	bin := buildFaultline(t)
	fx := newCrashFixture(t, cli, "wd-stop")
	state := t.TempDir()
	run, out, wd := startFaulted(t, cli, bin, fx, state)
	t.Cleanup(func() { run.Process.Signal(syscall.SIGCONT); run.Process.Kill() })

	stopped := time.Now()
	if err := run.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	took := waitRestored(t, cli, fx, stopped, out)
	t.Logf("SIGSTOP to every fault reverted (%d faults, lease %s): %s", fx.faults, testLease, took)
	// The watchdog killed the stopped run, so that it cannot wake up and harm on.
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	select {
	case err := <-done:
		if ws, ok := run.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("the stopped run ended with %v, want killed by its watchdog", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stopped run is still alive after its watchdog took over")
	}
	waitFor(t, func() bool { return processGone(wd) }, "the watchdog to exit after its work", out)
	reps, _ := watchdog.Reports(state)
	if len(reps) != 1 || !reps[0].Killed || len(reps[0].Faults) != fx.faults {
		t.Fatalf("watchdog reports %+v, want one saying it killed the run and reverted %d faults", reps, fx.faults)
	}
	t.Logf("watchdog: noticed to done %s", reps[0].Done.Sub(reps[0].Noticed))
	nextRunAndRecoverReport(t, bin, state, wd, fx.faults)
}

func TestNormalRunLeavesNoWatchdog(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	bin := buildFaultline(t)
	img := dockertest.Image(t, cli, dockertest.Sleeper)
	c := dockertest.Run(t, cli, dockertest.RunOptions{Name: "wd-normal", Image: img})
	dockertest.WaitLog(t, cli, c.ID, "ready")
	exp := filepath.Join(t.TempDir(), "short.hcl")
	os.WriteFile(exp, []byte(fmt.Sprintf(`
experiment "short" {
  baseline = "1s"
  recovery = "1s"
  step     = "1s"
}
target "one" {
  name = "^%s$"
}
fault "pause" "blink" {
  target   = target.one
  duration = "3s"
}
`, c.Name)), 0o600)
	state := t.TempDir()
	run, out := startRun(t, bin, "run", "--state-dir", state, "--out", t.TempDir(), "--lease", testLease.String(), exp)
	wd := watchdogOf(t, state, out)
	if err := run.Wait(); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if !processGone(wd) {
		t.Fatalf("watchdog %d still there after a normal run\n%s", wd, out)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", wd)); err == nil {
		t.Fatalf("watchdog %d not reaped after a normal run", wd)
	}
	if reps, _ := watchdog.Reports(state); len(reps) != 0 {
		t.Fatalf("a normal run left watchdog reports: %+v", reps)
	}
	if left, _ := journal.Scan(state); len(left) != 0 {
		t.Fatalf("a normal run left journals: %+v", left)
	}
}

func TestSecondRunOnAClaimedContainerIsRefused(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	bin := buildFaultline(t)
	img := dockertest.Image(t, cli, dockertest.Sleeper)
	c := dockertest.Run(t, cli, dockertest.RunOptions{Name: "claimed", Image: img})
	dockertest.WaitLog(t, cli, c.ID, "ready")
	exp := func(name string) string {
		p := filepath.Join(t.TempDir(), name+".hcl")
		// A long baseline: the first run has journaled no fault yet when the second starts.
		os.WriteFile(p, []byte(fmt.Sprintf(`
experiment %q {
  baseline = "30s"
  recovery = "1s"
}
target "one" {
  name = "^%s$"
}
fault "pause" "freeze" {
  target   = target.one
  duration = "5s"
}
`, name, c.Name)), 0o600)
		return p
	}
	state := t.TempDir()
	first, out := startRun(t, bin, "run", "--state-dir", state, "--out", t.TempDir(), exp("first"))
	waitFor(t, func() bool { return strings.Contains(out.String(), "msg=\"run started\"") }, "the first run to start", out)
	b, err := exec.Command(bin, "run", "--state-dir", state, "--out", t.TempDir(), exp("second")).CombinedOutput()
	code := exitCode(t, err)
	if code != result.ExitPreflight || !bytes.Contains(b, []byte(`experiment "first"`)) ||
		!bytes.Contains(b, []byte(fmt.Sprintf("pid %d", first.Process.Pid))) || !bytes.Contains(b, []byte(c.Name)) {
		t.Fatalf("second run on a claimed container: exit %d\n%s\nwant 5 naming the first run's experiment, run and pid", code, b)
	}
	if dockertest.Paused(dockertest.Inspect(t, cli, c.ID)) {
		t.Fatal("the container was paused during the first run's baseline")
	}
	// A dry run is refused the same way, and journals nothing.
	b, err = exec.Command(bin, "run", "--dry-run", "--state-dir", state, "--out", t.TempDir(), exp("dry")).CombinedOutput()
	if code := exitCode(t, err); code != result.ExitPreflight || !bytes.Contains(b, []byte(`experiment "first"`)) {
		t.Fatalf("dry run on a claimed container: exit %d\n%s", code, b)
	}
	first.Process.Signal(syscall.SIGINT)
	first.Wait()
	if left, _ := journal.Scan(state); len(left) != 0 {
		t.Fatalf("claims left after both runs: %+v", left)
	}
}

func TestKilledDryRunLeavesNothingToRecover(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	bin := buildFaultline(t)
	img := dockertest.Image(t, cli, dockertest.Sleeper)
	c := dockertest.Run(t, cli, dockertest.RunOptions{Name: "dry-killed", Image: img})
	dockertest.WaitLog(t, cli, c.ID, "ready")
	exp := filepath.Join(t.TempDir(), "dry.hcl")
	os.WriteFile(exp, []byte(fmt.Sprintf(`
experiment "dry" {
  baseline = "1s"
  recovery = "1s"
  step     = "1s"
}
target "one" {
  name = "^%s$"
}
fault "kill" "crash" {
  target   = target.one
  duration = "2m"
  restore  = true
}
`, c.Name)), 0o600)
	startedAt := dockertest.Inspect(t, cli, c.ID).State.StartedAt
	state := t.TempDir()
	run, out := startRun(t, bin, "run", "--dry-run", "--state-dir", state, "--out", t.TempDir(), exp)
	// Mid-"fault": the dry run has prepared and pretended to inject.
	waitFor(t, func() bool { return strings.Contains(out.String(), "msg=injected") }, "the dry run's injection", out)
	if names, _ := filepath.Glob(filepath.Join(state, "*")); len(names) != 0 {
		t.Fatalf("a dry run wrote %v: a crash would leave them for recover to act on", names)
	}
	run.Process.Kill()
	run.Wait()
	b, err := exec.Command(bin, "recover", "--state-dir", state).CombinedOutput()
	if code := exitCode(t, err); code != 0 || !strings.Contains(string(b), "nothing to recover") {
		t.Fatalf("recover after a killed dry run: exit %d\n%s", code, b)
	}
	if in := dockertest.Inspect(t, cli, c.ID); !dockertest.Running(in) || in.State.StartedAt != startedAt {
		t.Fatal("a dry run touched its target")
	}
}

func TestRecoverAndWatchdogDoNotFight(t *testing.T) {
	t.Parallel()
	bin := buildFaultline(t)
	dead := func(dir string) string {
		j, err := journal.Create(dir, "dead-run", "exp", faults.TargetRef{ID: "c1", Name: "victim"})
		if err != nil {
			t.Fatal(err)
		}
		// A pause of a container that does not exist: reverting it needs Docker.
		if _, err := j.Append(faults.Record{Kind: "pause", Fault: "freeze", Target: faults.TargetRef{ID: "c1", Name: "victim"}}); err != nil {
			t.Fatal(err)
		}
		j.Close()
		waitUnlocked(t, dir)
		return j.Path()
	}

	// The watchdog holds the journal: recover, another process, says so and leaves it.
	dir := t.TempDir()
	rec, err := journal.Claim(dead(dir), journal.ByWatchdog)
	if err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command(bin, "recover", "--state-dir", dir).CombinedOutput()
	if code := exitCode(t, err); code != 0 || !strings.Contains(string(b), fmt.Sprintf("its watchdog (pid %d) holds the journal", os.Getpid())) {
		t.Fatalf("recover while the watchdog holds the journal: exit %d\n%s", code, b)
	}
	if st, _ := journal.Scan(dir); len(st) != 1 || len(st[0].Pending) != 1 {
		t.Fatalf("recover touched a journal the watchdog holds: %+v", st)
	}
	rec.Close()

	// recover holds it: the watchdog says so in its report and leaves it.
	dir = t.TempDir()
	path := dead(dir)
	rec, err = journal.Claim(path, journal.ByRecover)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	var rep watchdog.Report
	revivers := &lazyRevivers{getenv: os.Getenv}
	defer revivers.close()
	takeOver(context.Background(), path, revivers, &rep)
	if !strings.Contains(rep.Error, "`faultline recover`") || len(rep.Faults) != 0 || rep.Run != "dead-run" {
		t.Fatalf("watchdog while recover holds the journal: %+v, want it to name recover and revert nothing", rep)
	}
}

// TestRecoverWaitsForAWatchdogWhenAsked: with WaitWatchdogs (serve's start), a journal
// a watchdog holds is waited for, and what the watchdog leaves is then recovered,
// rather than left alone while its fault may still be in place.
func TestRecoverWaitsForAWatchdogWhenAsked(t *testing.T) {
	t.Parallel()
	dockertest.Client(t) // the revert asks the engine about the container
	dir := t.TempDir()
	j, err := journal.Create(dir, "dead-run", "exp", faults.TargetRef{ID: "no-such-container", Name: "victim"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(faults.Record{Kind: "pause", Fault: "freeze", Target: faults.TargetRef{ID: "no-such-container", Name: "victim"}}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	waitUnlocked(t, dir)
	rec, err := journal.Claim(filepath.Join(dir, "dead-run.journal"), journal.ByWatchdog)
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuf{}
	env := &Env{Stdout: out, Stderr: out, Getenv: os.Getenv, Context: context.Background()}
	done := make(chan error, 1)
	go func() { done <- recoverRun(env, &recoverOptions{StateDir: dir, WaitWatchdogs: 30 * time.Second}) }()
	waitfor.Condition(t, 20*time.Second, "recover to say it waits for the watchdog", func() bool {
		return strings.Contains(out.String(), "its watchdog (pid "+fmt.Sprint(os.Getpid())+") is reverting it; waiting")
	})
	select {
	case err := <-done:
		t.Fatalf("recover returned (%v) while the watchdog still holds the journal:\n%s", err, out.String())
	default:
	}
	rec.Close() // the watchdog ends, leaving its entry
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("recover: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("recover still waits after the watchdog ended:\n%s", out.String())
	}
	if strings.Contains(out.String(), "left alone") || !strings.Contains(out.String(), "recovered 1 fault") {
		t.Errorf("recover after the watchdog: \n%s\nwant the entry it left recovered", out.String())
	}
	if left, _ := journal.Scan(dir); len(left) != 0 {
		t.Errorf("journals left: %+v", left)
	}
}

func TestRecoverNamesOtherStateDirs(t *testing.T) {
	t.Parallel()
	other := t.TempDir()
	j, err := journal.Create(other, "sudo-run", "exp", faults.TargetRef{ID: "c1", Name: "victim"})
	if err != nil {
		t.Fatal(err)
	}
	j.Append(faults.Record{Kind: "pause", Fault: "freeze", Target: faults.TargetRef{ID: "c1", Name: "victim"}})
	j.Close()
	waitUnlocked(t, other)
	var out bytes.Buffer
	if n := otherStateDirs(&out, []string{other, filepath.Join(other, "missing")}); n != 1 ||
		!strings.Contains(out.String(), "run `faultline recover --state-dir "+other+"`") || !strings.Contains(out.String(), "sudo-run") {
		t.Fatalf("other state dirs: %d\n%s\nwant the dead run and the command that recovers it", n, out.String())
	}
}
