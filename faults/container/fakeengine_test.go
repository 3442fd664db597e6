package container

import (
	"context"
	"errors"
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
