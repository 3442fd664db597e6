package cmd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/result"
	"github.com/faultline/faultline/serve"
)

// silentDocker listens on a unix socket, accepts every connection and never answers,
// like a wedged engine. It returns the DOCKER_HOST value and a channel that receives
// once per accepted connection.
func silentDocker(t *testing.T) (host string, accepted <-chan struct{}) {
	t.Helper()
	dir, err := os.MkdirTemp("", "fl-sock-") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 16)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never answered
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "unix://" + sock, ch
}

// startFaultline starts the binary with extra environment and returns it and its
// combined output.
func startFaultline(t *testing.T, env []string, args ...string) (*exec.Cmd, *syncBuf) {
	t.Helper()
	cmd := exec.Command(buildFaultline(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out := &syncBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, out
}

// waitExit waits for cmd to end within limit and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration, out *syncBuf) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitCode(t, err)
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running %s after the signal; output:\n%s", limit, out)
		return -1
	}
}

func receive(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(60 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// The wedged engine's ping deadline is 10s; a command stopped by the signal says it
// was interrupted and exits 3, which the deadline would not.
func TestSignalStopsCommandsStuckOnDocker(t *testing.T) {
	t.Parallel()
	for _, verb := range []string{"run", "plan"} {
		t.Run(verb, func(t *testing.T) {
			t.Parallel()
			host, accepted := silentDocker(t)
			args := []string{verb, "../examples/killed-replica.hcl"}
			if verb == "run" {
				args = []string{"run", "--out", t.TempDir(), "--state-dir", t.TempDir(), "../examples/killed-replica.hcl"}
			}
			cmd, out := startFaultline(t, []string{"DOCKER_HOST=" + host}, args...)
			receive(t, accepted, verb+" to connect to the engine")
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			code := waitExit(t, cmd, 8*time.Second, out)
			if code != result.ExitAborted || !strings.Contains(out.String(), "interrupted by signal (interrupt)") {
				t.Fatalf("%s after SIGINT: exit %d, want 3 saying it was interrupted\n%s", verb, code, out)
			}
		})
	}
}

// validate and report read files, which no context can interrupt: a FIFO that never
// delivers holds them until the signal's grace runs out.
func TestSignalStopsCommandsStuckOnARead(t *testing.T) {
	t.Parallel()
	for _, verb := range []string{"validate", "report", "diff"} {
		t.Run(verb, func(t *testing.T) {
			t.Parallel()
			fifo := filepath.Join(t.TempDir(), "input")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{verb, fifo}
			if verb == "diff" {
				args = []string{"diff", fifo, goodResult}
			}
			cmd, out := startFaultline(t, nil, args...)
			// Opening the writing end returns once the command opened the reading end.
			opened := make(chan *os.File, 1)
			go func() {
				w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
				if err == nil {
					opened <- w
				}
			}()
			var w *os.File
			select {
			case w = <-opened:
			case <-time.After(60 * time.Second):
				t.Fatalf("%s never opened its input\n%s", verb, out)
			}
			defer w.Close()
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			code := waitExit(t, cmd, 20*time.Second, out)
			if code != result.ExitAborted || !strings.Contains(out.String(), "interrupted by signal (terminated)") {
				t.Fatalf("%s after SIGTERM: exit %d, want 3 saying it was interrupted\n%s", verb, code, out)
			}
		})
	}
}

func TestRunPreflightHasADockerDeadline(t *testing.T) {
	t.Parallel()
	host, _ := silentDocker(t)
	cmd, out := startFaultline(t, []string{"DOCKER_HOST=" + host},
		"run", "--out", t.TempDir(), "--state-dir", t.TempDir(), "../examples/killed-replica.hcl")
	code := waitExit(t, cmd, 90*time.Second, out)
	if code != result.ExitPreflight || !strings.Contains(out.String(), "did not answer within 10s") {
		t.Fatalf("run against an engine that never answers: exit %d, want 5 naming the deadline\n%s", code, out)
	}
}

// TestServeRevertFailedAfterASignalExits4: serve stopped by SIGTERM with a run whose
// revert failed says so and exits 4; any other failure after a signal is exit 3.
func TestServeRevertFailedAfterASignalExits4(t *testing.T) {
	t.Parallel()
	cause := &signalError{sig: syscall.SIGTERM}
	shutdown := fmt.Errorf("%w: run r1 ended with faults not reverted: their journals hold what is left; run `faultline recover`", serve.ErrRevertFailed)
	err := afterSignal(exitf(result.ExitRevertFailed, "%w", shutdown), cause)
	if got := codeOf(err, true); got != result.ExitRevertFailed {
		t.Errorf("a failed revert after a signal exits %d, want %d", got, result.ExitRevertFailed)
	}
	if msg := err.Error(); !strings.Contains(msg, "run r1") || !strings.Contains(msg, "faultline recover") || strings.Contains(msg, "nothing was left changed") {
		t.Errorf("a failed revert after a signal says %q", msg)
	}
	err = afterSignal(errors.New("ping docker: context canceled"), cause)
	if got := codeOf(err, true); got != result.ExitAborted || !strings.Contains(err.Error(), "nothing was left changed") {
		t.Errorf("another failure after a signal: exit %d, %q", got, err)
	}
	if err := afterSignal(errors.New("boom"), nil); codeOf(err, true) != result.ExitInternal {
		t.Errorf("a failure without a signal was remapped: %v", err)
	}
}
