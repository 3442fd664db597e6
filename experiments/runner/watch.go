package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/result"
)

// Watching a fault during its hold: every step its read-back runs again (one engine
// inspect or one netlink dump per target). A fault that no longer reads back is lost:
// the result says when and what was found, the checks whose phases it overlaps say
// so, and the run is failed unless the fault block says reapply = true and the fault,
// prepared again on the container as it is now, reads back as injected again.

// readBackTimeout bounds one read-back during a hold.
const readBackTimeout = 10 * time.Second

// watcher is the hold of one injection on one target.
type watcher struct {
	r     *run
	in    experiments.Injection
	t     faults.Target
	label string
	// action is what the revert at the end undoes and id its journal entry; nil once
	// a lost action was reverted and nothing replaced it yet.
	action faults.Action
	id     int
	// seen is the last read-back that found the fault in place.
	seen time.Time
	// lost is the index in the result's LostFaults of the loss not yet reapplied, or -1.
	lost int
	// stopped ends the watch: the target is gone, or the loss is only reported.
	stopped    bool
	readFailed bool
}

// hold keeps an injected fault until its planned end, or until harm stops, reading it
// back every step when watch is set (an Apply that read back as injected). It returns
// the action the revert at the end undoes, and its journal entry; a nil action when
// there is nothing left to revert (a lost fault, reverted, that was not applied again).
func (r *run) hold(harm context.Context, in experiments.Injection, t faults.Target, action faults.Action, id int, watch bool, seen time.Time, label string) (faults.Action, int) {
	start, end := r.t0.Add(in.Start), r.t0.Add(in.End)
	step := r.plan.Experiment.Step
	if !watch || step <= 0 {
		_ = sleepUntil(harm, end)
		return action, id
	}
	w := &watcher{r: r, in: in, t: t, label: label, action: action, id: id, seen: seen, lost: -1}
	for k := 1; !w.stopped; k++ {
		next := start.Add(time.Duration(k) * step)
		if now := time.Now(); now.After(next) {
			// A slow read-back or reapply made us miss steps: go on from the next one.
			k = int(now.Sub(start)/step) + 1
			next = start.Add(time.Duration(k) * step)
		}
		if !next.Before(end) || sleepUntil(harm, next) != nil {
			break
		}
		w.step(harm)
	}
	_ = sleepUntil(harm, end)
	if w.lost >= 0 {
		r.mu.Lock()
		r.res.LostFaults[w.lost].Until = time.Now()
		r.mu.Unlock()
	}
	if w.action == nil {
		r.mu.Lock()
		delete(r.active, label)
		r.mu.Unlock()
	}
	return w.action, w.id
}

// step is one read-back, or, while a lost fault waits to be applied again, one attempt.
func (w *watcher) step(harm context.Context) {
	r := w.r
	if w.lost >= 0 {
		w.reapply(harm)
		return
	}
	r.sem <- struct{}{}
	vctx, cancel := context.WithTimeout(harm, readBackTimeout)
	done := r.bounded("read-back", readBackTimeout)
	v, err := w.action.Verify(vctx)
	done()
	cancel()
	<-r.sem
	switch {
	case harm.Err() != nil:
		return // stopping: the revert comes next
	case err == nil:
		w.seen = v.At
		return
	case errors.Is(err, faults.ErrNotInjected):
		w.lose(harm, v, err)
	case errors.Is(err, faults.ErrTargetGone):
		// Either the container is gone (removed, recreated under a new id: a warning,
		// as everywhere) or it restarted into a new network namespace, where the fault
		// is not. A fresh Prepare asks the engine which.
		fresh, perr := r.built[w.in.Fault].Prepare(harm, w.t)
		if fresh != nil {
			release(fresh)
		}
		if errors.Is(perr, faults.ErrTargetGone) {
			w.stopped = true
			r.warn(fmt.Sprintf("fault %q: container %s disappeared during the fault (read back at %s: %v)",
				w.in.Fault.Name, w.t.Name, v.At.Format(time.RFC3339), err))
			return
		}
		w.lose(harm, v, err)
	default:
		// The read-back itself failed (a slow engine): not a loss; said once.
		if !w.readFailed {
			w.readFailed = true
			r.warn(fmt.Sprintf("fault %q on %s: a read-back during the fault failed (the fault may or may not be in place): %v", w.in.Fault.Name, w.t.Name, err))
		}
	}
}

// lose records the loss, and, with reapply, reverts what is left of the lost action
// and applies the fault again.
func (w *watcher) lose(harm context.Context, v faults.Verification, err error) {
	r := w.r
	at := v.At
	if at.IsZero() {
		at = time.Now()
	}
	lf := result.LostFault{
		Fault: w.in.Fault.Name, Kind: w.in.Fault.Kind, Repeat: w.in.Repeat,
		Target:     result.EventTarget{Name: w.t.Name, ID: w.t.ID},
		LastSeenAt: w.seen, DetectedAt: at, Found: foundText(v, err), Reapply: w.in.Fault.Reapply, Until: at,
	}
	if len(v.Checks) > 0 {
		lf.Verification = resultVerification(v)
	}
	r.mu.Lock()
	w.lost = len(r.res.LostFaults)
	r.res.LostFaults = append(r.res.LostFaults, lf)
	r.mu.Unlock()
	msg := fmt.Sprintf("fault %q on %s was lost during its hold (read back at %s): %s", w.in.Fault.Name, w.t.Name, at.Format(time.RFC3339), lf.Found)
	r.log.Warn(msg, "fault", w.in.Fault.Name, "target", w.t.Name, "repeat", w.in.Repeat, "reapply", w.in.Fault.Reapply)
	r.progress(Update{Message: msg})
	if !w.in.Fault.Reapply {
		w.stopped = true // reported; the revert at the end undoes what is left of it
		return
	}
	// What is left of the lost action is undone first (and its journal entry closed),
	// so that the end's revert undoes the fresh action only.
	if rerr := r.revertOne(harm, w.in, w.t, w.action, w.id, time.Now(), w.label); rerr != nil {
		w.stopped = true
		w.action = nil // the journal keeps it for `faultline recover`; exit 4
		w.setReapplyError(fmt.Sprintf("not applied again: the revert of what was left of it failed: %v", rerr))
		return
	}
	w.action, w.id = nil, 0
	w.reapply(harm)
}

func (w *watcher) setReapplyError(msg string) {
	w.r.mu.Lock()
	w.r.res.LostFaults[w.lost].ReapplyError = msg
	w.r.mu.Unlock()
}

// reapply prepares the fault again on the container as it is now (a restarted one has
// a new process and network namespace), journals it, applies it and reads it back,
// like any injection. A failed attempt is tried again at the next step; a target that
// is gone ends the watch.
func (w *watcher) reapply(harm context.Context) {
	r := w.r
	in, t := w.in, w.t
	fail := func(err error) {
		w.setReapplyError(err.Error())
		if errors.Is(err, faults.ErrTargetGone) {
			w.stopped = true
		}
		r.log.Warn("lost fault not applied again", "fault", in.Fault.Name, "target", t.Name, "error", err)
	}
	r.sem <- struct{}{}
	fresh, err := r.prepare(harm, r.built[in.Fault], t)
	if err != nil {
		<-r.sem
		fail(fmt.Errorf("prepare: %w", err))
		return
	}
	rec := fresh.Record()
	if rec.Fault == "" {
		rec.Fault = in.Fault.Name
	}
	done := r.bounded("journal write", journalWriteBound)
	id, err := r.cfg.Journal.Append(rec)
	done()
	if err != nil {
		<-r.sem
		release(fresh)
		fail(fmt.Errorf("journal: %w", err))
		return
	}
	started := time.Now()
	ev := result.Event{Type: result.EventInject, Fault: in.Fault.Name, Kind: in.Fault.Kind, Repeat: in.Repeat,
		Target: result.EventTarget{Name: t.Name, ID: t.ID}, Planned: started, Started: &started, Reapply: true}
	if err := r.journalPhase(id, rec, faults.PhaseApplying, started); err != nil {
		<-r.sem
		r.notApplied(in, t, fresh, id, "its journal entry could not be marked as applying")
		fail(err)
		return
	}
	applyErr := r.apply(harm, fresh)
	<-r.sem
	ev.Actual = time.Now()
	applied := fresh.Record()
	applied.Fault = rec.Fault
	if err := r.journalPhase(id, applied, applied.Phase, ev.Actual); err != nil {
		r.warn(err.Error())
	}
	if applyErr == nil {
		vctx, cancel := context.WithTimeout(harm, readBackTimeout)
		v, verr := fresh.Verify(vctx)
		cancel()
		ev.Verification = resultVerification(v)
		if verr != nil {
			applyErr = fmt.Errorf("read-back after reapply: %w", verr)
		} else {
			w.seen = v.At
		}
	}
	if applyErr != nil {
		ev.Error, ev.TargetGone = applyErr.Error(), errors.Is(applyErr, faults.ErrTargetGone)
		r.addEvent(ev)
		// It may have changed something before failing: undone at once.
		r.revertOne(harm, in, t, fresh, id, time.Now(), w.label)
		fail(applyErr)
		return
	}
	r.addEvent(ev)
	r.mu.Lock()
	lf := &r.res.LostFaults[w.lost]
	at := w.seen
	lf.ReappliedAt, lf.Until, lf.ReapplyError = &at, at, ""
	r.active[w.label] = true
	r.mu.Unlock()
	w.action, w.id, w.lost = fresh, id, -1
	r.log.Info("lost fault applied again", "fault", in.Fault.Name, "target", t.Name, "repeat", in.Repeat)
}

// foundText says in one line what a read-back found instead of the fault.
func foundText(v faults.Verification, err error) string {
	var bad []string
	for _, c := range v.Checks {
		if !c.OK {
			bad = append(bad, fmt.Sprintf("%s: found %s, want %s", c.What, c.Found, c.Want))
		}
	}
	if len(bad) == 0 {
		return err.Error()
	}
	return strings.Join(bad, "; ")
}

// unreapplied counts the lost faults that were not applied again.
func unreapplied(res *result.Result) []result.LostFault {
	var out []result.LostFault
	for _, l := range res.LostFaults {
		if !l.Reapplied() {
			out = append(out, l)
		}
	}
	return out
}

// lostReason is the run's reason when faults were lost and not applied again.
func lostReason(res *result.Result, lost []result.LostFault) string {
	first := lost[0]
	what := fmt.Sprintf("fault %q on %s was lost at %s (%s) and not applied again", first.Fault, first.Target.Name,
		offsetOf(res, first.DetectedAt), first.Found)
	if len(lost) > 1 {
		what = fmt.Sprintf("%d faults were lost during their hold and not applied again, the first: %s", len(lost), what)
	}
	return what + ": the checks saw less than the planned fault (set reapply = true on the fault block to apply it again)"
}

// markLostChecks flags every check whose phases overlap the time a fault was lost,
// with a sentence in its reason.
func markLostChecks(res *result.Result) {
	if len(res.LostFaults) == 0 {
		return
	}
	tl := res.Timeline
	window := map[string][2]time.Time{
		result.PhaseBaseline: {tl.BaselineStart, tl.FaultStart},
		result.PhaseFault:    {tl.FaultStart, tl.FaultEnd},
		result.PhaseRecovery: {tl.FaultEnd, tl.RecoveryEnd},
	}
	for i := range res.Checks {
		c := &res.Checks[i]
		var notes []string
		for _, l := range res.LostFaults {
			hit := false
			for _, p := range c.During {
				if w, ok := window[p]; ok && l.LastSeenAt.Before(w[1]) && !l.Until.Before(w[0]) {
					hit = true
				}
			}
			if !hit {
				continue
			}
			note := fmt.Sprintf("fault %q was lost on %s between %s and %s", l.Fault, l.Target.Name, offsetOf(res, l.LastSeenAt), offsetOf(res, l.DetectedAt))
			if l.Reapplied() {
				note += fmt.Sprintf(" and applied again at %s", offsetOf(res, *l.ReappliedAt))
			} else {
				note += " and not applied again"
			}
			notes = append(notes, note)
		}
		if len(notes) > 0 {
			c.FaultLost = true
			c.Reason += " Caution: " + strings.Join(notes, "; ") + ", so this verdict saw less than the planned fault."
		}
	}
}

// offsetOf writes t as its offset from the start of the run, "+12.5s".
func offsetOf(res *result.Result, t time.Time) string {
	return "+" + t.Sub(res.StartedAt).Round(time.Millisecond).String()
}
