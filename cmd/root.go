// Package cmd is faultline's command line: one file per verb, each building a cobra
// command from the process Env and handing the work to the packages.
package cmd

import (
	"errors"
	"fmt"

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
		newValidateCmd(env, nil),
		newVersionCmd(env),
		newWatchdogCmd(env),
	)
	return root
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
	started := false
	root.PersistentPreRun = func(*cobra.Command, []string) { started = true }
	err := root.ExecuteContext(env.Context)
	if err != nil {
		var quiet silentExit
		if !errors.As(err, &quiet) {
			fmt.Fprintf(env.Stderr, "Error: %v\n", err)
		}
	}
	return codeOf(err, started)
}
