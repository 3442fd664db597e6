package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/faultline/faultline/faults"
	"golang.org/x/sys/unix"
)

// signalDirect sends sig to a container's main process without a round trip through
// the engine, when faultline runs beside the engine and sees that process: it opens a
// pidfd on pid, checks that the process belongs to the container (its cgroup path
// names the container id), and signals through the pidfd, which cannot hit a
// recycled pid. With waitExit it returns once the process is dead, as the engine's
// kill does for SIGKILL.
//
// It reports sent=false, with nothing sent and why it was not, whenever that is not
// possible (another PID namespace, a remote engine, no privileges, the process already
// gone, an old kernel): the caller then asks the engine. The engine notices the death
// on its own and records the exit code as for its own kill; only its "kill" event is
// missing (its "die" is there).
func signalDirect(ctx context.Context, pid int, containerID, sig string, waitExit bool) (sent bool, why string, err error) {
	num, err := signalNumber(sig)
	switch {
	case err != nil:
		return false, err.Error(), nil
	case pid <= 0:
		return false, "no pid recorded", nil
	case len(containerID) < 12:
		return false, "no container id", nil
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return false, fmt.Sprintf("pidfd_open(%d): %v", pid, err), nil
	}
	defer unix.Close(fd)
	cg, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false, fmt.Sprintf("read cgroup of pid %d: %v", pid, err), nil
	}
	if !bytes.Contains(cg, []byte(containerID)) {
		return false, fmt.Sprintf("pid %d is not in the container's cgroup", pid), nil
	}
	// The pidfd's process is still alive, so /proc/PID was that same process; and we
	// may signal it (a user in the docker group may not: then the engine does).
	if err := unix.PidfdSendSignal(fd, 0, nil, 0); err != nil {
		return false, fmt.Sprintf("may not signal pid %d: %v", pid, err), nil
	}
	if err := unix.PidfdSendSignal(fd, num, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.EPERM) {
			// Died meanwhile, or not ours to signal: the engine decides.
			return false, fmt.Sprintf("signal pid %d: %v", pid, err), nil
		}
		return true, "", fmt.Errorf("signal %s to pid %d: %w", sig, pid, err)
	}
	if !waitExit {
		return true, "", nil
	}
	return true, "", waitPidfd(ctx, fd, pid)
}

// errSignalledAlive marks a signal that was delivered to a process still alive when
// the wait for its exit ended.
var errSignalledAlive = errors.New("signalled but still alive")

// processAlive reports whether pid is a live (not zombie) process of the container:
// the kernel's answer, for when the engine has not yet noticed a death.
func processAlive(pid int, containerID string) bool {
	if pid <= 0 {
		return false
	}
	dir := "/proc/" + strconv.Itoa(pid)
	cg, err := os.ReadFile(dir + "/cgroup")
	if err != nil || len(containerID) < 12 || !bytes.Contains(cg, []byte(containerID)) {
		return false
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command, which is in parentheses and may hold spaces.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z' && stat[i+2] != 'X'
	}
	return true
}

// waitPidfd waits until the process of fd has exited: the kernel makes a pidfd
// readable then.
func waitPidfd(ctx context.Context, fd, pid int) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 50)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("wait for pid %d to exit: %w", pid, err)
		}
		if n > 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("pid %d %w: %w", pid, errSignalledAlive, err)
		}
	}
}

// signalNumber maps the names faults.ParseSignal returns (or a real-time signal's
// number) to the signal to send.
func signalNumber(sig string) (unix.Signal, error) {
	if n, ok := faults.SignalNumber(sig); ok {
		return unix.Signal(n), nil
	}
	return 0, fmt.Errorf("unknown signal %q", sig)
}
