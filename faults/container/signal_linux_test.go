package container

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/internal/dockertest"
	"github.com/faultline/faultline/internal/testreal"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
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
	if ok, why, err := signalDirect(ctx, tg.PID, other.ID, "SIGKILL", true); ok || err != nil || !strings.Contains(why, "cgroup") {
		t.Fatalf("signal with another container's id: ok=%v why=%q err=%v, want not sent, because of the cgroup", ok, why, err)
	}
	if err := unix.Kill(tg.PID, 0); err != nil {
		t.Fatalf("the process of a refused direct signal is gone: %v", err)
	}
	if ok, _, _ := signalDirect(ctx, os.Getpid(), tg.ID, "SIGUSR1", false); ok {
		t.Fatal("signalled a process outside the container")
	}

	ok, why, err := signalDirect(ctx, tg.PID, tg.ID, "SIGKILL", true)
	if !ok || err != nil {
		t.Fatalf("direct SIGKILL: ok=%v (%s) err=%v, want sent", ok, why, err)
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

// TestKillSaysWhichWayItWent: a kill reports through faults.Router whether the signal
// went straight to the process or through the engine, and why not straight. A PID that
// is stale by the time of Apply (the container was restarted after Prepare) falls back
// to the engine, which kills the container's current process.
func TestKillSaysWhichWayItWent(t *testing.T) {
	e := newEnv(t)
	needSamePIDNamespace(t)
	ctx := context.Background()

	tg, _ := e.run(t, dockertest.RunOptions{Name: "via-direct"})
	a := prepare(t, e.cli, "kill", faults.Params{"restore": false}, tg)
	if err := a.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if via, why := a.(faults.Router).Via(); via != faults.ViaPidfd || why != "" {
		t.Errorf("direct kill: via %q (%q), want %q", via, why, faults.ViaPidfd)
	}

	tg, before := e.run(t, dockertest.RunOptions{Name: "via-stale"})
	a = prepare(t, e.cli, "kill", faults.Params{"restore": false}, tg)
	timeout := 5
	if _, err := e.cli.ContainerRestart(ctx, tg.ID, client.ContainerRestartOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	restarted := dockertest.Wait(t, e.cli, tg.ID, "running again", func(c container.InspectResponse) bool {
		return dockertest.Running(c) && c.State.Pid != before.State.Pid
	})
	if err := a.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if via, why := a.(faults.Router).Via(); via != faults.ViaEngine || !strings.Contains(why, "pidfd_open") {
		t.Errorf("kill of a stale pid: via %q (%q), want %q because the recorded process is gone", via, why, faults.ViaEngine)
	}
	dockertest.Wait(t, e.cli, tg.ID, "exited 137", func(c container.InspectResponse) bool {
		return dockertest.Exited(c) && c.State.ExitCode == 137
	})
	if st := procState(restarted.State.Pid); st != "gone" && st != "Z" {
		t.Errorf("the restarted process %d is in state %s after the engine's kill; want dead", restarted.State.Pid, st)
	}
}

// inspectCounter is the real client, counting inspections.
type inspectCounter struct {
	Client
	n atomic.Int32
}

func (c *inspectCounter) ContainerInspect(ctx context.Context, id string, o client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	c.n.Add(1)
	return c.Client.ContainerInspect(ctx, id, o)
}

// TestDirectKillReadsBackFromTheKernel: after a SIGKILL sent through the pidfd, the
// read-back takes the kernel's word that the process is dead and does not inspect:
// the engine answers an inspect only once it has torn the container down, seconds
// later when 50 die at once.
func TestDirectKillReadsBackFromTheKernel(t *testing.T) {
	e := newEnv(t)
	needSamePIDNamespace(t)
	ctx := context.Background()
	tg, _ := e.run(t, dockertest.RunOptions{Name: "readback-kernel"})
	cli := &inspectCounter{Client: e.cli}
	a := prepare(t, cli, "kill", faults.Params{"restore": false}, tg)
	if err := a.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	before := cli.n.Load()
	v, err := a.Verify(ctx)
	if err != nil {
		t.Fatalf("read-back after a direct kill: %v", err)
	}
	if n := cli.n.Load() - before; n != 0 {
		t.Errorf("read-back after a direct kill inspected %d time(s), want none", n)
	}
	if len(v.Checks) != 1 || !v.Checks[0].OK || !strings.Contains(v.Checks[0].Found, "kernel") {
		t.Errorf("read-back %+v, want one passed check on the kernel's word", v.Checks)
	}
}
