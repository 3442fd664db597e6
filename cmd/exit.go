package cmd

import (
	"errors"
	"fmt"
)

// Exit codes, as DESIGN.md and the README define them.
const (
	ExitOK          = 0 // all checks passed
	ExitCheckFailed = 1 // a check failed (or diff found a regression)
	ExitInvalid     = 2 // invalid experiment or usage
	ExitAborted     = 3 // abort guard, signal, lost observation
	ExitRevertFail  = 4 // a revert failed: the system may still be faulted
	ExitPreflight   = 5 // Docker, Prometheus, privileges or kernel support missing
)

// exitError carries the exit code a command's failure maps to.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ExitCode is implemented by errors that know their exit code.
type ExitCode interface{ ExitCode() int }

func (e *exitError) ExitCode() int { return e.code }

// withExitCode attaches code to err unless err already carries one.
func withExitCode(err error, code int) error {
	if err == nil {
		return nil
	}
	var ec ExitCode
	if errors.As(err, &ec) {
		return err
	}
	return &exitError{code: code, err: err}
}

// exitf is fmt.Errorf with an exit code.
func exitf(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

// silentExit ends the command with a code and no further message: the command has
// already printed what the user needs (diagnostics, a report summary).
type silentExit int

func (s silentExit) Error() string { return fmt.Sprintf("exit status %d", int(s)) }
func (s silentExit) ExitCode() int { return int(s) }

// codeOf maps an error to the process exit code: usage errors are 2 unless they say otherwise.
func codeOf(err error) int {
	if err == nil {
		return ExitOK
	}
	var ec ExitCode
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return ExitInvalid
}
