// Package cmd is faultline's command line: one file per verb, each building a cobra
// command from the process Env and handing the work to the packages.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/faultline/faultline/result"
	"github.com/spf13/cobra"
)

// NewRootCmd builds the faultline command with every verb.
func NewRootCmd(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "faultline",
		Short: "Chaos experiments for containers, with a resilience report",
		Long: `faultline runs chaos experiments written in HCL against containers: it injects
container faults through the Docker Engine API and network faults through netlink
inside each container's network namespace, watches Prometheus metrics throughout,
always reverts what it did, and reports how the system held up.

Exit codes: 0 all checks passed, 1 a check failed, 2 invalid experiment or usage,
3 aborted, 4 a revert failed (run 'faultline recover'), 5 preflight failed,
6 faultline itself failed (for example a report that cannot be written).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return exitf(result.ExitInvalid, "%w\nRun '%s --help' for usage.", err, c.CommandPath())
	})
	root.AddCommand(
		newDiffCmd(env, nil),
		newFaultsCmd(env, nil),
		newPlanCmd(env, nil),
		newRecoverCmd(env, nil),
		newReportCmd(env, nil),
		newRunCmd(env, nil),
		newServeCmd(env, nil),
		newValidateCmd(env, nil),
		newVersionCmd(env),
		newWatchdogCmd(env),
	)
	return root
}

// signalGrace is how long a verb that changes nothing (validate, plan, report, diff,
// faults, version) may take to return after the first signal before faultline exits
// anyway: a read blocked on a pipe or a FIFO does not watch the context.
const signalGrace = 2 * time.Second

// keepsStateOnSignal lists the verbs that must finish their own work after a signal
// (reverts), so they are never abandoned.
var keepsStateOnSignal = map[string]bool{"run": true, "recover": true, "serve": true}

// executeInterruptibly runs the command line; after the first signal a verb that
// changes nothing is given signalGrace to return, then abandoned.
func executeInterruptibly(ctx context.Context, root *cobra.Command, verb *atomic.Value) error {
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	grace := time.NewTimer(signalGrace)
	defer grace.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-grace.C:
			if name, _ := verb.Load().(string); keepsStateOnSignal[name] {
				return <-done
			}
			return fmt.Errorf("%w: the command did not stop by itself", context.Cause(ctx))
		}
	}
}

// Main runs the command line with env's arguments and returns the exit code.
func Main(env *Env) int {
	return MainArgs(env, nil)
}

// MainArgs runs the command line with the given arguments (nil: the process's own).
func MainArgs(env *Env, args []string) int {
	root := NewRootCmd(env)
	if args != nil {
		root.SetArgs(args)
	}
	// A command that fails before it starts (an unknown verb, a wrong number of
	// arguments) was used wrongly; one that fails after with no code of its own hit
	// something unexpected, which is not the user's usage.
	var started atomic.Bool
	var verb atomic.Value // the name of the verb that started
	root.PersistentPreRun = func(c *cobra.Command, _ []string) { verb.Store(c.Name()); started.Store(true) }
	parent := env.Context
	ctx, stopSignals := env.handleSignals(parent)
	defer stopSignals()
	env.Context = ctx
	defer func() { env.Context = parent }() // env may run another command line after this one
	err := afterSignal(executeInterruptibly(ctx, root, &verb), context.Cause(ctx))
	if err != nil {
		var quiet silentExit
		if !errors.As(err, &quiet) {
			fmt.Fprintf(safeWriter{env.Stderr}, "Error: %v\n", err)
		}
	}
	return codeOf(err, started.Load())
}

// afterSignal maps the error of a command that a signal (cause) stopped: whatever
// failed after it failed because of it, and is said so with exit 3. Except a revert
// that failed: the system may still be faulted, which the command's own message and
// exit 4 say.
func afterSignal(err, cause error) error {
	var sig *signalError
	if err == nil || !errors.As(cause, &sig) || errors.As(err, new(silentExit)) || codeOf(err, true) == result.ExitRevertFailed {
		return err
	}
	return exitf(result.ExitAborted, "%w; nothing was left changed", cause)
}
