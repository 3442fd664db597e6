package runner

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/result"
)

// The logic tests run inside a synctest bubble: the runner's clock (time.Now) reads the
// bubble's fake clock, which jumps ahead whenever every goroutine waits, so planned
// times are met exactly and a two-minute experiment takes milliseconds.

func f64(v float64) *float64 { return &v }

type fixture struct {
	log     *opLog
	journal *fakeJournal
	faults  map[string]*fakeFault
	exp     *experiments.Experiment
	plan    *experiments.Plan
	cfg     Config
}

// newFixture builds an experiment: baseline 10s, recovery 10s, step 1s, one metric
// "m" watched by the given sampler value, and the given faults on target "web" with
// the given containers.
func newFixture(t *testing.T, containers []string, specs ...*experiments.FaultSpec) *fixture {
	t.Helper()
	fx := &fixture{log: &opLog{}, faults: map[string]*fakeFault{}}
	fx.journal = newFakeJournal(fx.log)
	fx.exp = &experiments.Experiment{
		Name: "logic", Baseline: 10 * time.Second, Recovery: 10 * time.Second, Step: time.Second,
		Prometheus: &experiments.Prometheus{LossGrace: 5 * time.Second},
		Metrics:    []*experiments.Metric{{Name: "m", Query: "m"}},
		Faults:     specs,
	}
	fx.plan = experiments.NewPlan(fx.exp)
	var targets []faults.Target
	for _, c := range containers {
		targets = append(targets, faults.Target{ID: c + "-id", Name: c, Group: "web"})
	}
	fx.plan.Targets = map[string][]faults.Target{"web": targets}
	for _, s := range specs {
		fx.faults[s.Name] = &fakeFault{kind: s.Kind, name: s.Name, log: fx.log,
			prepareErr: map[string]error{}, applyErr: map[string]error{}, revertErrs: map[string][]error{}}
	}
	fx.cfg = Config{
		Plan:    fx.plan,
		Journal: fx.journal,
		Faults: func(spec *experiments.FaultSpec) (faults.Fault, error) {
			return fx.faults[spec.Name], nil
		},
		Sampler: &fakeSampler{metrics: fx.exp.Metrics, t0: time.Now(), value: func(time.Duration) (float64, error) { return 0.1, nil }},
	}
	return fx
}

func (fx *fixture) sample(value func(offset time.Duration) (float64, error)) {
	fx.cfg.Sampler = &fakeSampler{metrics: fx.exp.Metrics, t0: time.Now(), value: value}
}

func spec(kind, name string, start, dur time.Duration) *experiments.FaultSpec {
	return &experiments.FaultSpec{Kind: kind, Name: name, Target: "web", Start: start, Duration: dur}
}

func mustRun(t *testing.T, ctx context.Context, cfg Config) *result.Result {
	t.Helper()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// wantSequence checks that one fault on one target went through exactly these steps.
func wantSequence(t *testing.T, fx *fixture, fault, target string, want ...string) []op {
	t.Helper()
	ops := fx.log.of(fault, target)
	var got []string
	for _, o := range ops {
		got = append(got, o.What)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s on %s: ops %v, want %v", fault, target, got, want)
	}
	return ops
}

func TestJournalBeforeApplyAndRevertAtPlannedEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a", "b", "c"}, spec("pause", "freeze", 5*time.Second, 20*time.Second))
		t0 := time.Now()
		res := mustRun(t, context.Background(), fx.cfg)
		for _, c := range []string{"a", "b", "c"} {
			ops := wantSequence(t, fx, "freeze", c, "prepare", "append", "apply", "revert", "complete")
			// The bubble's clock only moves when everyone waits: planned times are exact.
			if got, want := ops[2].At.Sub(t0), 15*time.Second; got != want {
				t.Errorf("%s applied at +%s, want +%s (targets in parallel)", c, got, want)
			}
			if got, want := ops[3].At.Sub(t0), 35*time.Second; got != want {
				t.Errorf("%s reverted at +%s, want +%s", c, got, want)
			}
		}
		if res.Status != result.StatusPassed || res.ExitCode != 0 {
			t.Fatalf("status %s exit %d (%s), want passed 0", res.Status, res.ExitCode, res.Reason)
		}
		if len(res.Events) != 6 {
			t.Fatalf("%d events, want 3 injections and 3 reverts", len(res.Events))
		}
		for _, ev := range res.Events {
			if ev.Actual.Sub(ev.Planned) != 0 || ev.Error != "" {
				t.Errorf("event %+v: actual differs from planned or failed", ev)
			}
		}
		if fx.journal.pendingCount() != 0 {
			t.Fatalf("%d journal entries left pending", fx.journal.pendingCount())
		}
		if got := res.EndedAt.Sub(t0); got != 45*time.Second {
			t.Fatalf("run ended at +%s, want +45s (10s baseline + 5s + 20s fault + 10s recovery)", got)
		}
	})
}

func TestRepeatsAndOverlapsFollowThePlan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep := spec("pause", "blink", 0, 2*time.Second)
		rep.Every, rep.Times = 5*time.Second, 3
		long := spec("bandwidth", "slow", time.Second, 12*time.Second)
		fx := newFixture(t, []string{"a"}, rep, long)
		t0 := time.Now()
		res := mustRun(t, context.Background(), fx.cfg)
		ops := wantSequence(t, fx, "blink", "a",
			"prepare", "append", "apply", "revert", "complete",
			"prepare", "append", "apply", "revert", "complete",
			"prepare", "append", "apply", "revert", "complete")
		for i, want := range []time.Duration{10, 12, 15, 17, 20, 22} {
			got := ops[[]int{2, 3, 7, 8, 12, 13}[i]].At.Sub(t0)
			if got != want*time.Second {
				t.Errorf("blink op %d at +%s, want +%ss", i, got, want)
			}
		}
		slow := wantSequence(t, fx, "slow", "a", "prepare", "append", "apply", "revert", "complete")
		if slow[2].At.Sub(t0) != 11*time.Second || slow[3].At.Sub(t0) != 23*time.Second {
			t.Errorf("overlapping fault applied +%s reverted +%s, want +11s and +23s", slow[2].At.Sub(t0), slow[3].At.Sub(t0))
		}
		if res.ExitCode != 0 || len(res.Timeline.Injections) != 4 {
			t.Fatalf("exit %d, %d planned injections; want 0 and 4", res.ExitCode, len(res.Timeline.Injections))
		}
	})
}

func TestEarlyStopsRevertEverythingAtOnce(t *testing.T) {
	tests := []struct {
		name       string
		value      func(time.Duration) (float64, error)
		abort      *experiments.Abort
		interrupt  time.Duration // cancel the run at this offset (0: never)
		skipAt     time.Duration // second interrupt at this offset (0: never)
		wantStatus result.Status
		wantReason string
		wantRevert time.Duration // offset of the reverts
		wantEnd    time.Duration // offset of the end of observation
	}{
		{
			name: "abort guard",
			value: func(off time.Duration) (float64, error) {
				if off >= 20*time.Second {
					return 0.9, nil
				}
				return 0.1, nil
			},
			abort:      &experiments.Abort{Name: "storm", Metric: "m", Above: f64(0.5), For: 3 * time.Second},
			wantStatus: result.StatusAborted, wantReason: `abort guard "storm" tripped`,
			wantRevert: 23 * time.Second, wantEnd: 33 * time.Second,
		},
		{
			name: "observation lost",
			value: func(off time.Duration) (float64, error) {
				if off >= 14*time.Second {
					return 0, errors.New("connection refused")
				}
				return 0.1, nil
			},
			wantStatus: result.StatusAborted, wantReason: lostPrefix,
			// last answer at +13s, grace 5s: the sample at +19s is the first beyond it;
			// nothing to watch after the reverts.
			wantRevert: 19 * time.Second, wantEnd: 19 * time.Second,
		},
		{
			name:       "interrupt",
			value:      func(time.Duration) (float64, error) { return 0.1, nil },
			interrupt:  17 * time.Second,
			wantStatus: result.StatusInterrupted, wantReason: "interrupted by signal",
			wantRevert: 17 * time.Second, wantEnd: 27 * time.Second,
		},
		{
			name:       "second interrupt skips the observation",
			value:      func(time.Duration) (float64, error) { return 0.1, nil },
			interrupt:  17 * time.Second,
			skipAt:     18 * time.Second,
			wantStatus: result.StatusInterrupted, wantReason: "interrupted by signal",
			wantRevert: 17 * time.Second, wantEnd: 18 * time.Second,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fx := newFixture(t, []string{"a", "b"},
					spec("pause", "freeze", 2*time.Second, 60*time.Second),
					spec("kill", "later", 50*time.Second, 5*time.Second))
				fx.sample(tc.value)
				if tc.abort != nil {
					fx.exp.Aborts = []*experiments.Abort{tc.abort}
				}
				t0 := time.Now()
				ctx, cancel := context.WithCancelCause(context.Background())
				defer cancel(nil)
				if tc.interrupt > 0 {
					time.AfterFunc(tc.interrupt, func() { cancel(ErrInterrupted) })
				}
				if tc.skipAt > 0 {
					skip := make(chan struct{})
					fx.cfg.SkipObservation = skip
					time.AfterFunc(tc.skipAt, func() { close(skip) })
				}
				res := mustRun(t, ctx, fx.cfg)
				if res.Status != tc.wantStatus || res.ExitCode != 3 || !strings.Contains(res.Reason, tc.wantReason) {
					t.Fatalf("status %s exit %d reason %q; want %s, 3, %q", res.Status, res.ExitCode, res.Reason, tc.wantStatus, tc.wantReason)
				}
				if v, ok := res.Score.Known(); ok || !strings.Contains(res.Score.Reason, string(tc.wantStatus)) {
					t.Errorf("a run that stopped early has score %v (known %v, reason %q); want none, saying it was %s", v, ok, res.Score.Reason, tc.wantStatus)
				}
				for _, c := range []string{"a", "b"} {
					ops := wantSequence(t, fx, "freeze", c, "prepare", "append", "apply", "revert", "complete")
					if got := ops[3].At.Sub(t0); got != tc.wantRevert {
						t.Errorf("%s reverted at +%s, want +%s", c, got, tc.wantRevert)
					}
					// The later fault was planned after the stop: never touched.
					wantSequence(t, fx, "later", c)
				}
				if got := res.Timeline.FaultEnd.Sub(t0); got != tc.wantRevert {
					t.Errorf("timeline fault end +%s, want the stop at +%s", got, tc.wantRevert)
				}
				if got := res.Timeline.RecoveryEnd.Sub(t0); got != tc.wantEnd {
					t.Errorf("observation ended at +%s, want +%s", got, tc.wantEnd)
				}
				if fx.journal.pendingCount() != 0 {
					t.Errorf("%d journal entries pending", fx.journal.pendingCount())
				}
			})
		})
	}
}

func TestInterruptInRecoveryEndsTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a"}, spec("pause", "freeze", 0, 5*time.Second))
		t0 := time.Now()
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		time.AfterFunc(17*time.Second, func() { cancel(ErrInterrupted) })
		res := mustRun(t, ctx, fx.cfg)
		if res.Status != result.StatusInterrupted || res.ExitCode != 3 {
			t.Fatalf("status %s exit %d, want interrupted 3", res.Status, res.ExitCode)
		}
		if got := res.EndedAt.Sub(t0); got != 17*time.Second {
			t.Fatalf("ended at +%s, want at the interrupt, +17s", got)
		}
		wantSequence(t, fx, "freeze", "a", "prepare", "append", "apply", "revert", "complete")
	})
}

func TestRevertFailures(t *testing.T) {
	flaky := errors.New("engine said 500")
	tests := []struct {
		name        string
		revertErrs  []error
		wantReverts int
		wantExit    int
		wantPending int
		wantGone    bool
	}{
		// The action retries its own steps from one budget (faults.Budget); the runner
		// reverts once, so a revert that returns an error has failed for good.
		{"fails: exit 4, journal kept, not retried on top", []error{flaky, nil}, 1, 4, 1, false},
		{"target gone: a warning", []error{faults.ErrTargetGone}, 1, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fx := newFixture(t, []string{"a", "b"}, spec("pause", "freeze", 0, 5*time.Second))
				fx.faults["freeze"].revertErrs["a"] = tc.revertErrs
				res := mustRun(t, context.Background(), fx.cfg)
				if got := len(fx.log.of("freeze", "a")) - 3; got != tc.wantReverts+1-tc.wantPending {
					// prepare, append, apply, then reverts, then complete unless failed
					t.Errorf("a: %d ops after apply, want %d reverts and %d completions", got, tc.wantReverts, 1-tc.wantPending)
				}
				if res.ExitCode != tc.wantExit || fx.journal.pendingCount() != tc.wantPending {
					t.Fatalf("exit %d with %d pending (%s), want %d with %d", res.ExitCode, fx.journal.pendingCount(), res.Reason, tc.wantExit, tc.wantPending)
				}
				if tc.wantExit == 4 && (res.Status != result.StatusError || !strings.Contains(res.Reason, "faultline recover")) {
					t.Fatalf("status %s reason %q, want error naming faultline recover", res.Status, res.Reason)
				}
				// b is unaffected by a's trouble.
				wantSequence(t, fx, "freeze", "b", "prepare", "append", "apply", "revert", "complete")
				if tc.wantGone && (len(res.Warnings) == 0 || !hasGoneEvent(res)) {
					t.Fatalf("target gone left no warning or event: %v", res.Warnings)
				}
			})
		})
	}
}

func hasGoneEvent(res *result.Result) bool {
	for _, ev := range res.Events {
		if ev.TargetGone {
			return true
		}
	}
	return false
}

func TestFailedInjectionStopsHarmAndStillReverts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a", "b"}, spec("pause", "freeze", 0, 30*time.Second))
		fx.faults["freeze"].applyErr["a"] = errors.New("half applied")
		t0 := time.Now()
		res := mustRun(t, context.Background(), fx.cfg)
		if res.Status != result.StatusError || res.ExitCode != 3 || !strings.Contains(res.Reason, "half applied") {
			t.Fatalf("status %s exit %d reason %q", res.Status, res.ExitCode, res.Reason)
		}
		for _, c := range []string{"a", "b"} {
			ops := wantSequence(t, fx, "freeze", c, "prepare", "append", "apply", "revert", "complete")
			if ops[3].At.Sub(t0) != 10*time.Second {
				t.Errorf("%s reverted at +%s, want at once (+10s)", c, ops[3].At.Sub(t0))
			}
		}
	})
}

func TestReadBackAfterApplyDecidesTheInjection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a", "b"}, spec("pause", "freeze", 0, 30*time.Second))
		fx.faults["freeze"].notInjected = map[string]bool{"a": true}
		t0 := time.Now()
		res := mustRun(t, context.Background(), fx.cfg)
		if res.Status != result.StatusError || res.ExitCode != 3 || !strings.Contains(res.Reason, "does not read back as injected") {
			t.Fatalf("status %s exit %d reason %q; want an aborted run naming the failed read-back", res.Status, res.ExitCode, res.Reason)
		}
		for _, c := range []string{"a", "b"} {
			ops := wantSequence(t, fx, "freeze", c, "prepare", "append", "apply", "revert", "complete")
			if ops[3].At.Sub(t0) != 10*time.Second {
				t.Errorf("%s reverted at +%s, want at once (+10s)", c, ops[3].At.Sub(t0))
			}
		}
		for _, ev := range res.Events {
			if ev.Verification == nil || ev.Verification.At.IsZero() {
				t.Errorf("%s event on %s has no read-back", ev.Type, ev.Target.Name)
				continue
			}
			if ev.Type == result.EventInject && ev.Target.Name == "a" && (ev.Verification.OK() || ev.Error == "") {
				t.Errorf("inject event on a: read-back %+v, error %q; want the failed read-back", *ev.Verification, ev.Error)
			}
		}
		fx.journal.mu.Lock()
		phases := slices.Clone(fx.journal.phases)
		fx.journal.mu.Unlock()
		slices.Sort(phases)
		if want := []string{"a applied", "a applying", "b applied", "b applying"}; !slices.Equal(phases, want) {
			t.Errorf("journal phases %v, want %v: applying before Apply, applied after", phases, want)
		}
	})
}

func TestReadBackAfterRevertDecidesTheRevert(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a"}, spec("pause", "freeze", 0, 5*time.Second))
		fx.faults["freeze"].notClean = map[string]bool{"a": true}
		res := mustRun(t, context.Background(), fx.cfg)
		if res.ExitCode != 4 || fx.journal.pendingCount() != 1 {
			t.Fatalf("exit %d with %d pending (%s); want 4 with the entry kept for recover", res.ExitCode, fx.journal.pendingCount(), res.Reason)
		}
	})
}

func TestNoApplyWithoutJournal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a"}, spec("pause", "freeze", 0, 5*time.Second))
		fx.journal.appendErr = errors.New("disk full")
		res := mustRun(t, context.Background(), fx.cfg)
		if fx.log.count("apply") != 0 {
			t.Fatal("a fault was applied although its journal entry could not be written")
		}
		wantSequence(t, fx, "freeze", "a", "prepare", "release")
		if res.ExitCode != 3 || !strings.Contains(res.Reason, "disk full") {
			t.Fatalf("exit %d reason %q", res.ExitCode, res.Reason)
		}
	})
}

// TestNoApplyWithoutTheApplyingMark: an entry left "prepared" is revived as never
// applied, so a fault whose entry cannot be marked "applying" must not be applied:
// after a crash nothing would revert it.
func TestNoApplyWithoutTheApplyingMark(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a"}, spec("pause", "freeze", 0, 5*time.Second))
		fx.journal.updateErr = errors.New("input/output error")
		res := mustRun(t, context.Background(), fx.cfg)
		if fx.log.count("apply") != 0 {
			t.Fatal("a fault was applied although its journal entry could not be marked as applying")
		}
		wantSequence(t, fx, "freeze", "a", "prepare", "append", "release", "complete")
		if res.ExitCode != 3 || !strings.Contains(res.Reason, "input/output error") || fx.journal.pendingCount() != 0 {
			t.Fatalf("exit %d reason %q, %d pending", res.ExitCode, res.Reason, fx.journal.pendingCount())
		}
	})
}

// TestHungApplyFailsTheInjection: an Apply that never returns (an engine that accepts
// and never answers) fails the injection at its deadline, the other target's fault is
// reverted at once, and the run ends (exit 3) long before the fault's planned end.
func TestHungApplyFailsTheInjection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a", "b"}, spec("pause", "freeze", 0, 10*time.Minute))
		fx.faults["freeze"].applyHangs = map[string]bool{"a": true}
		start := time.Now()
		res := mustRun(t, context.Background(), fx.cfg)
		if took := time.Since(start); took > 2*faults.ApplyTimeout {
			t.Errorf("the run took %s with a hung Apply, want it ended near its %s deadline", took, faults.ApplyTimeout)
		}
		if res.ExitCode != 3 || !strings.Contains(res.Reason, "no answer within 30s") {
			t.Fatalf("exit %d reason %q, want 3 naming the deadline", res.ExitCode, res.Reason)
		}
		wantSequence(t, fx, "freeze", "b", "prepare", "append", "apply", "revert", "complete")
		if fx.journal.pendingCount() != 0 {
			t.Errorf("%d journal entries pending", fx.journal.pendingCount())
		}
	})
}

// TestPrepareTargetGoneFailsTheRun: a container that is gone when its fault comes is
// warned about, the other targets are hit as planned, and the run is not green: that
// fault never took effect there.
func TestPrepareTargetGoneFailsTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a", "b"}, spec("pause", "freeze", 0, 5*time.Second))
		fx.faults["freeze"].prepareErr["a"] = faults.ErrTargetGone
		res := mustRun(t, context.Background(), fx.cfg)
		if res.ExitCode != result.ExitCheckFailed || res.Status != result.StatusFailed || len(res.Warnings) == 0 ||
			!strings.Contains(res.Reason, `fault "freeze" was never injected on a`) {
			t.Fatalf("exit %d status %s reason %q warnings %v, want 1 (failed) naming the fault and the container", res.ExitCode, res.Status, res.Reason, res.Warnings)
		}
		if _, ok := res.Score.Known(); ok {
			t.Errorf("score %+v given for a run whose fault was never injected on one target", res.Score)
		}
		wantSequence(t, fx, "freeze", "a", "prepare")
		wantSequence(t, fx, "freeze", "b", "prepare", "append", "apply", "revert", "complete")
	})
}

func TestDryRunNeverAppliesNorReverts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a"}, spec("pause", "freeze", 0, 5*time.Second))
		fx.cfg.DryRun = true
		fx.cfg.Lease = &fakeLease{log: fx.log}
		res := mustRun(t, context.Background(), fx.cfg)
		// Nothing journaled: a crash of a dry run leaves nothing for recover to undo.
		wantSequence(t, fx, "freeze", "a", "prepare", "release")
		if n := len(fx.log.of("lease", "")); n != 0 {
			t.Fatalf("a dry run touched the watchdog lease %d times", n)
		}
		if res.ExitCode != 0 || len(res.Events) != 2 || !strings.Contains(strings.Join(res.Warnings, " "), "dry run") {
			t.Fatalf("exit %d, %d events, warnings %v", res.ExitCode, len(res.Events), res.Warnings)
		}
	})
}

func TestPreflightAndInvalidStopBeforeAnyFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a"}, spec("pause", "freeze", 0, 5*time.Second))
		fx.cfg.Preflight = []PreflightCheck{
			{Name: "docker", Run: func(context.Context) error { return nil }},
			{Name: "kernel", Run: func(context.Context) error { return errors.New("no sch_netem: run `modprobe sch_netem`") }},
			{Name: "prometheus", Run: func(context.Context) error { return errors.New("unreachable") }},
		}
		res, err := Run(context.Background(), fx.cfg)
		if !errors.Is(err, ErrPreflight) || res != nil || !strings.Contains(err.Error(), "modprobe") || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("Run = %v, %v; want ErrPreflight naming both failures", res, err)
		}
		fx.cfg.Preflight = nil
		fx.cfg.Faults = func(*experiments.FaultSpec) (faults.Fault, error) { return nil, errors.New("latency must be positive") }
		if _, err := Run(context.Background(), fx.cfg); !errors.Is(err, ErrInvalid) {
			t.Fatalf("bad fault: %v, want ErrInvalid", err)
		}
		if n := len(fx.log.all()); n != 0 {
			t.Fatalf("%d fault operations before a failed preflight", n)
		}
	})
}

func TestChecksDecideTheExitCode(t *testing.T) {
	tests := []struct {
		name     string
		below    float64
		wantExit int
		want     result.Status
	}{
		{"holds", 1, 0, result.StatusPassed},
		{"breaks during the fault", 0.5, 1, result.StatusFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fx := newFixture(t, []string{"a"}, spec("pause", "freeze", 0, 5*time.Second))
				fx.sample(func(off time.Duration) (float64, error) {
					if off >= 10*time.Second && off < 15*time.Second {
						return 0.8, nil
					}
					return 0.1, nil
				})
				fx.exp.Checks = []*experiments.Check{{Name: "c", Metric: "m", Below: f64(tc.below)}}
				var updates int
				fx.cfg.Progress = func(u Update) {
					if u.Observations != nil {
						updates++
					}
				}
				res := mustRun(t, context.Background(), fx.cfg)
				if res.ExitCode != tc.wantExit || res.Status != tc.want {
					t.Fatalf("exit %d status %s (%s), want %d %s", res.ExitCode, res.Status, res.Reason, tc.wantExit, tc.want)
				}
				if updates != 26 {
					t.Fatalf("%d sample updates, want one per step over 25s, both ends included (26)", updates)
				}
			})
		})
	}
}

// TestActionWarningsReachTheResult: what an action learns about its target (a shared
// network namespace, say) is a warning of the result, once however often it repeats.
func TestActionWarningsReachTheResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := spec("pause", "freeze", 0, 2*time.Second)
		s.Every, s.Times = 4*time.Second, 3
		fx := newFixture(t, []string{"a"}, s)
		fx.faults["freeze"].warnings = []string{"2 other containers share its network namespace"}
		res := mustRun(t, context.Background(), fx.cfg)
		n := 0
		for _, w := range res.Warnings {
			if strings.Contains(w, "share its network namespace") && strings.Contains(w, `"freeze" on a`) {
				n++
			}
		}
		if n != 1 || fx.log.count("apply") != 3 {
			t.Fatalf("%d matching warnings after %d applies, want 1 after 3: %v", n, fx.log.count("apply"), res.Warnings)
		}
	})
}

// TestBackToBackFaultsWaitForTheRevert: a fault that starts when another one on the
// same container ends is prepared only once that one is reverted; a slow revert (a
// container start) must not let the next fault inspect a half-restored container.
func TestBackToBackFaultsWaitForTheRevert(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kill := spec("kill", "crash", 0, 5*time.Second)
		pause := spec("pause", "freeze", 5*time.Second, 5*time.Second)
		fx := newFixture(t, []string{"a"}, kill, pause)
		fx.faults["crash"].revertTakes = 2 * time.Second
		t0 := time.Now()
		res := mustRun(t, context.Background(), fx.cfg)
		crash := wantSequence(t, fx, "crash", "a", "prepare", "append", "apply", "revert", "complete")
		freeze := wantSequence(t, fx, "freeze", "a", "prepare", "append", "apply", "revert", "complete")
		if reverted, prepared := crash[3].At.Sub(t0), freeze[0].At.Sub(t0); prepared < reverted {
			t.Fatalf("freeze prepared at +%s, before crash was reverted at +%s", prepared, reverted)
		}
		if res.ExitCode != 0 {
			t.Fatalf("exit %d (%s)", res.ExitCode, res.Reason)
		}
	})
}

// TestInjectionsSayWhichWayTheyWent: an action that can reach its target more than one
// way (faults.Router) has the way recorded on its injection event, and only there.
func TestInjectionsSayWhichWayTheyWent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a"}, spec("kill", "crash", 0, time.Second), spec("pause", "freeze", 2*time.Second, time.Second))
		fx.faults["crash"].via = faults.ViaPidfd
		res := mustRun(t, context.Background(), fx.cfg)
		for _, ev := range res.Events {
			want := ""
			if ev.Type == result.EventInject && ev.Fault == "crash" {
				want = faults.ViaPidfd
			}
			if ev.Via != want {
				t.Errorf("%s of %s: via %q, want %q", ev.Type, ev.Fault, ev.Via, want)
			}
		}
	})
}

// TestEveryTargetIsHitBeforeAnyRevert: the reverts of a fault that ends as it starts
// (a kill restored at once) wait until every target is hit, so that they never take
// the slots that the injections of its later targets wait for.
func TestEveryTargetIsHitBeforeAnyRevert(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a", "b", "c"}, spec("kill", "crash", 0, 0))
		fx.cfg.Parallel = 2
		gate, reached := make(chan struct{}), make(chan struct{})
		fx.faults["crash"].applyGate = map[string]chan struct{}{"b": gate}
		fx.faults["crash"].applyReached = map[string]chan struct{}{"b": reached}
		type outcome struct {
			res *result.Result
			err error
		}
		done := make(chan outcome, 1)
		go func() {
			res, err := Run(context.Background(), fx.cfg)
			done <- outcome{res, err}
		}()
		<-reached // b's Apply is held at the gate (virtual time runs to the planned start)
		synctest.Wait()
		if n := fx.log.count("revert"); n != 0 {
			t.Errorf("%d target(s) reverted while b was still being hit: %v", n, fx.log.all())
		}
		close(gate)
		out := <-done
		if out.err != nil || out.res.ExitCode != 0 {
			t.Fatalf("Run: %v", out.err)
		}
		lastApply, firstRevert := -1, -1
		for i, o := range fx.log.all() {
			switch {
			case o.What == "apply":
				lastApply = i
			case o.What == "revert" && firstRevert < 0:
				firstRevert = i
			}
		}
		if fx.log.count("apply") != 3 || fx.log.count("revert") != 3 || firstRevert < lastApply {
			t.Fatalf("ops %v: want 3 applies, then 3 reverts", fx.log.all())
		}
	})
}

// TestPreparedAheadOfThePlannedStart: targets are inspected and journalled PrepareLead
// before the planned start, so that only Apply is left at the start; a run stopped in
// between applies nothing and leaves no pending journal entry.
func TestPreparedAheadOfThePlannedStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a"}, spec("pause", "freeze", 5*time.Second, 5*time.Second))
		t0 := time.Now()
		mustRun(t, context.Background(), fx.cfg)
		ops := wantSequence(t, fx, "freeze", "a", "prepare", "append", "apply", "revert", "complete")
		if got, want := ops[0].At.Sub(t0), 15*time.Second-PrepareLead; got != want {
			t.Errorf("prepared at +%s, want +%s", got, want)
		}
		if got := ops[2].At.Sub(t0); got != 15*time.Second {
			t.Errorf("applied at +%s, want at the planned start +15s", got)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a"}, spec("pause", "freeze", 5*time.Second, 5*time.Second))
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		time.AfterFunc(15*time.Second-PrepareLead/2, func() { cancel(ErrInterrupted) })
		res := mustRun(t, ctx, fx.cfg)
		wantSequence(t, fx, "freeze", "a", "prepare", "append", "release", "complete")
		if fx.journal.pendingCount() != 0 || len(res.Events) != 0 || res.ExitCode != 3 {
			t.Fatalf("pending %d, events %d, exit %d; want nothing pending, no event, exit 3",
				fx.journal.pendingCount(), len(res.Events), res.ExitCode)
		}
	})
}

func TestLeaseArmedBeforeTheFirstEntryRenewedAndReleased(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a"}, spec("pause", "freeze", 5*time.Second, 20*time.Second))
		fx.cfg.Lease = &fakeLease{log: fx.log}
		t0 := time.Now()
		res := mustRun(t, context.Background(), fx.cfg)
		if res.ExitCode != 0 {
			t.Fatalf("exit %d", res.ExitCode)
		}
		all := fx.log.all()
		var order []string
		renewals := 0
		var released time.Time
		for _, o := range all {
			switch {
			case o.What == "renew":
				renewals++
			case o.Fault == "lease" || o.What == "append" || o.What == "revert":
				order = append(order, o.What)
			}
			if o.Fault == "lease" && o.What == "release" {
				released = o.At
			}
		}
		if strings.Join(order, ",") != "arm,append,revert,release" {
			t.Fatalf("order %v, want the watchdog armed before the first entry and released after the last revert", order)
		}
		// Renewed every second until the revert at 10s+5s+20s.
		if renewals < 30 || renewals > 36 {
			t.Fatalf("%d renewals, want one a second over the fault part", renewals)
		}
		if got := released.Sub(t0); got < 35*time.Second || got > 36*time.Second {
			t.Fatalf("released at %v, want just after the revert at 35s", got)
		}
	})
}

func TestLostWatchdogStopsHarm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a"}, spec("pause", "freeze", 0, time.Minute))
		fx.cfg.Lease = &fakeLease{log: fx.log, renewErr: errors.New("broken pipe")}
		t0 := time.Now()
		res := mustRun(t, context.Background(), fx.cfg)
		if res.Status != result.StatusAborted || !strings.Contains(res.Reason, "watchdog") {
			t.Fatalf("status %s %q, want aborted naming the watchdog", res.Status, res.Reason)
		}
		// Armed at the prepare (8s), the first renewal after it fails: the fault is
		// never applied.
		ops := wantSequence(t, fx, "freeze", "a", "prepare", "append", "release", "complete")
		if got := ops[3].At.Sub(t0); got > 10*time.Second {
			t.Fatalf("entry closed at %v, want at the first failed renewal, before the start at 10s", got)
		}
	})
}

func TestStuckRevertStopsRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := newFixture(t, []string{"a"}, spec("pause", "freeze", 0, 5*time.Second))
		fx.faults["freeze"].revertTakes = 2 * time.Minute // ignores its 30s deadline
		fx.cfg.Lease = &fakeLease{log: fx.log}
		t0 := time.Now()
		mustRun(t, context.Background(), fx.cfg)
		revertStart := t0.Add(15 * time.Second)
		hungFrom := revertStart.Add(faults.RevertTimeout + stuckGrace + time.Second)
		hungUntil := revertStart.Add(2*time.Minute - time.Second)
		for _, o := range fx.log.of("lease", "") {
			if o.What == "renew" && o.At.After(hungFrom) && o.At.Before(hungUntil) {
				t.Fatalf("renewed at %v while the revert was stuck past its deadline", o.At.Sub(t0))
			}
		}
		if n := len(fx.log.of("lease", "")); n < 30 {
			t.Fatalf("only %d lease operations: renewal never ran", n)
		}
	})
}
