package container

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"testing"

	"github.com/faultline/faultline/internal/dockertest"
	"github.com/faultline/faultline/internal/testreal"
	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// needSamePIDNamespace skips (or fails in CI) where faultline cannot see the engine's
// processes: the direct signal path is then never taken.
func needSamePIDNamespace(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testreal.Missing(t, "signalling container processes directly needs root")
	}
}

func TestSignalDirectChecksTheProcessIsTheContainers(t *testing.T) {
	e := newEnv(t)
	needSamePIDNamespace(t)
	ctx := context.Background()
	tg, _ := e.run(t, dockertest.RunOptions{Name: "direct"})
	other, _ := e.run(t, dockertest.RunOptions{Name: "direct-other"})

	// Another container's id, or a pid of nothing: nothing is sent, the engine decides.
	if ok, err := signalDirect(ctx, tg.PID, other.ID, "SIGKILL", true); ok || err != nil {
		t.Fatalf("signal with another container's id: ok=%v err=%v, want not sent", ok, err)
	}
	if err := unix.Kill(tg.PID, 0); err != nil {
		t.Fatalf("the process of a refused direct signal is gone: %v", err)
	}
	if ok, _ := signalDirect(ctx, os.Getpid(), tg.ID, "SIGUSR1", false); ok {
		t.Fatal("signalled a process outside the container")
	}

	ok, err := signalDirect(ctx, tg.PID, tg.ID, "SIGKILL", true)
	if !ok || err != nil {
		t.Fatalf("direct SIGKILL: ok=%v err=%v, want sent", ok, err)
	}
	if st := procState(tg.PID); st != "gone" && st != "Z" {
		t.Errorf("after a direct SIGKILL that waited for the exit, pid %d is in state %s; want dead (gone or a zombie)", tg.PID, st)
	}
	dockertest.Wait(t, e.cli, tg.ID, "exited 137 in the engine's view", func(c container.InspectResponse) bool {
		return dockertest.Exited(c) && c.State.ExitCode == 137
	})
}

// TestKillRevertedAtOnceStartsItAgain: a revert right after a direct SIGKILL finds the
// engine still reporting the dead process; it must wait for the engine and start the
// container, not take it for running.
func TestKillRevertedAtOnceStartsItAgain(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 3 {
		tg, before := e.run(t, dockertest.RunOptions{Name: "kill-at-once"})
		a := prepare(t, e.cli, "kill", nil, tg)
		if err := a.Apply(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.Revert(ctx); err != nil {
			t.Fatal(err)
		}
		after := dockertest.Inspect(t, e.cli, tg.ID)
		if !after.State.Running || after.State.Pid == before.State.Pid {
			t.Fatalf("round %d: after kill and an immediate revert: running=%v pid %d -> %d; want running as a new process",
				i+1, after.State.Running, before.State.Pid, after.State.Pid)
		}
	}
}

// procState is the state letter of /proc/PID/stat, or "gone".
func procState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return "gone"
	}
	if err != nil {
		return "unreadable: " + err.Error()
	}
	// pid (comm) S ...: comm may hold spaces and parentheses, the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return "unparsable"
	}
	return string(b[i+2])
}
