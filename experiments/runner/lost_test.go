package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/result"
)

// The fixture's fault phase starts at +10s and its step is 1s: a fault held from +10s
// is read back at +11s, +12s, ... until its end.

func lostFixture(t *testing.T, reapply bool) *fixture {
	s := spec("pause", "freeze", 0, 30*time.Second)
	s.Reapply = reapply
	fx := newFixture(t, []string{"a", "b"}, s)
	fx.exp.Checks = []*experiments.Check{
		{Name: "during", Metric: "m", Below: f64(1), During: []string{result.PhaseFault}},
		{Name: "before", Metric: "m", Below: f64(1), During: []string{result.PhaseBaseline}},
	}
	return fx
}

func checkByName(res *result.Result, name string) result.CheckResult {
	for _, c := range res.Checks {
		if c.Name == name {
			return c
		}
	}
	return result.CheckResult{}
}

// TestLostFaultIsReportedAndFailsTheRun: a fault undone by hand mid-hold is found at
// the next step, reported with its times and what was found, flags the checks of the
// fault phase, and fails a run whose checks all pass.
func TestLostFaultIsReportedAndFailsTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := lostFixture(t, false)
		t0 := time.Now()
		time.AfterFunc(15500*time.Millisecond, func() { fx.faults["freeze"].lose("a", false) })
		res := mustRun(t, context.Background(), fx.cfg)

		if res.Status != result.StatusFailed || res.ExitCode != result.ExitCheckFailed || !strings.Contains(res.Reason, `"freeze" on a was lost at +16s`) {
			t.Fatalf("status %s exit %d reason %q; want failed, 1, naming the lost fault", res.Status, res.ExitCode, res.Reason)
		}
		if len(res.LostFaults) != 1 {
			t.Fatalf("lost faults %+v, want one", res.LostFaults)
		}
		l := res.LostFaults[0]
		if l.Target.Name != "a" || l.Fault != "freeze" || l.Kind != "pause" || l.Reapplied() || l.Reapply {
			t.Errorf("lost fault %+v", l)
		}
		if got := l.DetectedAt.Sub(t0); got != 16*time.Second {
			t.Errorf("detected at +%s, want at the first step after the loss, +16s", got)
		}
		if got := l.LastSeenAt.Sub(t0); got != 15*time.Second {
			t.Errorf("last seen at +%s, want +15s", got)
		}
		if got := l.Until.Sub(t0); got != 40*time.Second {
			t.Errorf("lost until +%s, want the end of the hold, +40s", got)
		}
		if l.Verification == nil || l.Verification.OK() || !strings.Contains(l.Found, "found missing") {
			t.Errorf("lost fault's read-back %+v, found %q; want the failing check", l.Verification, l.Found)
		}
		if c := checkByName(res, "during"); !c.FaultLost || !c.Passed || !strings.Contains(c.Reason, "not applied again") {
			t.Errorf("check of the fault phase: lost %v passed %v reason %q; want flagged, still passed, saying so", c.FaultLost, c.Passed, c.Reason)
		}
		if _, ok := res.Score.Known(); ok || !strings.Contains(res.Score.Reason, "lost") {
			t.Errorf("score %+v; want none, saying a fault was lost", res.Score)
		}
		if c := checkByName(res, "before"); c.FaultLost || strings.Contains(c.Reason, "lost") {
			t.Errorf("baseline check flagged: %q", c.Reason)
		}
		// Reported only: the revert at the end undoes what is left.
		wantSequence(t, fx, "freeze", "a", "prepare", "append", "apply", "revert", "complete")
		wantSequence(t, fx, "freeze", "b", "prepare", "append", "apply", "revert", "complete")
		// One read-back per step of the hold: +11s to +39s; a stops at its loss.
		if got := fx.faults["freeze"].verifyCount("b"); got != 29+1 {
			t.Errorf("b read back %d times, want 29 during the hold and 1 after the apply", got)
		}
		if got := fx.faults["freeze"].verifyCount("a"); got != 6+1 {
			t.Errorf("a read back %d times, want 1 after the apply and 6 until the loss", got)
		}
		if fx.journal.pendingCount() != 0 {
			t.Errorf("%d journal entries pending", fx.journal.pendingCount())
		}
	})
}

// TestLostFaultIsReappliedWithReapply: with reapply = true the lost action is reverted
// (its journal entry closed), the fault prepared, journaled and applied again at the
// step that found the loss, and the end's revert undoes the fresh action. The run is
// judged by its checks; the checks still say the fault was briefly lost.
func TestLostFaultIsReappliedWithReapply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fx := lostFixture(t, true)
		t0 := time.Now()
		time.AfterFunc(15500*time.Millisecond, func() { fx.faults["freeze"].lose("a", false) })
		res := mustRun(t, context.Background(), fx.cfg)
		if res.Status != result.StatusPassed || res.ExitCode != 0 {
			t.Fatalf("status %s exit %d (%s), want passed 0", res.Status, res.ExitCode, res.Reason)
		}
		ops := wantSequence(t, fx, "freeze", "a",
			"prepare", "append", "apply", "revert", "complete", // the lost one, undone at once
			"prepare", "append", "apply", "revert", "complete") // the fresh one, at the end
		for i, want := range []time.Duration{10, 16, 16, 16, 40} {
			if got := ops[[]int{2, 3, 5, 7, 8}[i]].At.Sub(t0); got != want*time.Second {
				t.Errorf("op %s at +%s, want +%ss", ops[[]int{2, 3, 5, 7, 8}[i]].What, got, want)
			}
		}
		if _, ok := res.Score.Known(); !ok {
			t.Errorf("score %+v; want one: the fault was applied again", res.Score)
		}
		if len(res.LostFaults) != 1 || !res.LostFaults[0].Reapplied() {
			t.Fatalf("lost faults %+v, want one, reapplied", res.LostFaults)
		}
		l := res.LostFaults[0]
		if got := l.ReappliedAt.Sub(t0); got != 16*time.Second || !l.Until.Equal(*l.ReappliedAt) || l.ReapplyError != "" {
			t.Errorf("reapplied at +%s, until %s, error %q; want +16s, until then, no error", got, l.Until.Sub(t0), l.ReapplyError)
		}
		reapplied := 0
		for _, ev := range res.Events {
			if ev.Reapply {
				reapplied++
				if ev.Type != result.EventInject || ev.Verification == nil || !ev.Verification.OK() || ev.Error != "" {
					t.Errorf("reapplication event %+v, want an injection that reads back", ev)
				}
			}
		}
		if reapplied != 1 || len(res.Events) != 6 {
			t.Errorf("%d reapplication events of %d, want 1 of 6 (2 injections, 1 reapplication, 3 reverts)", reapplied, len(res.Events))
		}
		if c := checkByName(res, "during"); !c.FaultLost || !strings.Contains(c.Reason, "applied again at +16s") {
			t.Errorf("check of the fault phase: lost %v reason %q", c.FaultLost, c.Reason)
		}
		if fx.journal.pendingCount() != 0 {
			t.Errorf("%d journal entries pending", fx.journal.pendingCount())
		}
	})
}

// TestRestartedTargetIsLostNotGone: a read-back that finds the target's namespace gone
// asks the engine (a fresh Prepare) whether the container still exists. One that
// restarted has lost the fault; the reapplication is tried every step until the
// container runs again. One that was removed is a warning, as before.
func TestRestartedTargetIsLostNotGone(t *testing.T) {
	notRunning := errors.New("container a is restarting, not running")
	tests := []struct {
		name        string
		reapply     bool
		prepareErr  error         // what a Prepare after the restart returns
		prepareOKAt time.Duration // from when Prepare works again (0: never)
		wantExit    int
		wantLost    bool
		wantAgainAt time.Duration // when the fault reads back again (0: never)
		wantError   string        // in the lost fault's reapply error
	}{
		{"reapplied once it runs again", true, notRunning, 18 * time.Second, 0, true, 18 * time.Second, ""},
		{"never runs again", true, notRunning, 0, 1, true, 0, "restarting, not running"},
		{"report only", false, nil, 0, 1, true, 0, ""},
		{"removed: a warning", true, fmt.Errorf("container a is gone: %w", faults.ErrTargetGone), 0, 0, false, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fx := lostFixture(t, tc.reapply)
				f := fx.faults["freeze"]
				t0 := time.Now()
				time.AfterFunc(15500*time.Millisecond, func() {
					f.lose("a", true)
					if tc.prepareErr != nil {
						f.setPrepareErr("a", tc.prepareErr)
					}
				})
				if tc.prepareOKAt > 0 {
					time.AfterFunc(tc.prepareOKAt-time.Millisecond, func() { f.setPrepareErr("a", nil) })
				}
				res := mustRun(t, context.Background(), fx.cfg)
				if res.ExitCode != tc.wantExit {
					t.Fatalf("exit %d (%s), want %d", res.ExitCode, res.Reason, tc.wantExit)
				}
				if !tc.wantLost {
					if len(res.LostFaults) != 0 || !strings.Contains(strings.Join(res.Warnings, " "), "disappeared during the fault") {
						t.Fatalf("lost %+v warnings %v; want no loss and a warning", res.LostFaults, res.Warnings)
					}
					return
				}
				if len(res.LostFaults) != 1 {
					t.Fatalf("lost faults %+v, want one", res.LostFaults)
				}
				l := res.LostFaults[0]
				if got := l.DetectedAt.Sub(t0); got != 16*time.Second || !strings.Contains(l.Found, "network namespace") {
					t.Errorf("detected at +%s found %q; want +16s naming the namespace", got, l.Found)
				}
				switch {
				case tc.wantAgainAt > 0 && (l.ReappliedAt == nil || l.ReappliedAt.Sub(t0) != tc.wantAgainAt):
					t.Errorf("reapplied at %v, want +%s", l.ReappliedAt, tc.wantAgainAt)
				case tc.wantAgainAt == 0 && l.Reapplied():
					t.Errorf("reapplied at %v, want never", l.ReappliedAt)
				case !strings.Contains(l.ReapplyError, tc.wantError):
					t.Errorf("reapply error %q, want %q", l.ReapplyError, tc.wantError)
				}
				if tc.wantAgainAt == 0 && res.Status != result.StatusFailed {
					t.Errorf("status %s, want failed", res.Status)
				}
				if fx.journal.pendingCount() != 0 {
					t.Errorf("%d journal entries pending", fx.journal.pendingCount())
				}
			})
		})
	}
}

// TestLostFaultAndWorseOutcomes: a lost fault fails the run, but an abort (3) or a
// failed revert (4) says more and wins; a failed check is named beside the loss.
func TestLostFaultAndWorseOutcomes(t *testing.T) {
	flaky := errors.New("engine said 500")
	tests := []struct {
		name       string
		setup      func(fx *fixture)
		wantExit   int
		wantReason []string
	}{
		{"lost and a failed check", func(fx *fixture) {
			fx.exp.Checks = append(fx.exp.Checks, &experiments.Check{Name: "strict", Metric: "m", Below: f64(0.05), During: []string{result.PhaseFault}})
		}, 1, []string{"was lost", "1 of 3 checks failed"}},
		{"lost and a failed revert", func(fx *fixture) {
			fx.faults["freeze"].revertErrs["b"] = []error{flaky, flaky, flaky}
		}, 4, []string{"faultline recover"}},
		{"lost and an abort", func(fx *fixture) {
			fx.exp.Aborts = []*experiments.Abort{{Name: "storm", Metric: "m", Above: f64(0.05), For: 20 * time.Second}}
		}, 3, []string{`abort guard "storm"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fx := lostFixture(t, false)
				tc.setup(fx)
				time.AfterFunc(15500*time.Millisecond, func() { fx.faults["freeze"].lose("a", false) })
				res := mustRun(t, context.Background(), fx.cfg)
				if res.ExitCode != tc.wantExit || len(res.LostFaults) != 1 {
					t.Fatalf("exit %d (%s), %d lost; want %d with the loss reported", res.ExitCode, res.Reason, len(res.LostFaults), tc.wantExit)
				}
				for _, w := range tc.wantReason {
					if !strings.Contains(res.Reason, w) {
						t.Errorf("reason %q lacks %q", res.Reason, w)
					}
				}
			})
		})
	}
}
