package cmd

import (
	"io"
	"strings"

	"github.com/faultline/faultline/report"
	"github.com/faultline/faultline/result"
	"github.com/spf13/cobra"
)

type reportOptions struct {
	File   string
	Format string
	Output string
}

// newReportCmd builds the verb; runF replaces the work in tests of flag parsing.
func newReportCmd(env *Env, runF func(*reportOptions) error) *cobra.Command {
	opts := &reportOptions{}
	c := &cobra.Command{
		Use:   "report RESULT.json",
		Short: "Render a stored result as text, Markdown, HTML, JUnit XML or JSON",
		Long: `Report re-renders the result a run stored (result.json in the run's --out
directory) in another format: text for the terminal, md for a CI job summary, html
for one self-contained page with a chart per metric, junit for CI test reports (one
test case per check), json for the document itself.

Exit code 0 when the result was rendered, 2 when it cannot be read.`,
		Example: `  faultline report out/result.json
  faultline report out/result.json --format html -o report.html
  faultline report out/result.json --format md >> "$GITHUB_STEP_SUMMARY"
  faultline report out/result.json --format junit -o junit.xml`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(opts)
			}
			return reportRun(env, opts)
		},
	}
	c.Flags().StringVarP(&opts.Format, "format", "f", "text", "output format: "+strings.Join(report.Formats, ", "))
	c.Flags().StringVarP(&opts.Output, "output", "o", "", "write to this file instead of stdout")
	return c
}

func reportRun(env *Env, opts *reportOptions) error {
	if !isFormat(opts.Format, report.Formats) {
		return exitf(result.ExitInvalid, "--format %q: use one of %s", opts.Format, strings.Join(report.Formats, ", "))
	}
	res, err := result.ReadFile(opts.File)
	if err != nil {
		return withExitCode(err, result.ExitInvalid)
	}
	return writeTo(env.Stdout, opts.Output, func(w io.Writer) error { return report.Render(w, opts.Format, res) })
}

// writeTo runs render on stdout, or on the named file, never through a symlink
// (createNoFollow).
func writeTo(stdout io.Writer, path string, render func(io.Writer) error) error {
	if path == "" {
		return render(stdout)
	}
	return createNoFollow(path, render)
}

func isFormat(f string, formats []string) bool {
	for _, x := range formats {
		if f == x {
			return true
		}
	}
	return false
}
