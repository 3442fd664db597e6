// Package cmd is faultline's command line: one file per verb, each building a cobra
// command from the process Env and handing the work to the packages.
package cmd

import (
	"errors"
	"fmt"
	"sort"

	"github.com/spf13/cobra"
)

// verbs holds the constructor of every verb; each verb's file adds itself in init.
var verbs = map[string]func(*Env) *cobra.Command{}

func addVerb(name string, f func(*Env) *cobra.Command) { verbs[name] = f }

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
3 aborted, 4 a revert failed (run 'faultline recover'), 5 preflight failed.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return exitf(ExitInvalid, "%w\nRun '%s --help' for usage.", err, c.CommandPath())
	})
	names := make([]string, 0, len(verbs))
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		root.AddCommand(verbs[n](env))
	}
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
	err := root.ExecuteContext(env.Context)
	if err != nil {
		var quiet silentExit
		if !errors.As(err, &quiet) {
			fmt.Fprintf(env.Stderr, "Error: %v\n", err)
		}
	}
	return codeOf(err)
}
