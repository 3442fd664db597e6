package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/result"
)

// PrepareLead is how long before its planned start an injection inspects its targets
// and journals them, so that at the planned start only Apply is left to do.
const PrepareLead = 2 * time.Second

// journalWriteBound is how long one synced journal write may take before the run
// counts as hung (a disk that no longer answers).
const journalWriteBound = 10 * time.Second

// inject runs one planned injection on every target of its block in parallel:
// Prepare -> journal ahead of time (PrepareLead, once earlier faults on the same
// container are done), Apply at its start; at its end (or when harm stops) Revert ->
// journal completion.
func (r *run) inject(harm context.Context, idx int) {
	in := r.plan.Injections[idx]
	targets := r.plan.Targets[in.Fault.Target]
	prepareAt := r.t0.Add(in.Start - PrepareLead)
	if prepareAt.Before(r.t0) {
		prepareAt = r.t0
	}
	if err := sleepUntil(harm, prepareAt); err != nil {
		for _, t := range targets {
			close(r.settled[idx][t.ID])
		}
		r.log.Info("not injected: the run stopped first", "fault", in.Fault.Name, "repeat", in.Repeat)
		return
	}
	if len(targets) == 0 {
		r.warn(fmt.Sprintf("fault %q: target %q has no container; nothing injected", in.Fault.Name, in.Fault.Target))
		return
	}
	// Every target is hit before any is reverted: the reverts of a fault that ends as
	// it starts (a kill whose restore starts the container again) must not take the
	// slots that the injections of its later targets wait for.
	var applying sync.WaitGroup
	applying.Add(len(targets))
	allApplied := make(chan struct{})
	go func() { applying.Wait(); close(allApplied) }()
	done := make(chan struct{}, len(targets))
	for _, t := range targets {
		go func() {
			applied := sync.OnceFunc(applying.Done)
			defer func() { done <- struct{}{} }()
			defer close(r.settled[idx][t.ID])
			defer applied()
			if !r.waitEarlier(harm, idx, t) {
				r.log.Info("not injected: the run stopped first", "fault", in.Fault.Name, "repeat", in.Repeat, "target", t.Name)
				return
			}
			r.hit(harm, in, t, applied, allApplied)
		}()
	}
	for range targets {
		<-done
	}
}

// waitEarlier waits until every injection planned before idx that ends by its start
// is done with container t: a fault that starts as another one on the same container
// ends must not inspect it while the other's revert (a container start, say) still
// runs. It reports false when harm stopped first.
func (r *run) waitEarlier(harm context.Context, idx int, t faults.Target) bool {
	in := r.plan.Injections[idx]
	for i, prev := range r.plan.Injections {
		ch, ok := r.settled[i][t.ID]
		if !ok || i == idx || prev.End > in.Start || prev.Start > in.Start || (prev.Start == in.Start && i > idx) {
			continue
		}
		select {
		case <-ch:
		case <-harm.Done():
			return false
		}
	}
	return true
}

// release frees what an action that is never applied holds since Prepare.
func release(a faults.Action) {
	if r, ok := a.(faults.Releaser); ok {
		r.Release()
	}
}

// hit is one injection on one target. It calls applied once its Apply returned, and
// reverts only after allApplied (or when harm stops).
func (r *run) hit(harm context.Context, in experiments.Injection, t faults.Target, applied func(), allApplied <-chan struct{}) {
	f := r.built[in.Fault]
	plannedStart, plannedEnd := r.t0.Add(in.Start), r.t0.Add(in.End)
	ev := result.Event{Type: result.EventInject, Fault: in.Fault.Name, Kind: in.Fault.Kind, Repeat: in.Repeat,
		Target: result.EventTarget{Name: t.Name, ID: t.ID}, Planned: plannedStart}
	label := fmt.Sprintf("%s on %s", in.Fault.Name, t.Name)

	r.sem <- struct{}{} // Prepare and journal
	action, err := r.prepare(harm, f, t)
	if err != nil {
		<-r.sem
		ev.Actual, ev.Error = time.Now(), err.Error()
		if errors.Is(err, faults.ErrTargetGone) {
			ev.TargetGone = true
			r.addEvent(ev)
			r.warn(fmt.Sprintf("fault %q not injected: container %s is gone", in.Fault.Name, t.Name))
			return
		}
		r.addEvent(ev)
		r.failInjection(label, err)
		return
	}
	rec := action.Record()
	if rec.Fault == "" {
		rec.Fault = in.Fault.Name // for recover's messages: the kinds know only themselves
	}
	if w, ok := action.(faults.Warner); ok {
		for _, msg := range w.Warnings() {
			r.warnOnce(fmt.Sprintf("fault %q on %s: %s", in.Fault.Name, t.Name, msg))
		}
	}
	id := 0
	if r.cfg.Journal != nil {
		if err := r.armLease(); err != nil {
			<-r.sem
			release(action)
			ev.Actual, ev.Error = time.Now(), "not injected: "+err.Error()
			r.addEvent(ev)
			r.failInjection(label, fmt.Errorf("watchdog: %w", err))
			return
		}
		done := r.bounded("journal write", journalWriteBound)
		id, err = r.cfg.Journal.Append(rec)
		done()
		if err != nil {
			<-r.sem
			release(action)
			ev.Actual, ev.Error = time.Now(), "not injected: "+err.Error()
			r.addEvent(ev)
			r.failInjection(label, fmt.Errorf("journal: %w", err))
			return
		}
	}
	<-r.sem
	if err := sleepUntil(harm, plannedStart); err != nil {
		// Stopped before the planned start: nothing was applied.
		r.notApplied(in, t, action, id, "the run stopped first")
		r.log.Info("not injected: the run stopped first", "fault", in.Fault.Name, "repeat", in.Repeat, "target", t.Name)
		return
	}
	r.sem <- struct{}{} // Apply
	started := time.Now()
	ev.Started = &started
	var applyErr error
	if !r.cfg.DryRun {
		if err := r.journalPhase(id, rec, faults.PhaseApplying, started); err != nil {
			<-r.sem
			r.notApplied(in, t, action, id, "its journal entry could not be marked as applying")
			ev.Actual, ev.Error = time.Now(), "not injected: "+err.Error()
			r.addEvent(ev)
			r.failInjection(label, err)
			return
		}
		applyErr = r.apply(harm, action)
	}
	<-r.sem
	ev.Actual = time.Now()
	if !r.cfg.DryRun {
		done := action.Record()
		done.Fault = rec.Fault
		if err := r.journalPhase(id, done, done.Phase, ev.Actual); err != nil {
			r.warn(err.Error())
		}
		if applyErr == nil {
			// A fault counts only once it reads back from the system.
			v, err := r.readBack(harm, action)
			ev.Verification = resultVerification(v)
			if err != nil {
				applyErr = fmt.Errorf("read-back after apply: %w", err)
			}
		}
	}
	if rt, ok := action.(faults.Router); ok {
		var fallback string
		if ev.Via, fallback = rt.Via(); ev.Via != "" {
			r.log.Debug("applied", "fault", in.Fault.Name, "target", t.Name, "via", ev.Via, "fallback", fallback)
		}
	}
	r.mu.Lock()
	r.injected++
	r.active[label] = true
	r.mu.Unlock()
	switch {
	case applyErr == nil:
		r.log.Info("injected", "fault", in.Fault.Name, "kind", in.Fault.Kind, "target", t.Name, "repeat", in.Repeat,
			"delay", started.Sub(plannedStart).Round(time.Millisecond), "took", ev.Actual.Sub(started).Round(time.Millisecond))
	case errors.Is(applyErr, faults.ErrTargetGone):
		ev.Error, ev.TargetGone = applyErr.Error(), true
		r.warn(fmt.Sprintf("fault %q: container %s is gone; nothing injected", in.Fault.Name, t.Name))
	case harm.Err() != nil:
		ev.Error = applyErr.Error()
		r.log.Warn("injection cut short by the stop", "fault", in.Fault.Name, "target", t.Name, "error", applyErr)
	default:
		ev.Error = applyErr.Error()
		r.failInjection(label, applyErr)
	}
	r.addEvent(ev)
	applied()

	// Every target is hit before any is reverted (see inject); an early stop goes on at once.
	select {
	case <-allApplied:
	case <-harm.Done():
	}
	// Hold until the planned end, reading the fault back every step (watch.go); an
	// early stop reverts at once. Even a failed Apply is reverted: it may have changed
	// something before failing.
	watch := applyErr == nil && !r.cfg.DryRun && ev.Verification != nil
	var seen time.Time
	if watch {
		seen = ev.Verification.At
	}
	if action, id = r.hold(harm, in, t, action, id, watch, seen, label); action != nil {
		r.revertOne(harm, in, t, action, id, plannedEnd, label)
	}
}

// notApplied releases an action that was journaled but will never be applied, and
// completes its entry so that recover does not look for it.
func (r *run) notApplied(in experiments.Injection, t faults.Target, action faults.Action, id int, why string) {
	release(action)
	if r.cfg.Journal == nil {
		return
	}
	if err := r.cfg.Journal.Complete(id, "not applied: "+why); err != nil {
		r.warn(fmt.Sprintf("fault %q on %s was never applied (%s) but its journal entry could not be completed: %v; `faultline recover` will find it and revert nothing", in.Fault.Name, t.Name, why, err))
	}
}

// prepare, apply and readBack are the action's calls with their deadlines: a hung
// engine or kernel call fails the injection (and a run stuck past a deadline stops
// renewing its watchdog's lease) instead of holding every fault of the run.
func (r *run) prepare(harm context.Context, f faults.Fault, t faults.Target) (faults.Action, error) {
	ctx, cancel := context.WithTimeout(harm, faults.ApplyTimeout)
	defer cancel()
	done := r.bounded("prepare", faults.ApplyTimeout)
	defer done()
	return f.Prepare(ctx, t)
}

func (r *run) apply(harm context.Context, a faults.Action) error {
	bound := faults.ApplyBound(a)
	ctx, cancel := context.WithTimeout(harm, bound)
	defer cancel()
	done := r.bounded("apply", bound)
	defer done()
	if err := a.Apply(ctx); err != nil {
		if ctx.Err() == context.DeadlineExceeded && harm.Err() == nil {
			return fmt.Errorf("no answer within %s (is the Docker Engine responsive? `docker info` tells): %w", bound, err)
		}
		return err
	}
	return nil
}

func (r *run) readBack(harm context.Context, a faults.Action) (faults.Verification, error) {
	ctx, cancel := context.WithTimeout(harm, readBackTimeout)
	defer cancel()
	done := r.bounded("read-back", readBackTimeout)
	defer done()
	return a.Verify(ctx)
}

// revertOne reverts one action and journals it; the error is nil when it read back
// clean or its target is gone.
func (r *run) revertOne(ctx context.Context, in experiments.Injection, t faults.Target, action faults.Action, id int, planned time.Time, label string) error {
	ev := result.Event{Type: result.EventRevert, Fault: in.Fault.Name, Kind: in.Fault.Kind, Repeat: in.Repeat,
		Target: result.EventTarget{Name: t.Name, ID: t.ID}, Planned: planned}
	r.sem <- struct{}{}
	started := time.Now()
	ev.Started = &started
	var err error
	if r.cfg.DryRun {
		release(action) // nothing was applied, nothing to revert
	} else {
		// Revert ends with its own read-back: a revert that does not read back clean
		// fails. This one is for the report, on a context that survives the stop.
		err = r.revert(ctx, action)
		if err == nil {
			vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), faults.RevertTimeout)
			v, verr := action.Verify(vctx)
			cancel()
			ev.Verification = resultVerification(v)
			if verr != nil && !errors.Is(verr, faults.ErrTargetGone) {
				err = fmt.Errorf("read-back after revert: %w", verr)
			}
		}
	}
	<-r.sem
	ev.Actual = time.Now()
	r.mu.Lock()
	delete(r.active, label)
	r.mu.Unlock()
	note := "reverted"
	switch {
	case err == nil:
		r.log.Info("reverted", "fault", in.Fault.Name, "target", t.Name, "repeat", in.Repeat)
	case errors.Is(err, faults.ErrTargetGone):
		ev.TargetGone, ev.Error, note = true, err.Error(), "target gone"
		r.warn(fmt.Sprintf("fault %q: container %s disappeared or was recreated during the fault; nothing to revert", in.Fault.Name, t.Name))
	default:
		ev.Error = err.Error()
		r.mu.Lock()
		r.revertFailed++
		r.mu.Unlock()
		r.log.Error("revert failed: the journal keeps it for `faultline recover`", "fault", in.Fault.Name, "target", t.Name, "error", err)
		r.addEvent(ev)
		return err
	}
	if r.cfg.Journal != nil {
		done := r.bounded("journal write", journalWriteBound)
		jerr := r.cfg.Journal.Complete(id, note)
		done()
		if jerr != nil {
			// The fault is reverted; a stale entry only makes recover revert it again,
			// which is idempotent.
			r.warn(fmt.Sprintf("fault %q on %s was reverted but its journal entry could not be completed: %v", in.Fault.Name, t.Name, jerr))
		}
	}
	r.addEvent(ev)
	return nil
}

// revert reverts on a context that survives the run's cancellation, bounded by
// faults.RevertBound. It is one attempt: the action retries its own steps from one
// budget (faults.Budget), so retrying here too would multiply the attempts and the
// worst-case time.
func (r *run) revert(ctx context.Context, a faults.Action) error {
	bound := faults.RevertBound(a)
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bound)
	defer cancel()
	done := r.bounded("revert", bound)
	defer done()
	return a.Revert(actx)
}

// resultVerification is a read-back in the Result's own types.
func resultVerification(v faults.Verification) *result.Verification {
	out := &result.Verification{At: v.At, Checks: make([]result.Check, len(v.Checks))}
	for i, c := range v.Checks {
		out.Checks[i] = result.Check{What: c.What, Want: c.Want, Found: c.Found, OK: c.OK}
	}
	return out
}

// phaseJournal is implemented by journals that can record how far an action's Apply
// got (journal.Journal), so that a revert after a crash undoes only what was done.
type phaseJournal interface {
	Update(id int, rec faults.Record) error
}

// journalPhase records rec in the given phase. The caller decides what a failure
// means: before Apply it forbids the Apply (an entry left "prepared" is revived as
// never applied, so a crash would leave the fault in place); after it, the entry
// keeps "applying", which only makes a recover more careful.
func (r *run) journalPhase(id int, rec faults.Record, phase string, at time.Time) error {
	j, ok := r.cfg.Journal.(phaseJournal)
	if !ok || id == 0 {
		return nil
	}
	rec.Phase, rec.PhaseAt = phase, &at
	if err := j.Update(id, rec); err != nil {
		return fmt.Errorf("fault %q on %s: journal: %w", rec.Fault, rec.Target.Name, err)
	}
	return nil
}

// failInjection stops harm: a fault that cannot be injected makes the experiment
// meaningless, and the others must not go on without it.
func (r *run) failInjection(label string, err error) {
	r.stopHarm(&stopCause{status: result.StatusError, reason: fmt.Sprintf("injection of %s failed: %v", label, err)})
}

func (r *run) addEvent(ev result.Event) {
	r.mu.Lock()
	r.res.Events = append(r.res.Events, ev)
	r.mu.Unlock()
	r.progress(Update{Event: &ev})
}
