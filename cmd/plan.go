package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/result"
	"github.com/spf13/cobra"
)

type planOptions struct {
	File    string
	JSON    bool
	Flags   experimentFlags
	Targets targetOptions
}

func newPlanCmd(env *Env, runF func(*planOptions) error) *cobra.Command {
	opts := &planOptions{}
	c := &cobra.Command{
		Use:   "plan FILE",
		Short: "Show an experiment's timeline and the containers it would hit",
		Long: `Plan loads an experiment and lays it out in time: the baseline, every fault's
start and end (each repeat on its own line), the recovery and the total duration,
as a table and a small Gantt chart. When a Docker Engine is reachable it also lists
the containers each target resolves to; otherwise it shows the target selectors.
Plan changes nothing. On a pipe it prints tab-separated lines instead.`,
		Example: `  faultline plan examples/slow-database.hcl
  faultline plan --var latency=500ms --seed 42 examples/slow-database.hcl
  faultline plan --json examples/slow-database.hcl | jq '.injections'`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(opts)
			}
			return planRun(env, opts)
		},
	}
	c.Flags().BoolVar(&opts.JSON, "json", false, "print the plan as JSON")
	opts.Flags.register(c.Flags())
	registerTargetFlags(c.Flags(), &opts.Targets)
	return c
}

func planRun(env *Env, opts *planOptions) error {
	exp, err := loadExperiment(env, opts.File, &opts.Flags)
	if err != nil {
		return err
	}
	if opts.Targets.MaxTargets < 0 {
		return exitf(result.ExitInvalid, "--max-targets must be 0 (the experiment's own cap) or positive, not %d", opts.Targets.MaxTargets)
	}
	p := experiments.NewPlan(exp)
	resolveErr := resolvePlanTargets(env.Context, env, p, opts.Targets)
	if env.Context.Err() != nil { // a signal: stop, and print no half-resolved plan
		return exitf(result.ExitAborted, "%w", context.Cause(env.Context))
	}
	dockerNote := ""
	switch {
	case resolveErr == nil:
	case errors.Is(resolveErr, errNoDocker):
		dockerNote = fmt.Sprintf("targets not resolved (%v): showing their selectors", resolveErr)
	default:
		// The timeline does not depend on the containers: print it, then fail with why
		// the targets did not resolve (exit 2 for a selection the experiment must fix).
		dockerNote = "targets not resolved (see the error below): showing their selectors"
		resolveErr = withExitCode(fmt.Errorf("resolve targets: %w", resolveErr), result.ExitPreflight)
	}
	var err2 error
	switch {
	case opts.JSON:
		err2 = writeJSON(env.Stdout, planJSON(p, dockerNote))
	case env.StdoutTTY:
		printPlanTable(safeWriter{env.Stdout}, p, dockerNote)
	default:
		printPlanLines(safeWriter{env.Stdout}, p, dockerNote)
	}
	if resolveErr != nil && !errors.Is(resolveErr, errNoDocker) {
		return resolveErr
	}
	return err2
}

// planRow is one line of the timeline: a phase or one injection.
type planRow struct {
	Label, Kind, Target string
	Start, End          time.Duration
	Instant             bool
	Phase               bool
}

func planRows(p *experiments.Plan) []planRow {
	e := p.Experiment
	rows := []planRow{{Label: experiments.PhaseBaseline, Start: 0, End: e.Baseline, Phase: true}}
	for _, in := range p.Injections {
		label := in.Fault.Name
		if in.Fault.Times > 1 {
			label = fmt.Sprintf("%s #%d", in.Fault.Name, in.Repeat+1)
		}
		rows = append(rows, planRow{Label: label, Kind: in.Fault.Kind, Target: in.Fault.Target,
			Start: in.Start, End: in.End, Instant: in.End == in.Start})
	}
	rows = append(rows,
		planRow{Label: experiments.PhaseFault, Start: p.FaultStart, End: p.FaultEnd, Phase: true},
		planRow{Label: experiments.PhaseRecovery, Start: p.FaultEnd, End: p.Total, Phase: true})
	return rows
}

// ganttWidth is the number of columns of the chart on a terminal.
const ganttWidth = 60

func printPlanTable(w io.Writer, p *experiments.Plan, dockerNote string) {
	e := p.Experiment
	fmt.Fprintf(w, "Experiment %s (%s)\n", e.Name, e.Filename)
	if e.Description != "" {
		fmt.Fprintf(w, "  %s\n", e.Description)
	}
	fmt.Fprintf(w, "  total %s, sampled every %s", fmtDur(p.Total), fmtDur(e.Step))
	if p.Seed != 0 {
		fmt.Fprintf(w, ", seed %d", p.Seed)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)

	rows := planRows(p)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIMELINE\tKIND\tTARGET\tSTART\tEND\tDURATION")
	for _, r := range rows {
		kind, target := r.Kind, r.Target
		if r.Phase {
			kind, target = "phase", "-"
		}
		dur := fmtDur(r.End - r.Start)
		if r.Instant && !r.Phase {
			dur = "instant"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Label, kind, target, fmtDur(r.Start), fmtDur(r.End), dur)
	}
	_ = tw.Flush()

	fmt.Fprintln(w)
	printGantt(w, rows, p.Total)

	fmt.Fprintln(w)
	printTargets(w, p, dockerNote)
}

// printGantt draws one bar per row: # for phases, = for faults, * for instant ones.
func printGantt(w io.Writer, rows []planRow, total time.Duration) {
	if total <= 0 {
		return
	}
	scale := float64(total) / ganttWidth
	fmt.Fprintf(w, "Gantt (one column = %s)\n", fmtDur(time.Duration(scale).Round(time.Millisecond)))
	labelWidth := 0
	for _, r := range rows {
		labelWidth = max(labelWidth, len(r.Label))
	}
	col := func(d time.Duration) int {
		c := int(float64(d) / scale)
		return min(max(c, 0), ganttWidth)
	}
	for _, r := range rows {
		bar := []byte(strings.Repeat(" ", ganttWidth))
		from, to := col(r.Start), col(r.End)
		switch {
		case r.Instant && !r.Phase:
			bar[min(from, ganttWidth-1)] = '*'
		default:
			mark := byte('=')
			if r.Phase {
				mark = '#'
			}
			if to == from && r.End > r.Start {
				to = min(from+1, ganttWidth)
			}
			for i := from; i < to; i++ {
				bar[i] = mark
			}
		}
		fmt.Fprintf(w, "  %-*s |%s|\n", labelWidth, r.Label, bar)
	}
	fmt.Fprintf(w, "  %-*s  0%s%s\n", labelWidth, "", strings.Repeat(" ", ganttWidth-1-len(fmtDur(total))), fmtDur(total))
}

func printTargets(w io.Writer, p *experiments.Plan, dockerNote string) {
	e := p.Experiment
	fmt.Fprintln(w, "Targets")
	if e.MaxTargets > 0 {
		fmt.Fprintf(w, "  at most %d containers in all (max_targets)\n", e.MaxTargets)
	}
	for _, t := range e.Targets {
		fmt.Fprintf(w, "  %s: %s\n", t.Name, selectorText(t))
		if p.Targets == nil {
			continue
		}
		containers := p.Targets[t.Name]
		if len(containers) == 0 {
			fmt.Fprintln(w, "    (no container matches)")
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, c := range containers {
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", c.Name, c.ShortID(), c.Image, c.State)
		}
		_ = tw.Flush()
	}
	if dockerNote != "" {
		fmt.Fprintf(w, "  note: %s\n", dockerNote)
	}
}

// selectorText describes a target block's selectors in one line.
func selectorText(t *experiments.Target) string {
	var parts []string
	if sel := t.Selectors(); sel != "" {
		parts = append(parts, sel)
	}
	parts = append(parts, "state "+t.State, "pick "+pickText(t))
	if t.AllowEmpty {
		parts = append(parts, "may be empty")
	}
	return strings.Join(parts, ", ")
}

func pickText(t *experiments.Target) string {
	switch t.Pick {
	case experiments.PickCount:
		return strconv.Itoa(t.Count)
	case experiments.PickPercent:
		return strconv.FormatFloat(t.Percent, 'f', -1, 64) + "%"
	}
	return t.Pick
}

// printPlanLines prints one tab-separated record per line, first field the record
// type: experiment, phase, injection, target, container, note.
func printPlanLines(w io.Writer, p *experiments.Plan, dockerNote string) {
	e := p.Experiment
	fmt.Fprintf(w, "experiment\t%s\t%s\t%s\t%d\n", e.Name, fmtDur(p.Total), fmtDur(e.Step), p.Seed)
	for _, r := range planRows(p) {
		if r.Phase {
			fmt.Fprintf(w, "phase\t%s\t%s\t%s\n", r.Label, fmtDur(r.Start), fmtDur(r.End))
		}
	}
	for _, in := range p.Injections {
		fmt.Fprintf(w, "injection\t%s\t%d\t%s\t%s\t%s\t%s\n", in.Fault.Name, in.Repeat, in.Fault.Kind, in.Fault.Target, fmtDur(in.Start), fmtDur(in.End))
	}
	for _, t := range e.Targets {
		fmt.Fprintf(w, "target\t%s\t%s\n", t.Name, selectorText(t))
		if p.Targets != nil {
			for _, c := range p.Targets[t.Name] {
				fmt.Fprintf(w, "container\t%s\t%s\t%s\t%s\t%s\n", t.Name, c.Name, c.ShortID(), c.Image, c.State)
			}
		}
	}
	if dockerNote != "" {
		fmt.Fprintf(w, "note\t%s\n", dockerNote)
	}
}

// fmtDur writes a duration the way experiments write them, without Go's trailing "0s".
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

type jsonPlan struct {
	Experiment   string           `json:"experiment"`
	File         string           `json:"file"`
	Description  string           `json:"description,omitempty"`
	Seed         int64            `json:"seed"`
	StepSeconds  float64          `json:"step_seconds"`
	TotalSeconds float64          `json:"total_seconds"`
	Phases       []jsonPhase      `json:"phases"`
	Injections   []jsonInjection  `json:"injections"`
	Targets      []jsonPlanTarget `json:"targets"`
	Resolved     bool             `json:"resolved"` // whether targets were resolved against Docker
	Note         string           `json:"note,omitempty"`
}

type jsonPhase struct {
	Name         string  `json:"name"`
	StartSeconds float64 `json:"start_seconds"`
	EndSeconds   float64 `json:"end_seconds"`
}

type jsonInjection struct {
	Fault        string  `json:"fault"`
	Kind         string  `json:"kind"`
	Target       string  `json:"target"`
	Repeat       int     `json:"repeat"`
	StartSeconds float64 `json:"start_seconds"`
	EndSeconds   float64 `json:"end_seconds"`
}

type jsonPlanTarget struct {
	Name       string          `json:"name"`
	Selector   string          `json:"selector"`
	Containers []faults.Target `json:"containers,omitempty"`
}

func planJSON(p *experiments.Plan, note string) jsonPlan {
	e := p.Experiment
	out := jsonPlan{Experiment: e.Name, File: e.Filename, Description: e.Description, Seed: p.Seed,
		StepSeconds: e.Step.Seconds(), TotalSeconds: p.Total.Seconds(), Resolved: p.Targets != nil, Note: note,
		Phases: []jsonPhase{}, Injections: []jsonInjection{}, Targets: []jsonPlanTarget{}}
	for _, r := range planRows(p) {
		if r.Phase {
			out.Phases = append(out.Phases, jsonPhase{Name: r.Label, StartSeconds: r.Start.Seconds(), EndSeconds: r.End.Seconds()})
		}
	}
	for _, in := range p.Injections {
		out.Injections = append(out.Injections, jsonInjection{Fault: in.Fault.Name, Kind: in.Fault.Kind, Target: in.Fault.Target,
			Repeat: in.Repeat, StartSeconds: in.Start.Seconds(), EndSeconds: in.End.Seconds()})
	}
	for _, t := range e.Targets {
		jt := jsonPlanTarget{Name: t.Name, Selector: selectorText(t)}
		if p.Targets != nil {
			jt.Containers = p.Targets[t.Name]
		}
		out.Targets = append(out.Targets, jt)
	}
	return out
}
