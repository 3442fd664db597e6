package cmd

import (
	"errors"
	"fmt"

	"github.com/faultline/faultline/result"
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

// codeOf maps an error to the process exit code. An error without a code of its own is
// a usage error when the command never started, else faultline's own failure.
func codeOf(err error, started bool) int {
	if err == nil {
		return result.ExitPassed
	}
	var ec ExitCode
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	if !started {
		return result.ExitInvalid
	}
	return result.ExitInternal
}
