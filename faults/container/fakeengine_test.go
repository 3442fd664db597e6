package container

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/faultline/faultline/faults"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// lateEngine is an engine whose record of a container reads paused for a while after
// an unpause, as dockerd's does when containerd's event for the pause arrives after the
// unpause call: after each unpause, first inspects read unpaused, then lag read paused
// (-1: for ever).
type lateEngine struct {
	Client   // only the calls below are made
	mu       sync.Mutex
	paused   bool
	first    int
	lag      int
	before   int
	left     int
	unpauses int
}

func (e *lateEngine) ContainerInspect(context.Context, string, client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	paused := e.paused
	if !paused && e.before > 0 {
		e.before--
	} else if !paused && e.left != 0 {
		paused = true
		e.left--
	}
	status := container.StateRunning
	if paused {
		status = container.StatePaused
	}
	return client.ContainerInspectResult{Container: container.InspectResponse{
		ID: "c0ffee", Name: "/late",
		State: &container.State{Running: true, Paused: paused, Pid: 42, Status: status},
	}}, nil
}

func (e *lateEngine) ContainerPause(context.Context, string, client.ContainerPauseOptions) (client.ContainerPauseResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.paused = true
	return client.ContainerPauseResult{}, nil
}

func (e *lateEngine) ContainerUnpause(context.Context, string, client.ContainerUnpauseOptions) (client.ContainerUnpauseResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.unpauses++
	if !e.paused {
		return client.ContainerUnpauseResult{}, cerrdefs.ErrConflict.WithMessage("container is not paused")
	}
	e.paused, e.before, e.left = false, e.first, e.lag
	return client.ContainerUnpauseResult{}, nil
}

func TestPauseRevertWaitsForTheEnginesLateRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		first, lag   int
		wantUnpauses int
		wantErr      error
	}{
		{"the record catches up", 0, 5, 1, nil},
		{"the record flips after reading unpaused", 1, 5, 1, nil},
		{"the record stays paused", 0, -1, 2, faults.ErrNotClean},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &lateEngine{first: tt.first, lag: tt.lag}
			a := prepare(t, e, "pause", nil, faults.Target{ID: "c0ffee", Name: "late"}).(*action)
			var mu sync.Mutex
			now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
			a.now = func() time.Time { // each look at the clock is 100 ms later
				mu.Lock()
				defer mu.Unlock()
				now = now.Add(100 * time.Millisecond)
				return now
			}
			ctx := context.Background()
			if err := a.Apply(ctx); err != nil {
				t.Fatal(err)
			}
			err := a.Revert(ctx)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Revert = %v, want %v", err, tt.wantErr)
			}
			if e.unpauses != tt.wantUnpauses {
				t.Errorf("%d unpause calls, want %d", e.unpauses, tt.wantUnpauses)
			}
		})
	}
}

// exitingEngine runs a container until a kill comes, then reports it exited with code.
type exitingEngine struct {
	Client // only the calls below are made
	mu     sync.Mutex
	killed bool
	code   int
}

func (e *exitingEngine) ContainerInspect(context.Context, string, client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := &container.State{Running: true, Status: container.StateRunning, StartedAt: "2026-12-02T00:00:00Z"}
	if e.killed {
		st = &container.State{Status: container.StateExited, ExitCode: e.code, StartedAt: "2026-12-02T00:00:00Z"}
	}
	return client.ContainerInspectResult{Container: container.InspectResponse{ID: "c0ffee", Name: "/exiting", State: st}}, nil
}

func (e *exitingEngine) ContainerKill(context.Context, string, client.ContainerKillOptions) (client.ContainerKillResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.killed = true
	return client.ContainerKillResult{}, nil
}

// TestKillReadsBackTheExitCode: a SIGKILLed container exits 137; one the engine reports
// exited with another code ended on its own, before the signal, so the kill did not take.
func TestKillReadsBackTheExitCode(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		code    int
		wantErr error
		found   string
	}{
		{137, nil, "exited (exit code 137)"},
		{0, faults.ErrNotInjected, "found exited (exit code 0), want killed (exit code 137)"},
	} {
		e := &exitingEngine{code: tt.code}
		a := prepare(t, e, "kill", nil, faults.Target{ID: "c0ffee", Name: "exiting"})
		if err := a.Apply(context.Background()); err != nil {
			t.Fatal(err)
		}
		v, err := a.Verify(context.Background())
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Fatalf("exit code %d: Verify = %v, want %v", tt.code, err, tt.wantErr)
		}
		msg := v.String()
		if err != nil {
			msg = err.Error()
		}
		if !strings.Contains(msg, tt.found) {
			t.Errorf("exit code %d: read-back %q, want it to say %q", tt.code, msg, tt.found)
		}
	}
}
