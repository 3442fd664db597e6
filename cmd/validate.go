package cmd

import (
	"fmt"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/result"
	"github.com/spf13/cobra"
)

type validateOptions struct {
	Files []string
	JSON  bool
	Flags experimentFlags
}

type validateFileResult struct {
	File        string           `json:"file"`
	Valid       bool             `json:"valid"`
	Errors      int              `json:"errors"`
	Warnings    int              `json:"warnings"`
	Diagnostics []jsonDiagnostic `json:"diagnostics"`
}

// newValidateCmd builds the verb; runF replaces the work in tests of flag parsing.
func newValidateCmd(env *Env, runF func(*validateOptions) error) *cobra.Command {
	opts := &validateOptions{}
	c := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check experiment files and print every mistake",
		Long: `Validate loads each experiment file the way run would, without touching any
container or server, and prints every mistake with its file, line, column and
source snippet. A game-day file (one with a server or schedule block, for 'faultline
serve') is checked too, with every experiment its schedules name, loaded with the
schedule's vars. Exit code 0 when every file is valid (warnings allowed), 2 when
any is not.`,
		Example: `  faultline validate examples/slow-database.hcl
  faultline validate examples/*.hcl
  faultline validate --var prometheus_url=http://prom:9090 checkout.hcl
  faultline validate --json checkout.hcl | jq '.[].diagnostics'
  faultline validate examples/gameday.hcl`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Files = args
			if runF != nil {
				return runF(opts)
			}
			return validateRun(env, opts)
		},
	}
	c.Flags().BoolVar(&opts.JSON, "json", false, "print the diagnostics of every file as JSON on stdout")
	opts.Flags.register(c.Flags())
	return c
}

func validateRun(env *Env, opts *validateOptions) error {
	results := make([]validateFileResult, 0, len(opts.Files))
	allValid := true
	for _, path := range opts.Files {
		if isGameDay(path) {
			ok := validateGameDay(env, opts, path, &results)
			allValid = allValid && ok
			continue
		}
		exp, files, diags := experiments.Load(path, opts.Flags.loadOptions(env))
		r := validateFileResult{File: path, Valid: !diags.HasErrors(), Diagnostics: toJSONDiagnostics(files, diags)}
		for _, d := range r.Diagnostics {
			if d.Severity == "error" {
				r.Errors++
			} else {
				r.Warnings++
			}
		}
		allValid = allValid && r.Valid
		results = append(results, r)
		if opts.JSON {
			continue
		}
		if len(diags) > 0 {
			printDiagnostics(env.Stderr, env.StderrTTY, files, diags)
		}
		if r.Valid {
			fmt.Fprintf(safeWriter{env.Stdout}, "%s: valid: experiment %q, %s, %s, %s, %s, %s%s\n",
				path, exp.Name, count(len(exp.Targets), "target"), count(len(exp.Faults), "fault"), count(len(exp.Metrics), "metric"),
				count(len(exp.Checks), "check"), count(len(exp.Aborts), "abort guard"), warningNote(r.Warnings))
		} else {
			fmt.Fprintf(safeWriter{env.Stdout}, "%s: invalid: %s%s\n", path, count(r.Errors, "error"), warningNote(r.Warnings))
		}
	}
	if opts.JSON {
		if err := writeJSON(env.Stdout, results); err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
	}
	if !allValid {
		return silentExit(result.ExitInvalid)
	}
	return nil
}

func warningNote(n int) string {
	if n == 0 {
		return ""
	}
	return ", " + count(n, "warning")
}

// count writes "1 fault" or "3 faults".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
