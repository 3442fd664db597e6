package cmd

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/result"
	"github.com/spf13/cobra"
)

type faultsOptions struct {
	Kind string // empty: every kind
	JSON bool
}

func newFaultsCmd(env *Env, runF func(*faultsOptions) error) *cobra.Command {
	opts := &faultsOptions{}
	c := &cobra.Command{
		Use:   "faults [KIND]",
		Short: "List the fault kinds and their parameters",
		Long: `Faults lists every fault kind an experiment can use, with its parameters,
their types, defaults, bounds and meaning. It reads the same registry the
experiment loader checks against, so what it shows is exactly what is accepted.
Every fault block also takes target, start, duration, every and times.`,
		Example: `  faultline faults
  faultline faults delay
  faultline faults --json | jq '.[].name'`,
		Args: cobra.MaximumNArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return faults.KindNames(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Kind = args[0]
			}
			if runF != nil {
				return runF(opts)
			}
			return faultsRun(env, opts)
		},
	}
	c.Flags().BoolVar(&opts.JSON, "json", false, "print the kinds as JSON")
	return c
}

type jsonKind struct {
	Name       string      `json:"name"`
	Category   string      `json:"category"`
	Summary    string      `json:"summary"`
	Instant    bool        `json:"instant"`
	AtLeastOne []string    `json:"at_least_one,omitempty"`
	Params     []jsonParam `json:"params"`
}

type jsonParam struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Required bool   `json:"required"`
	// Default is written as in an experiment ("10s", "SIGKILL"); absent when none.
	Default any `json:"default,omitempty"`
	// Min and Max are numbers in the type's base unit (seconds for durations, bytes,
	// bits per second, percent); Bounds writes them as in an experiment.
	Min    *float64 `json:"min,omitempty"`
	Max    *float64 `json:"max,omitempty"`
	Bounds string   `json:"bounds,omitempty"`
	Enum   []string `json:"enum,omitempty"`
	Doc    string   `json:"doc"`
}

func faultsRun(env *Env, opts *faultsOptions) error {
	kinds := faults.Kinds()
	if opts.Kind != "" {
		k, ok := faults.Lookup(opts.Kind)
		if !ok {
			return exitf(result.ExitInvalid, "no fault kind %q%s; the kinds are %s", opts.Kind, kindSuggestion(opts.Kind), strings.Join(faults.KindNames(), ", "))
		}
		kinds = []faults.Kind{k}
	}
	if opts.JSON {
		out := make([]jsonKind, 0, len(kinds))
		for _, k := range kinds {
			jk := jsonKind{Name: k.Name, Category: string(k.Category), Summary: k.Summary, Instant: k.Instant, AtLeastOne: k.AtLeastOne, Params: []jsonParam{}}
			for _, p := range k.Params {
				jp := jsonParam{Name: p.Name, Type: string(p.Type), Required: p.Required,
					Min: p.Min, Max: p.Max, Bounds: experiments.FormatBounds(p), Enum: p.Enum, Doc: p.Doc}
				if p.Default != nil {
					jp.Default = experiments.FormatDefault(p)
				}
				jk.Params = append(jk.Params, jp)
			}
			out = append(out, jk)
		}
		return writeJSON(env.Stdout, out)
	}
	if !env.StdoutTTY {
		// One line per parameter, for grep and cut: kind, category, param, type,
		// required, default, bounds, doc. A kind without parameters has one line with
		// an empty parameter.
		for _, k := range kinds {
			if len(k.Params) == 0 {
				fmt.Fprintf(env.Stdout, "%s\t%s\t\t\t\t\t\t%s\n", k.Name, k.Category, k.Summary)
			}
			for _, p := range k.Params {
				fmt.Fprintf(env.Stdout, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Name, k.Category, p.Name, p.Type,
					strconv.FormatBool(p.Required), experiments.FormatDefault(p), experiments.FormatBounds(p), p.Doc)
			}
		}
		return nil
	}
	for i, k := range kinds {
		if i > 0 {
			fmt.Fprintln(env.Stdout)
		}
		printKind(env.Stdout, k)
	}
	fmt.Fprintf(env.Stdout, "\nEvery fault block also takes: %s.\n", strings.Join(experiments.CommonFaultAttributes, ", "))
	return nil
}

func printKind(w io.Writer, k faults.Kind) {
	kind := string(k.Category)
	if k.Instant {
		kind += ", instant: no duration"
	}
	fmt.Fprintf(w, "%s (%s)\n  %s\n", k.Name, kind, k.Summary)
	if len(k.AtLeastOne) > 0 {
		fmt.Fprintf(w, "  Needs at least one of: %s\n", strings.Join(k.AtLeastOne, ", "))
	}
	if len(k.Params) == 0 {
		fmt.Fprintln(w, "  No parameters.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PARAMETER\tTYPE\tDEFAULT\tBOUNDS\tDESCRIPTION")
	for _, p := range k.Params {
		def := experiments.FormatDefault(p)
		switch {
		case p.Required:
			def = "required"
		case def == "":
			def = "-"
		}
		bounds := experiments.FormatBounds(p)
		if bounds == "" {
			bounds = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", p.Name, p.Type, def, bounds, p.Doc)
	}
	_ = tw.Flush()
}

func kindSuggestion(given string) string {
	if best := experiments.Nearest(given, faults.KindNames()); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}
