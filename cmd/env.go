package cmd

import (
	"context"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/faultline/faultline/experiments/runner"
	"golang.org/x/term"
)

// Env is the process state every command works with. It is built in one place
// (NewEnv) so that a test can run any command in memory with its own Env.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// StdoutTTY and StderrTTY say whether the streams are terminals (colour, live view).
	StdoutTTY, StderrTTY bool
	Getenv               func(string) string
	// Signals delivers SIGINT and SIGTERM; nil in tests that do not send any.
	Signals <-chan os.Signal
	// Context is the root context of the command. MainArgs replaces it with one that
	// the first signal cancels (its cause a *signalError).
	Context context.Context

	mu       sync.Mutex
	onSignal func(n int, s os.Signal) // a command's own reaction to the nth signal
}

// NewEnv describes the running process.
func NewEnv() *Env {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	return &Env{
		Stdin:     os.Stdin,
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		StdoutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		StderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		Getenv:    os.Getenv,
		Signals:   sig,
		Context:   context.Background(),
	}
}

// signalError is the cause of a command context cancelled by a signal; it is a
// runner.ErrInterrupted, so that a run reports it as its reason.
type signalError struct{ sig os.Signal }

func (e *signalError) Error() string {
	return runner.ErrInterrupted.Error() + " (" + e.sig.String() + ")"
}
func (e *signalError) Unwrap() error { return runner.ErrInterrupted }

// handleSignals returns a context the first signal cancels. Every signal is also handed
// to the hook a command set with setSignalHook (run's second signal skips the rest of
// its observation). stop ends the watching.
func (env *Env) handleSignals(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	if env.Signals == nil {
		return ctx, func() { cancel(nil) }
	}
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-done:
				return
			case s := <-env.Signals:
				n++
				if n == 1 {
					cancel(&signalError{sig: s})
				}
				env.mu.Lock()
				hook := env.onSignal
				env.mu.Unlock()
				if hook != nil {
					hook(n, s)
				}
			}
		}
	}()
	return ctx, func() { close(done); cancel(nil) }
}

// setSignalHook makes hook see every signal from now on (nil: none).
func (env *Env) setSignalHook(hook func(n int, s os.Signal)) {
	env.mu.Lock()
	env.onSignal = hook
	env.mu.Unlock()
}
