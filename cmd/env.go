package cmd

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

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
	// Context is the root context of the command.
	Context context.Context
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
