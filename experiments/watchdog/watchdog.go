// Package watchdog is the dead-man switch of a run. When a run is about to inject its
// first fault it starts a watchdog: the faultline binary itself (`faultline watchdog`,
// hidden), detached in its own session, so that it outlives the run however the run
// ends (SIGKILL, the OOM killer, a closed terminal). The run renews a lease over a pipe;
// when the pipe breaks (the run died) or the lease lapses (the run is stopped or hung),
// the watchdog kills what is left of the run, takes its journal over and reverts it,
// exactly as `faultline recover` does, and leaves a report that the next `run` and
// `recover` print. When the run releases it, it exits.
//
// Why a pipe and not a lease file: the kernel closes the run's end of the pipe the
// moment the run dies, so a killed run is noticed at once rather than at the next poll
// of an mtime, nothing touches the disk once a second, and no other process can renew
// the lease by accident. Silence on the pipe for the lease (a SIGSTOP, a deadlock in
// the runner, which renews from its timeline loop) is the second trigger.
package watchdog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultLease is how long the watchdog waits for a renewal before it takes over.
const DefaultLease = 5 * time.Second

// MinLease is the shortest lease accepted: below it a loaded machine would trip it.
const MinLease = time.Second

// readyTimeout bounds the start of the watchdog.
const readyTimeout = 10 * time.Second

// Lease bytes on the pipe.
const (
	msgRenew   = 'r'
	msgRelease = 'd'
)

// readyLine is what the watchdog prints once it watches.
const readyLine = "watching"

// Config says how to start the watchdog of one run.
type Config struct {
	// Binary is the faultline executable (os.Executable()).
	Binary string
	// Journal is the run's journal file; StateDir is where the report goes.
	Journal, StateDir string
	// Lease is how long a silence the watchdog accepts.
	Lease time.Duration
	// Env is the watchdog's environment (DOCKER_HOST and the like); nil: this process's.
	Env []string
	// Started is called with the watchdog's pid once it watches (to journal it).
	Started func(pid int) error
}

// Lease is the run's side: Arm starts the watchdog, Renew feeds it, Release ends it.
// Renew and Release do nothing before Arm. Safe for concurrent use.
type Lease struct {
	cfg    Config
	mu     sync.Mutex
	w      *os.File
	cmd    *exec.Cmd
	armErr error
}

// NewLease prepares the watchdog of one run; nothing starts before Arm.
func NewLease(cfg Config) *Lease {
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	return &Lease{cfg: cfg}
}

// RenewEvery is how often the run should renew: a quarter of the lease, so that three
// late renewals in a row are still in time.
func (l *Lease) RenewEvery() time.Duration { return l.cfg.Lease / 4 }

// PID is the watchdog's process id, 0 before Arm.
func (l *Lease) PID() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cmd == nil {
		return 0
	}
	return l.cmd.Process.Pid
}

// Arm starts the watchdog and waits until it watches. A failure is sticky: no fault
// may be injected without a watchdog.
func (l *Lease) Arm() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cmd != nil || l.armErr != nil {
		return l.armErr
	}
	l.armErr = l.start()
	return l.armErr
}

func (l *Lease) start() error {
	leaseR, leaseW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start watchdog: %w", err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		leaseR.Close()
		leaseW.Close()
		return fmt.Errorf("start watchdog: %w", err)
	}
	defer readyR.Close()
	cmd := exec.Command(l.cfg.Binary, "watchdog",
		"--journal", l.cfg.Journal, "--state-dir", l.cfg.StateDir,
		"--run-pid", strconv.Itoa(os.Getpid()), "--lease", l.cfg.Lease.String())
	cmd.ExtraFiles = []*os.File{leaseR} // fd 3
	cmd.Stdout = readyW
	cmd.Dir = "/"
	cmd.Env = l.cfg.Env
	// Its own session: no controlling terminal (no SIGHUP when it closes) and outside
	// the run's process group (no Ctrl-C meant for the run).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	leaseR.Close()
	readyW.Close()
	if err != nil {
		leaseW.Close()
		return fmt.Errorf("start watchdog %s: %w", l.cfg.Binary, err)
	}
	fail := func(err error) error {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		leaseW.Close()
		return err
	}
	_ = readyR.SetReadDeadline(time.Now().Add(readyTimeout))
	got, err := bufio.NewReader(readyR).ReadString('\n')
	if err != nil || got != readyLine+"\n" {
		return fail(fmt.Errorf("watchdog (pid %d) did not start within %s: %q, %v", cmd.Process.Pid, readyTimeout, got, err))
	}
	l.w, l.cmd = leaseW, cmd
	if l.cfg.Started != nil {
		if err := l.cfg.Started(cmd.Process.Pid); err != nil {
			l.w, l.cmd = nil, nil
			return fail(err)
		}
	}
	return nil
}

// Renew extends the lease. An error means the watchdog is gone.
func (l *Lease) Renew() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return nil
	}
	return l.send(msgRenew)
}

func (l *Lease) send(b byte) error {
	_ = l.w.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := l.w.Write([]byte{b}); err != nil {
		return fmt.Errorf("watchdog (pid %d) does not take the lease: %w", l.cmd.Process.Pid, err)
	}
	return nil
}

// Release tells the watchdog that every fault is settled, and waits for it to exit.
func (l *Lease) Release() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return nil
	}
	sendErr := l.send(msgRelease)
	l.w.Close()
	l.w = nil
	exited := make(chan error, 1)
	go func() { exited <- l.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("watchdog (pid %d) ended: %w", l.cmd.Process.Pid, err)
		}
		return sendErr
	case <-time.After(readyTimeout):
		_ = l.cmd.Process.Kill()
		<-exited
		return fmt.Errorf("watchdog (pid %d) did not exit within %s of its release: killed", l.cmd.Process.Pid, readyTimeout)
	}
}

// Verdict is why Watch returned.
type Verdict int

const (
	// Released: the run settled every fault; nothing to do.
	Released Verdict = iota
	// RunDied: the run's end of the pipe closed without a release.
	RunDied
	// LeaseLapsed: no renewal within the lease; the run is stopped or hung.
	LeaseLapsed
)

func (v Verdict) String() string {
	switch v {
	case Released:
		return "released"
	case RunDied:
		return "the run died"
	case LeaseLapsed:
		return "the lease lapsed"
	}
	return "unknown"
}

// Process is the run as the watchdog sees it: a pidfd, so that a recycled pid is never
// signalled.
type Process struct {
	PID int
	fd  int
}

// OpenProcess opens the run, which must be this process's parent (the run starts its
// own watchdog), so that the pid is the run's and not a recycled one.
func OpenProcess(pid int) (*Process, error) {
	if ppid := os.Getppid(); ppid != pid {
		return nil, fmt.Errorf("the run (pid %d) is not this watchdog's parent (%d): it is started by `faultline run` only", pid, ppid)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("open the run's process %d: %w (the kernel needs pidfd, Linux 5.3)", pid, err)
	}
	return &Process{PID: pid, fd: fd}, nil
}

// Kill sends SIGKILL: the run lost its lease and must not go on harming.
func (p *Process) Kill() error {
	err := unix.PidfdSendSignal(p.fd, unix.SIGKILL, nil, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	return err
}

// WaitExit waits until the run has exited (its lock is then released), up to d.
func (p *Process) WaitExit(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == nil && n > 0 {
			return true
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			return false
		}
	}
}

// Close releases the pidfd.
func (p *Process) Close() { unix.Close(p.fd) }

// LeaseFile turns the inherited fd 3 into a file whose reads take deadlines.
func LeaseFile() (*os.File, error) {
	if err := unix.SetNonblock(3, true); err != nil {
		return nil, fmt.Errorf("lease pipe (fd 3): %w (the watchdog is started by `faultline run` only)", err)
	}
	return os.NewFile(3, "lease"), nil
}

// Ready tells the run that the watchdog watches, then points stdout at /dev/null: the
// run stops reading it, and a write to a pipe nobody reads would kill the watchdog.
func Ready(stdout *os.File) error {
	if _, err := io.WriteString(stdout, readyLine+"\n"); err != nil {
		return err
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	return unix.Dup2(int(null.Fd()), int(stdout.Fd()))
}

// Watch reads the lease until the run releases it, dies or stops renewing.
func Watch(in *os.File, lease time.Duration) Verdict {
	buf := make([]byte, 256)
	for {
		_ = in.SetReadDeadline(time.Now().Add(lease))
		n, err := in.Read(buf)
		for _, b := range buf[:n] {
			if b == msgRelease {
				return Released
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			return LeaseLapsed
		default: // EOF: every write end is closed, which only the run's death does
			return RunDied
		}
	}
}
