package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/faultline/faultline/faults"
	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"
)

// action is one container fault against one container. Its methods may be called from
// different goroutines (an abort reverts while Apply runs), so they serialise.
type action struct {
	mu     sync.Mutex
	cli    Client
	kind   string
	st     state
	target faults.Target
	rec    faults.Record
	// reverted is set once Revert read back clean: Verify then expects nothing of ours.
	reverted bool
	// now is the clock of the settle windows (time.Now; a test may shift it).
	now func() time.Time
	// via is how Apply reached the target (faults.ViaPidfd or faults.ViaEngine), and
	// fallback why a kill did not signal the process directly.
	via, fallback string
}

func (a *action) Record() faults.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.recordLocked()
}

func (a *action) recordLocked() faults.Record {
	rec := a.rec
	raw, _ := json.Marshal(a.st) // plain values: cannot fail
	rec.State = raw
	if a.st.Outcome != "" {
		rec.Phase = faults.PhaseApplied
	}
	return rec
}

// Via reports how a kill reached the process (faults.Router); other kinds always go
// through the engine and report nothing.
func (a *action) Via() (via, fallback string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.via, a.fallback
}

func (a *action) id() string { return a.rec.Target.ID }

func (a *action) name() string {
	if a.rec.Target.Name != "" {
		return a.rec.Target.Name
	}
	return fmt.Sprintf("%.12s", a.rec.Target.ID)
}

func (a *action) clock() time.Time {
	if a.now != nil {
		return a.now()
	}
	return time.Now()
}

// gone wraps an engine's "no such container" as faults.ErrTargetGone.
func (a *action) gone(err error) error {
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("container %s (%.12s): %w", a.name(), a.id(), faults.ErrTargetGone)
	}
	return err
}

func (a *action) Apply(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.st.Outcome != "" {
		return fmt.Errorf("%s %s: already applied once (%s): an action is applied at most once", a.kind, a.name(), a.st.Outcome)
	}
	sent := a.clock()
	a.st.AppliedAt = &sent
	err := a.send(ctx)
	a.st.Outcome = outcomeOf(err)
	if err != nil {
		return fmt.Errorf("%s %s: %w", a.kind, a.name(), a.gone(err))
	}
	return nil
}

// send makes Apply's one engine call (or, for kill, the direct signal).
func (a *action) send(ctx context.Context) error {
	var err error
	switch a.kind {
	case "kill":
		// Straight to the process when faultline runs beside the engine: the engine's
		// own kill of one container takes 100 ms or more, serialised with the others.
		sent, why, derr := signalDirect(ctx, a.rec.Target.PID, a.id(), a.st.Signal, a.st.Signal == "SIGKILL")
		if sent {
			a.via, a.fallback = faults.ViaPidfd, ""
			if derr != nil && !errors.Is(derr, errSignalledAlive) {
				// Not sent: the kernel refused it, so nothing changed.
				return cerrdefs.ErrFailedPrecondition.WithMessage(derr.Error())
			}
			return nil // sent; a process that outlives the wait is the read-back's business
		}
		a.via, a.fallback = faults.ViaEngine, why
		_, err = a.cli.ContainerKill(ctx, a.id(), client.ContainerKillOptions{Signal: a.st.Signal})
	case "stop":
		_, err = a.cli.ContainerStop(ctx, a.id(), client.ContainerStopOptions{Timeout: a.st.Seconds})
	case "restart":
		_, err = a.cli.ContainerRestart(ctx, a.id(), client.ContainerRestartOptions{Timeout: a.st.Seconds})
	case "pause":
		_, err = a.cli.ContainerPause(ctx, a.id(), client.ContainerPauseOptions{})
	case "resources":
		if a.st.Before == nil || a.st.During == nil {
			return cerrdefs.ErrInvalidArgument.WithMessage("resources action without recorded limits")
		}
		req := squeezeRequest(*a.st.Before, *a.st.During)
		_, err = a.cli.ContainerUpdate(ctx, a.id(), client.ContainerUpdateOptions{Resources: &req})
	default:
		return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unknown container fault kind %q", a.kind))
	}
	return err
}

// touched reports whether Apply may have changed the container: its call was done, or
// was cut short while the engine may still carry it out.
func (a *action) touched() bool {
	return a.st.Outcome == outcomeDone || a.st.Outcome == interrupted
}

// needsRevert reports whether the kind leaves something to undo at all.
func (a *action) needsRevert() bool {
	switch a.kind {
	case "restart":
		return false
	case "kill":
		return a.st.Restore
	}
	return true
}

// ApplyBound: a stop or restart waits out its grace period before the engine answers.
func (a *action) ApplyBound() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	if (a.kind == "stop" || a.kind == "restart") && a.st.Seconds != nil {
		return time.Duration(*a.st.Seconds)*time.Second + faults.ApplyTimeout
	}
	return faults.ApplyTimeout
}

// RevertBound: the revert of a kill or stop first waits for it to take effect
// (settleBy), which for a stop interrupted early in a long grace is most of the grace.
func (a *action) RevertBound() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.revertBound()
}

func (a *action) revertBound() time.Duration {
	if a.kind == "kill" || a.kind == "stop" {
		return max(a.settleBy().Sub(a.clock()), 0) + faults.RevertTimeout
	}
	return faults.RevertTimeout
}

func (a *action) Revert(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.revertBound())
	defer cancel()
	if !a.touched() || !a.needsRevert() {
		// Never applied, refused by the engine, or nothing to undo: touching the
		// container now could only undo what someone else did.
		a.reverted = true
		return nil
	}
	b := faults.NewBudget(maxAttempts, firstBackoff, maxBackoff)
	var err error
	switch a.kind {
	case "kill", "stop":
		err = a.ensureRunning(ctx, b)
	case "pause":
		err = a.unpause(ctx, b)
	case "resources":
		err = a.restoreLimits(ctx, b)
	default:
		err = fmt.Errorf("unknown container fault kind %q", a.kind)
	}
	if err == nil {
		a.reverted = true
		err = a.readBackClean(ctx, b)
		if err != nil {
			a.reverted = false
		}
	}
	if err != nil {
		return fmt.Errorf("revert %s on %s: %w", a.kind, a.name(), err)
	}
	return nil
}

// readBackClean is the revert's read-back. For a pause it is judged over pauseSettle:
// the engine's record can flip to paused for a moment even after reading unpaused (see
// unpause), and the event for the unpause clears it again.
func (a *action) readBackClean(ctx context.Context, b *faults.Budget) error {
	deadline := a.clock().Add(pauseSettle)
	for {
		v, err := a.readBack(ctx, b)
		if err == nil {
			err = v.Mismatch(faults.ErrNotClean)
		}
		if err == nil || a.kind != "pause" || !errors.Is(err, faults.ErrNotClean) || !a.clock().Before(deadline) {
			return err
		}
		if serr := sleepCtx(ctx, pollEvery); serr != nil {
			return err
		}
	}
}

func (a *action) inspect(ctx context.Context, b *faults.Budget) (client.ContainerInspectResult, error) {
	var res client.ContainerInspectResult
	err := b.Do(ctx, transient, func() error {
		var err error
		res, err = a.cli.ContainerInspect(ctx, a.id(), client.ContainerInspectOptions{})
		return err
	})
	if err == nil && res.Container.State == nil {
		err = errors.New("the engine reported no state")
	}
	return res, a.gone(err)
}

// Settle windows: how long a revert waits for a signal or stop it sent (or that was
// interrupted in flight) to take effect before it judges the container's state.
const (
	// killSettle bounds the wait for a killed process to die and the engine to notice.
	killSettle = 10 * time.Second
	// pauseSettle bounds the wait for the engine's record to catch up with an unpause.
	pauseSettle = 2 * time.Second
	// pollEvery is the pace of those waits.
	pollEvery = 20 * time.Millisecond
)

// settleBy is when the container must have gone down if this action's kill or stop is
// to bring it down at all: the stop's grace period (the engine sends SIGKILL after it)
// or nothing for a signal, plus killSettle, from when Apply sent it.
func (a *action) settleBy() time.Time {
	from := a.clock()
	if a.st.AppliedAt != nil {
		from = *a.st.AppliedAt
	}
	wait := killSettle
	if a.kind == "stop" && a.st.Seconds != nil {
		wait += time.Duration(*a.st.Seconds) * time.Second
	}
	return from.Add(wait)
}

// ensureRunning starts the container again unless it runs, or its restart policy is
// bringing it back. It first waits for this action's kill or stop to take effect: a
// stop interrupted in its grace period goes on in the engine, and a SIGTERM may take
// seconds to end the process; judging earlier would find it running, do nothing, and
// leave it to die moments later.
func (a *action) ensureRunning(ctx context.Context, b *faults.Budget) error {
	res, err := a.settleDown(ctx, b)
	if err != nil {
		return err
	}
	if s := res.Container.State; !s.Running && !s.Restarting {
		err = b.Do(ctx, transient, func() error {
			_, err := a.cli.ContainerStart(ctx, a.id(), client.ContainerStartOptions{})
			return err
		})
		if err != nil {
			// A restart policy may have won the race: what matters is that it runs.
			if res, ierr := a.inspect(ctx, b); ierr != nil || !(res.Container.State.Running || res.Container.State.Restarting) {
				return a.gone(err)
			}
		}
	}
	return a.settleUp(ctx, b)
}

// settleDown inspects until the process this action signalled or stopped is no longer
// the container's running one, or until settleBy. The wait is over at once when the
// container restarted (a new PID or start time), is not running, or the action's
// signal is not one that must end it (SIGKILL must; the stop's SIGTERM is followed by
// the engine's SIGKILL; any other signal may be handled, so its window applies only
// while Apply's call was fresh).
func (a *action) settleDown(ctx context.Context, b *faults.Budget) (client.ContainerInspectResult, error) {
	deadline := a.settleBy()
	for {
		res, err := a.inspect(ctx, b)
		if err != nil {
			return res, err
		}
		s := res.Container.State
		same := s.Running && (a.rec.Target.PID == 0 || s.Pid == a.rec.Target.PID) && (a.st.StartedAt == "" || s.StartedAt == a.st.StartedAt)
		if !same || !a.clock().Before(deadline) {
			return res, nil
		}
		if err := sleepCtx(ctx, pollEvery); err != nil {
			return res, fmt.Errorf("waiting for %s of %s to take effect: %w", a.kind, a.name(), err)
		}
	}
}

// settleUp waits, bounded by killSettle, while the engine is restarting the container
// (a restart policy), so that the read-back sees it running rather than on its way.
func (a *action) settleUp(ctx context.Context, b *faults.Budget) error {
	deadline := a.clock().Add(killSettle)
	for {
		res, err := a.inspect(ctx, b)
		if err != nil {
			return err
		}
		if s := res.Container.State; !s.Restarting || !a.clock().Before(deadline) {
			return nil
		}
		if err := sleepCtx(ctx, pollEvery); err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// unpause unpauses the container unless it is already, then waits, bounded by
// pauseSettle, for the engine to report it so: the engine's record of a container paused
// a moment ago can read paused again after a successful unpause, because the engine sets
// the state on the call and again on containerd's event for the pause, which arrives
// late on a loaded machine (the event for the unpause then clears it). A record still
// paused after the window gets one more unpause, for a container paused again meanwhile;
// the read-back then reports what the engine says.
func (a *action) unpause(ctx context.Context, b *faults.Budget) error {
	calls := 0
	var settled time.Time
	for {
		res, err := a.inspect(ctx, b)
		if err != nil {
			return err
		}
		if !res.Container.State.Paused {
			return nil
		}
		if calls > 0 && a.clock().Before(settled) {
			if err := sleepCtx(ctx, pollEvery); err != nil {
				return fmt.Errorf("waiting for the engine to report %s unpaused: %w", a.name(), err)
			}
			continue
		}
		if calls == 2 {
			return nil
		}
		calls++
		err = b.Do(ctx, transient, func() error {
			_, err := a.cli.ContainerUnpause(ctx, a.id(), client.ContainerUnpauseOptions{})
			return err
		})
		if err != nil && !cerrdefs.IsConflict(err) {
			// A conflict is the engine's "not paused": the next inspect tells.
			return a.gone(err)
		}
		settled = a.clock().Add(pauseSettle)
	}
}

func (a *action) restoreLimits(ctx context.Context, b *faults.Budget) error {
	if a.st.Before == nil || a.st.During == nil {
		return errors.New("no earlier limits recorded")
	}
	res, err := a.inspect(ctx, b)
	if err != nil {
		return err
	}
	if res.Container.HostConfig == nil {
		return errors.New("the engine reported no host configuration")
	}
	now := limitsOf(res.Container.HostConfig.Resources)
	switch {
	case Equivalent(now, *a.st.Before):
		return nil // never took effect, or already restored
	case !Equivalent(now, *a.st.During):
		// Someone changed them since: restoring would undo their change.
		return fmt.Errorf("%w: the limits were changed by someone else during the fault (found %s, faultline set %s): left alone; restore them by hand if needed (earlier: %s)",
			faults.ErrNotClean, describeLimits(now), describeLimits(*a.st.During), describeLimits(*a.st.Before))
	}
	for _, req := range restoreRequests(*a.st.Before, now) {
		err = b.Do(ctx, transient, func() error {
			_, err := a.cli.ContainerUpdate(ctx, a.id(), client.ContainerUpdateOptions{Resources: &req})
			return err
		})
		if err != nil {
			return a.gone(err)
		}
	}
	return nil
}

// Backoff of retried engine calls: 100 ms doubling up to 2 s, at most maxAttempts
// calls for all the steps of one revert together.
const (
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 2 * time.Second
	maxAttempts  = 8
)

func transient(err error) bool {
	switch {
	case cerrdefs.IsNotFound(err), cerrdefs.IsConflict(err), cerrdefs.IsInvalidArgument(err),
		cerrdefs.IsPermissionDenied(err), cerrdefs.IsNotModified(err):
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	return client.IsErrConnectionFailed(err) || cerrdefs.IsUnavailable(err) || cerrdefs.IsInternal(err) || cerrdefs.IsUnknown(err)
}

// NewReviver returns the Reviver that rebuilds container actions from their records.
func NewReviver(cli Client) faults.Reviver { return reviver{cli: cli} }

type reviver struct{ cli Client }

// Revive rebuilds an action from its record. The record's phase decides what its
// revert may undo: nothing when Apply never started (a crash in the window between the
// journal entry and the planned start), what Apply recorded it did when it returned,
// and, when it was cut off in between, whatever reads back as this fault.
func (r reviver) Revive(rec faults.Record) (faults.Action, error) {
	if rec.Target.ID == "" {
		return nil, errors.New("record has no container id")
	}
	var st state
	if len(rec.State) > 0 {
		if err := json.Unmarshal(rec.State, &st); err != nil {
			return nil, fmt.Errorf("record of %s on %s: state: %w", rec.Kind, rec.Target.Name, err)
		}
	}
	switch rec.Kind {
	case "kill", "stop", "pause", "restart":
	case "resources":
		if st.Before == nil {
			return nil, fmt.Errorf("record of resources on %s holds no earlier limits", rec.Target.Name)
		}
		if st.During == nil {
			return nil, fmt.Errorf("record of resources on %s holds no squeezed limits: cannot tell faultline's from someone else's", rec.Target.Name)
		}
	default:
		return nil, fmt.Errorf("record kind %q is not a container fault", rec.Kind)
	}
	switch {
	case rec.Phase == faults.PhasePrepared:
		st.Outcome = ""
	case rec.Uncertain():
		st.Outcome = interrupted
		if st.AppliedAt == nil {
			st.AppliedAt = rec.PhaseAt
		}
	case st.Outcome == "":
		st.Outcome = interrupted // an applied record without its outcome: assume the worst
	}
	return &action{cli: r.cli, kind: rec.Kind, st: st, rec: rec,
		target: faults.Target{ID: rec.Target.ID, Name: rec.Target.Name, PID: rec.Target.PID}}, nil
}

// DefaultParallelism bounds how many engine calls ApplyAll and RevertAll make at once.
const DefaultParallelism = faults.Parallelism

// ApplyAll applies every action, at most limit at once (DefaultParallelism when
// limit < 1), and returns each action's error (nil on success) in order.
func ApplyAll(ctx context.Context, actions []faults.Action, limit int) []error {
	return forEach(ctx, actions, limit, faults.Action.Apply)
}

// RevertAll reverts every action like ApplyAll. Reverts survive ctx's cancellation.
func RevertAll(ctx context.Context, actions []faults.Action, limit int) []error {
	return forEach(ctx, actions, limit, faults.Action.Revert)
}

func forEach(ctx context.Context, actions []faults.Action, limit int, fn func(faults.Action, context.Context) error) []error {
	if limit < 1 {
		limit = DefaultParallelism
	}
	errs := make([]error, len(actions))
	var g errgroup.Group // not WithContext: one action's failure must not cancel the others
	g.SetLimit(limit)
	for i, a := range actions {
		g.Go(func() error {
			errs[i] = fn(a, ctx)
			return nil
		})
	}
	_ = g.Wait()
	return errs
}
