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
)

// action is one container fault against one container.
type action struct {
	cli    Client
	kind   string
	st     state
	target faults.Target
	rec    faults.Record
}

func (a *action) Record() faults.Record { return a.rec }

func (a *action) id() string { return a.rec.Target.ID }

func (a *action) name() string {
	if a.rec.Target.Name != "" {
		return a.rec.Target.Name
	}
	return fmt.Sprintf("%.12s", a.rec.Target.ID)
}

// gone wraps an engine's "no such container" as faults.ErrTargetGone.
func (a *action) gone(err error) error {
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("container %s (%.12s): %w", a.name(), a.id(), faults.ErrTargetGone)
	}
	return err
}

func (a *action) Apply(ctx context.Context) error {
	var err error
	switch a.kind {
	case "kill":
		// Straight to the process when faultline runs beside the engine: the engine's
		// own kill of one container takes 100 ms or more, serialised with the others.
		ok, derr := signalDirect(ctx, a.rec.Target.PID, a.id(), a.st.Signal, a.st.Signal == "SIGKILL")
		if ok {
			if derr != nil {
				return fmt.Errorf("kill %s: %w", a.name(), derr)
			}
			return nil
		}
		_, err = a.cli.ContainerKill(ctx, a.id(), client.ContainerKillOptions{Signal: a.st.Signal})
	case "stop":
		_, err = a.cli.ContainerStop(ctx, a.id(), client.ContainerStopOptions{Timeout: a.st.Seconds})
	case "restart":
		_, err = a.cli.ContainerRestart(ctx, a.id(), client.ContainerRestartOptions{Timeout: a.st.Seconds})
	case "pause":
		_, err = a.cli.ContainerPause(ctx, a.id(), client.ContainerPauseOptions{})
	case "resources":
		if a.st.Before == nil || a.st.During == nil {
			return errors.New("resources action without recorded limits")
		}
		req := squeezeRequest(*a.st.Before, *a.st.During)
		_, err = a.cli.ContainerUpdate(ctx, a.id(), client.ContainerUpdateOptions{Resources: &req})
	default:
		return fmt.Errorf("unknown container fault kind %q", a.kind)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", a.kind, a.name(), a.gone(err))
	}
	return nil
}

func (a *action) Revert(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), faults.RevertTimeout)
	defer cancel()
	var err error
	switch a.kind {
	case "restart":
		return nil // instant: nothing to undo
	case "kill":
		if !a.st.Restore {
			return nil
		}
		err = a.ensureRunning(ctx)
	case "stop":
		err = a.ensureRunning(ctx)
	case "pause":
		err = a.unpause(ctx)
	case "resources":
		err = a.restoreLimits(ctx)
	default:
		return fmt.Errorf("unknown container fault kind %q", a.kind)
	}
	if err != nil {
		return fmt.Errorf("revert %s on %s: %w", a.kind, a.name(), err)
	}
	return nil
}

func (a *action) inspect(ctx context.Context) (client.ContainerInspectResult, error) {
	var res client.ContainerInspectResult
	err := retry(ctx, func() error {
		var err error
		res, err = a.cli.ContainerInspect(ctx, a.id(), client.ContainerInspectOptions{})
		return err
	})
	if err == nil && res.Container.State == nil {
		err = errors.New("the engine reported no state")
	}
	return res, a.gone(err)
}

// ensureRunning starts the container unless it runs, or its restart policy is bringing it back.
func (a *action) ensureRunning(ctx context.Context) error {
	res, err := a.inspect(ctx)
	if err != nil {
		return err
	}
	if a.kind == "kill" && a.st.Signal == "SIGKILL" {
		// A SIGKILLed process is dead even while the engine still reports it running:
		// wait for the engine to notice, or the container would be left stopped.
		if res, err = a.settleKilled(ctx, res); err != nil {
			return err
		}
	}
	if s := res.Container.State; s.Running || s.Restarting {
		return nil
	}
	err = retry(ctx, func() error {
		_, err := a.cli.ContainerStart(ctx, a.id(), client.ContainerStartOptions{})
		return err
	})
	if err == nil {
		return nil
	}
	// A restart policy may have won the race: what matters is that it runs.
	if res, ierr := a.inspect(ctx); ierr == nil && (res.Container.State.Running || res.Container.State.Restarting) {
		return nil
	}
	return a.gone(err)
}

// killSettle bounds how long a revert waits for the engine to notice that the process
// a SIGKILL hit is dead.
const killSettle = 10 * time.Second

// settleKilled inspects again until the engine no longer reports the killed process
// (the recorded PID) as the container's running one.
func (a *action) settleKilled(ctx context.Context, res client.ContainerInspectResult) (client.ContainerInspectResult, error) {
	deadline := time.Now().Add(killSettle)
	for {
		s := res.Container.State
		if !s.Running || s.Pid != a.rec.Target.PID || a.rec.Target.PID == 0 || time.Now().After(deadline) {
			return res, nil
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, ctx.Err()
		case <-t.C:
		}
		var err error
		if res, err = a.inspect(ctx); err != nil {
			return res, err
		}
	}
}

func (a *action) unpause(ctx context.Context) error {
	res, err := a.inspect(ctx)
	if err != nil {
		return err
	}
	if !res.Container.State.Paused {
		return nil
	}
	err = retry(ctx, func() error {
		_, err := a.cli.ContainerUnpause(ctx, a.id(), client.ContainerUnpauseOptions{})
		return err
	})
	if err != nil && cerrdefs.IsConflict(err) {
		if res, ierr := a.inspect(ctx); ierr == nil && !res.Container.State.Paused {
			return nil // unpaused meanwhile
		}
	}
	return a.gone(err)
}

func (a *action) restoreLimits(ctx context.Context) error {
	if a.st.Before == nil {
		return errors.New("no earlier limits recorded")
	}
	res, err := a.inspect(ctx)
	if err != nil {
		return err
	}
	if res.Container.HostConfig == nil {
		return errors.New("the engine reported no host configuration")
	}
	now := limitsOf(res.Container.HostConfig.Resources)
	if Equivalent(now, *a.st.Before) {
		return nil // never applied, or already restored
	}
	for _, req := range restoreRequests(*a.st.Before, now) {
		err = retry(ctx, func() error {
			_, err := a.cli.ContainerUpdate(ctx, a.id(), client.ContainerUpdateOptions{Resources: &req})
			return err
		})
		if err != nil {
			return a.gone(err)
		}
	}
	return nil
}

// Backoff of retried engine calls: 100 ms doubling up to 2 s, at most maxAttempts tries.
const (
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 2 * time.Second
	maxAttempts  = 6
)

// retry calls fn until it succeeds, fails for good, or ctx ends. Only transient engine
// errors (connection trouble, 5xx, unavailable) are retried.
func retry(ctx context.Context, fn func() error) error {
	wait := firstBackoff
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !transient(err) || attempt == maxAttempts {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up after %d attempts: %w)", err, attempt, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
	}
}

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
	default:
		return nil, fmt.Errorf("record kind %q is not a container fault", rec.Kind)
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
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, a := range actions {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(a, ctx)
		}()
	}
	wg.Wait()
	return errs
}
