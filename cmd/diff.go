package cmd

import (
	"fmt"
	"io"
	"time"

	"github.com/faultline/faultline/report"
	"github.com/faultline/faultline/result"
	"github.com/spf13/cobra"
)

type diffOptions struct {
	Base, Current       string
	MaxScoreDrop        float64
	MaxRecoveryIncrease time.Duration
	Format              string
	Output              string
}

var diffFormats = []string{"text", "md", "json"}

// newDiffCmd builds the verb; runF replaces the work in tests of flag parsing.
func newDiffCmd(env *Env, runF func(*diffOptions) error) *cobra.Command {
	opts := &diffOptions{}
	c := &cobra.Command{
		Use:   "diff BASE.json NEW.json",
		Short: "Compare two results of an experiment and fail on a resilience regression",
		Long: `Diff compares a new result with a baseline result of the same experiment: per
check, whether it got worse; per metric series, how the time to recover and the
impact changed; and the score.

It is a regression, and the exit code is 1, when a check that passed now fails,
when the score dropped by more than --max-score-drop points, or when a series
recovers later by more than --max-recovery-increase (or no longer recovers).
Without those flags only broken checks count. Exit code 2 when a result cannot
be read.`,
		Example: `  faultline diff last-good/result.json out/result.json
  faultline diff base.json new.json --max-score-drop 5 --max-recovery-increase 10s
  faultline diff base.json new.json --format md >> "$GITHUB_STEP_SUMMARY"`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Base, opts.Current = args[0], args[1]
			// Unset limits are -1 (not checked); a negative limit the user gave is a mistake.
			if c.Flags().Changed("max-score-drop") && opts.MaxScoreDrop < 0 ||
				c.Flags().Changed("max-recovery-increase") && opts.MaxRecoveryIncrease < 0 {
				return exitf(result.ExitInvalid, "--max-score-drop and --max-recovery-increase take limits of 0 or more")
			}
			if !c.Flags().Changed("max-score-drop") {
				opts.MaxScoreDrop = -1
			}
			if !c.Flags().Changed("max-recovery-increase") {
				opts.MaxRecoveryIncrease = -1
			}
			if runF != nil {
				return runF(opts)
			}
			return diffRun(env, opts)
		},
	}
	c.Flags().Float64Var(&opts.MaxScoreDrop, "max-score-drop", 0, "largest allowed score drop in points (0-100)")
	c.Flags().DurationVar(&opts.MaxRecoveryIncrease, "max-recovery-increase", 0, "largest allowed growth of any series' time to recover, e.g. 10s")
	c.Flags().StringVarP(&opts.Format, "format", "f", "text", "output format: text, md or json")
	c.Flags().StringVarP(&opts.Output, "output", "o", "", "write to this file instead of stdout")
	return c
}

func diffRun(env *Env, opts *diffOptions) error {
	if !isFormat(opts.Format, diffFormats) {
		return exitf(result.ExitInvalid, "--format %q: use text, md or json", opts.Format)
	}
	if opts.MaxScoreDrop > 100 {
		return exitf(result.ExitInvalid, "--max-score-drop %v: the score is 0 to 100, give a drop of at most 100 points", opts.MaxScoreDrop)
	}
	base, err := result.ReadFile(opts.Base)
	if err != nil {
		return withExitCode(fmt.Errorf("base result: %w", err), result.ExitInvalid)
	}
	cur, err := result.ReadFile(opts.Current)
	if err != nil {
		return withExitCode(fmt.Errorf("new result: %w", err), result.ExitInvalid)
	}
	d := report.Diff(base, cur, report.DiffLimits{MaxScoreDrop: opts.MaxScoreDrop, MaxRecoveryIncrease: opts.MaxRecoveryIncrease})
	if err := writeTo(env.Stdout, opts.Output, func(w io.Writer) error { return report.RenderDiff(w, opts.Format, d) }); err != nil {
		return err
	}
	if d.Regressed {
		return silentExit(result.ExitCheckFailed)
	}
	return nil
}
