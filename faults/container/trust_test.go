package container

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/internal/dockertest"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// mustVerify reads a back and fails unless it reads as wanted (nil: OK).
func mustVerify(t *testing.T, a faults.Action, want error) faults.Verification {
	t.Helper()
	v, err := a.Verify(t.Context())
	switch {
	case want == nil && err != nil:
		t.Fatalf("read-back: %v; want it to find what the action left", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("read-back: %v (%s); want an error wrapping %v", err, v, want)
	case v.At.IsZero() || len(v.Checks) == 0:
		t.Fatalf("read-back %+v says neither what it checked nor when", v)
	}
	return v
}

func engineCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), dockertest.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// TestReadBackSeesEachFault: after Apply the engine reports the fault; a fault undone
// by hand makes the read-back fail and say what it found; after Revert it reads clean.
func TestReadBackSeesEachFault(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		kind     string
		p        faults.Params
		found    string                              // in the read-back after Apply
		undo     func(t *testing.T, id string) error // removes the fault by hand; nil when it cannot be
		notFound string                              // in the failed read-back's error
	}{
		{"pause", nil, "paused", func(t *testing.T, id string) error {
			_, err := e.cli.ContainerUnpause(engineCtx(t), id, client.ContainerUnpauseOptions{})
			return err
		}, "found running"},
		{"stop", faults.Params{"grace": time.Duration(0)}, "exited", func(t *testing.T, id string) error {
			_, err := e.cli.ContainerStart(engineCtx(t), id, client.ContainerStartOptions{})
			return err
		}, "found running"},
		{"kill", nil, "exit code 137|dead (the engine still reports it running)|dead (the kernel's word", nil, ""},
		{"restart", faults.Params{"timeout": time.Duration(0)}, "started", nil, ""},
		{"resources", faults.Params{"cpus": 0.5, "memory": int64(64 << 20)}, "cpus 0.5 (quota 50000us per 100000us), memory 64MiB", func(t *testing.T, id string) error {
			_, err := e.cli.ContainerUpdate(engineCtx(t), id, client.ContainerUpdateOptions{Resources: &container.Resources{Memory: 96 << 20, MemorySwap: 96 << 20}})
			return err
		}, "memory 96MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			t.Parallel()
			tg, _ := e.run(t, dockertest.RunOptions{Name: "readback-" + tt.kind})
			a := prepare(t, e.cli, tt.kind, tt.p, tg)
			mustVerify(t, a, nil) // before Apply: nothing of ours
			if err := a.Apply(engineCtx(t)); err != nil {
				t.Fatal(err)
			}
			v := mustVerify(t, a, nil)
			if !slices.ContainsFunc(strings.Split(tt.found, "|"), func(s string) bool { return strings.Contains(v.String(), s) }) {
				t.Errorf("read-back after Apply: %s; want it to say %q", v, tt.found)
			}
			if tt.undo != nil {
				if err := tt.undo(t, tg.ID); err != nil {
					t.Fatal(err)
				}
				_, err := a.Verify(t.Context())
				if !errors.Is(err, faults.ErrNotInjected) || !strings.Contains(err.Error(), tt.notFound) {
					t.Errorf("read-back of a fault removed by hand: %v; want ErrNotInjected saying %q", err, tt.notFound)
				}
			}
			err := a.Revert(t.Context())
			if tt.kind == "resources" {
				// Someone else changed the limits during the fault: restoring the earlier
				// ones would undo their change, so the revert leaves them and fails.
				if !errors.Is(err, faults.ErrNotClean) || !strings.Contains(err.Error(), "someone else") {
					t.Fatalf("revert over limits changed by hand: %v; want ErrNotClean naming someone else's change", err)
				}
				if m := dockertest.Inspect(t, e.cli, tg.ID).HostConfig.Memory; m != 96<<20 {
					t.Fatalf("memory limit after the refused revert: %d; want the hand-set 96MiB left alone", m)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v = mustVerify(t, a, nil)
			t.Logf("after revert: %s", v)
		})
	}
}

// TestNeverUndoWhatItDidNotDo: a pause the engine refuses because someone else paused
// first (an operator, another run) is not unpaused by the revert, neither by this
// process nor by a recover from its journal record; and a record whose Apply never
// started undoes nothing.
func TestNeverUndoWhatItDidNotDo(t *testing.T) {
	e := newEnv(t)
	pausedBySomeoneElse := func(t *testing.T, id string) {
		t.Helper()
		if !dockertest.Inspect(t, e.cli, id).State.Paused {
			t.Fatal("the other pause was undone")
		}
	}

	t.Run("operator pauses between prepare and apply", func(t *testing.T) {
		t.Parallel()
		tg, _ := e.run(t, dockertest.RunOptions{Name: "operator-pause"})
		a := prepare(t, e.cli, "pause", nil, tg)
		if _, err := e.cli.ContainerPause(engineCtx(t), tg.ID, client.ContainerPauseOptions{}); err != nil {
			t.Fatal(err) // `docker pause` by hand
		}
		t.Cleanup(func() { e.cli.ContainerUnpause(context.Background(), tg.ID, client.ContainerUnpauseOptions{}) })
		if err := a.Apply(engineCtx(t)); err == nil {
			t.Fatal("Apply on a paused container succeeded")
		}
		rec := a.Record()
		if err := a.Revert(t.Context()); err != nil {
			t.Fatalf("revert of a refused pause: %v", err)
		}
		pausedBySomeoneElse(t, tg.ID)
		revived := revive(t, e.cli, rec)
		if err := revived.Revert(t.Context()); err != nil {
			t.Fatalf("revert of the revived refused pause: %v", err)
		}
		pausedBySomeoneElse(t, tg.ID)
	})

	t.Run("two runs on one container", func(t *testing.T) {
		t.Parallel()
		tg, _ := e.run(t, dockertest.RunOptions{Name: "two-runs"})
		first := prepare(t, e.cli, "pause", nil, tg)
		second := prepare(t, e.cli, "pause", nil, tg) // prepared while it still ran
		if err := first.Apply(engineCtx(t)); err != nil {
			t.Fatal(err)
		}
		if err := second.Apply(engineCtx(t)); err == nil {
			t.Fatal("the second pause succeeded")
		}
		if err := second.Revert(t.Context()); err != nil {
			t.Fatal(err)
		}
		pausedBySomeoneElse(t, tg.ID)
		mustVerify(t, first, nil) // still in place
		if err := first.Revert(t.Context()); err != nil {
			t.Fatal(err)
		}
		dockertest.Wait(t, e.cli, tg.ID, "unpaused by the first run's revert", func(c container.InspectResponse) bool { return !dockertest.Paused(c) })
	})

	t.Run("recover of a record whose apply never started", func(t *testing.T) {
		t.Parallel()
		tg, _ := e.run(t, dockertest.RunOptions{Name: "prepare-window"})
		a := prepare(t, e.cli, "pause", nil, tg)
		rec := a.Record() // journaled ahead of the start; the run dies before it
		if rec.Phase != faults.PhasePrepared {
			t.Fatalf("record phase %q before Apply, want %q", rec.Phase, faults.PhasePrepared)
		}
		if _, err := e.cli.ContainerPause(engineCtx(t), tg.ID, client.ContainerPauseOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.cli.ContainerUnpause(context.Background(), tg.ID, client.ContainerUnpauseOptions{}) })
		if err := revive(t, e.cli, rec).Revert(t.Context()); err != nil {
			t.Fatal(err)
		}
		pausedBySomeoneElse(t, tg.ID)
	})
}

func revive(t *testing.T, cli Client, rec faults.Record) faults.Action {
	t.Helper()
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var back faults.Record
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	a, err := NewReviver(cli).Revive(back)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestStopInterruptedInItsGraceIsStartedAgain: an abort during the grace period
// cancels the client's stop while the engine goes on stopping; the revert waits for
// that stop to end and starts the container, instead of finding it still running,
// doing nothing, and leaving it to die moments later.
func TestStopInterruptedInItsGraceIsStartedAgain(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, kind string
		p          faults.Params
	}{
		{"stop", "stop", faults.Params{"grace": 3 * time.Second}},
		// A grace longer than faults.RevertTimeout: the revert must wait it out.
		{"stop-long-grace", "stop", faults.Params{"grace": 35 * time.Second}},
		{"kill", "kill", faults.Params{"signal": "SIGTERM"}}, // exits 2 s after the signal
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := []string{"-ignore-term"}
			if tc.kind == "kill" {
				cmd = []string{"-term-delay", "2s"}
			}
			tg, _ := e.run(t, dockertest.RunOptions{Name: "interrupted-" + tc.name, Cmd: cmd})
			a := prepare(t, e.cli, tc.kind, tc.p, tg)
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond) // the abort, in the grace period
			err := a.Apply(ctx)
			cancel()
			if tc.kind == "stop" && err == nil {
				t.Fatal("the stop returned before its grace period ended: the test proves nothing")
			}
			if st := dockertest.Inspect(t, e.cli, tg.ID).State; !st.Running {
				t.Fatalf("container already %s when the revert starts: the test proves nothing", st.Status)
			}
			if err := a.Revert(t.Context()); err != nil {
				t.Fatalf("revert: %v", err)
			}
			st := dockertest.Inspect(t, e.cli, tg.ID).State
			if !st.Running || st.Pid == tg.PID {
				t.Fatalf("after the revert: %s, pid %d (was %d); want it started again", st.Status, st.Pid, tg.PID)
			}
		})
	}
}
