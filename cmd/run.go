package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/experiments/journal"
	"github.com/faultline/faultline/experiments/runner"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/faults/container"
	"github.com/faultline/faultline/faults/network"
	"github.com/faultline/faultline/internal/dockerx"
	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/report"
	"github.com/faultline/faultline/result"
	"github.com/spf13/cobra"
)

type runOptions struct {
	File      string
	Flags     experimentFlags
	Targets   targetOptions
	Out       string
	Formats   []string
	DryRun    bool
	StateDir  string
	LogFormat string
}

func newRunCmd(env *Env, runF func(*runOptions) error) *cobra.Command {
	opts := &runOptions{}
	c := &cobra.Command{
		Use:   "run FILE",
		Short: "Run an experiment: inject its faults on their timeline, watch, revert, report",
		Long: `Run checks that everything the experiment needs is there (Docker, Prometheus and
every query, privileges, kernel support, no unrecovered journal on its targets),
then observes the baseline, injects every fault at its planned time, reverts each at
its end, observes the recovery, analyses what Prometheus saw and writes the reports.

Every fault is written to a journal before it is injected. Ctrl-C (or SIGTERM)
reverts everything at once and still writes the report, marked interrupted; a
second Ctrl-C skips the rest of the observation, never the reverts. If faultline is
killed, 'faultline recover' reverts what it left.

Exit codes: 0 all checks passed, 1 a check failed, 2 invalid experiment or usage,
3 aborted (abort guard, lost observation, signal, failed injection), 4 a revert
failed (run 'faultline recover'), 5 preflight failed,
6 faultline itself failed (for example a report that cannot be written).`,
		Example: `  faultline run examples/shop/experiment.hcl
  faultline run --var prometheus_url=http://127.0.0.1:9090 --out reports/ --format html,junit checkout.hcl
  faultline run --dry-run --seed 42 checkout.hcl`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runRun(env, opts)
		},
	}
	fs := c.Flags()
	opts.Flags.register(fs)
	registerTargetFlags(fs, &opts.Targets)
	fs.StringVar(&opts.Out, "out", "", "directory for the reports (default faultline-results/RUN-ID); result.json is always written")
	fs.StringSliceVar(&opts.Formats, "format", []string{"html", "text"}, "report formats besides JSON: "+strings.Join(report.Formats, ", "))
	fs.BoolVar(&opts.DryRun, "dry-run", false, "do everything (preflight, targets, journal, observation, report) but inject nothing")
	fs.StringVar(&opts.StateDir, "state-dir", "", "directory of the fault journals (default $FAULTLINE_STATE_DIR, /var/lib/faultline for root, else $XDG_STATE_HOME/faultline)")
	fs.StringVar(&opts.LogFormat, "log-format", "text", "log lines when not drawing the live view: text or json")
	return c
}

func (o *runOptions) validate() error {
	for _, f := range o.Formats {
		if !slices.Contains(report.Formats, f) {
			return exitf(result.ExitInvalid, "--format %q: use a comma-separated list of %s", f, strings.Join(report.Formats, ", "))
		}
	}
	if o.LogFormat != "text" && o.LogFormat != "json" {
		return exitf(result.ExitInvalid, "--log-format %q: use text or json", o.LogFormat)
	}
	if o.Targets.MaxTargets < 0 {
		return exitf(result.ExitInvalid, "--max-targets must be 0 (the experiment's own cap) or positive, not %d", o.Targets.MaxTargets)
	}
	return nil
}

func runRun(env *Env, opts *runOptions) error {
	if err := opts.validate(); err != nil {
		return err
	}
	exp, err := loadExperiment(env, opts.File, &opts.Flags)
	if err != nil {
		return err
	}
	if len(exp.SensitiveValues) > 0 {
		// Whatever this run prints, an error included, carries no sensitive value.
		env.Stdout = redactWriter{env.Stdout, exp.SensitiveValues}
		env.Stderr = redactWriter{env.Stderr, exp.SensitiveValues}
	}
	ctx := env.Context
	plan := experiments.NewPlan(exp)
	runID := journal.NewRunID(time.Now())
	outDir := opts.Out
	if outDir == "" {
		outDir = filepath.Join("faultline-results", runID)
	}
	// Before anything is touched: a run whose reports cannot be written is not started.
	if err := prepareOutDir(outDir); err != nil {
		return exitf(result.ExitInvalid, "%w", err)
	}

	// Preflight, part one: what targets and the journal need.
	cli, err := dockerx.New(env.Getenv)
	if err != nil {
		return exitf(result.ExitPreflight, "preflight: %w", err)
	}
	defer cli.Close()
	if err := dockerx.Preflight(ctx, cli); err != nil {
		return exitf(result.ExitPreflight, "preflight: %w", err)
	}
	stateDir, err := journal.Dir(opts.StateDir, env.Getenv, os.Geteuid())
	if err != nil {
		return exitf(result.ExitPreflight, "preflight: %w", err)
	}
	if err := resolvePlanTargets(ctx, env, plan, opts.Targets); err != nil {
		// A dead run may have left the targets paused or stopped, which is why they
		// no longer match: say so.
		// An empty or too-large selection is the experiment's to fix (exit 2), unless a
		// dead run's journal explains it: then recovering is the preflight step missing.
		note := unrecoveredNote(stateDir)
		err = fmt.Errorf("preflight: resolve targets: %w%s", err, note)
		if note != "" {
			return exitf(result.ExitPreflight, "%w", err)
		}
		return withExitCode(err, result.ExitPreflight)
	}
	if err := refuseJournaledTargets(stateDir, plan); err != nil {
		return exitf(result.ExitPreflight, "preflight: %w", err)
	}
	var prom *metrics.Client
	if exp.Prometheus != nil {
		if prom, err = metrics.NewClient(runner.ClientConfig(exp.Prometheus), env.Getenv); err != nil {
			return exitf(result.ExitPreflight, "preflight: prometheus: %w", err)
		}
	}

	cfg := runner.Config{
		Plan:      plan,
		Faults:    faultFactory(cli, plan),
		Preflight: runPreflight(exp, prom),
		DryRun:    opts.DryRun,
		Version:   BuildVersion(),
	}
	if prom != nil {
		cfg.Sampler = metrics.NewSampler(prom.Query, runner.Queries(exp))
		cfg.RangeQuery = prom.RangeQuery
		cfg.Warnings = prom.Warnings()
	}
	j, err := journal.Create(stateDir, runID, exp.Name)
	if err != nil {
		return exitf(result.ExitPreflight, "preflight: %w", err)
	}
	cfg.Journal = j

	// The first signal interrupts (ctx, cancelled by MainArgs: everything is
	// reverted); the second skips the rest of the observation; reverts are never skipped.
	skip := make(chan struct{})
	cfg.SkipObservation = skip
	env.setSignalHook(runSignalHook(env.Stderr, skip))
	defer env.setSignalHook(nil)
	if ctx.Err() != nil { // a signal during preflight: nothing was touched
		j.Close()
		return exitf(result.ExitAborted, "%w before any fault was injected", context.Cause(ctx))
	}

	var view *liveView
	if env.StdoutTTY && opts.LogFormat == "text" {
		view = newLiveView(env.Stdout, exp)
		cfg.Progress = view.update
	} else {
		cfg.Log = newRunLogger(env.Stderr, opts.LogFormat).With("run", runID)
		cfg.Log.Info("journal", "path", j.Path(), "reports", outDir)
	}
	res, runErr := runner.Run(ctx, cfg)
	if view != nil {
		view.close()
	}
	closeErr := j.Close()
	switch {
	case errors.Is(runErr, runner.ErrPreflight):
		return exitf(result.ExitPreflight, "%w", runErr)
	case runErr != nil:
		return exitf(result.ExitInvalid, "%w", runErr)
	}
	written, werr := writeReports(outDir, opts.Formats, res)
	if err := report.Render(env.Stdout, "text", res); err != nil {
		fmt.Fprintf(safeWriter{env.Stderr}, "print summary: %v\n", err)
	}
	fmt.Fprintf(env.Stdout, "\nReports: %s\n", strings.Join(written, ", "))
	if closeErr != nil {
		fmt.Fprintf(safeWriter{env.Stderr}, "journal: %v\n", closeErr)
	}
	if werr != nil {
		fmt.Fprintf(safeWriter{env.Stderr}, "write reports: %v\n", werr)
		if res.ExitCode == result.ExitPassed {
			return exitf(result.ExitInternal, "write reports to %s: %w", outDir, werr)
		}
	}
	if res.ExitCode != result.ExitPassed {
		return silentExit(res.ExitCode)
	}
	return nil
}

// runPreflight lists the checks the runner makes before any fault: Prometheus answers
// every query, and the kernel and privileges support the network faults.
func runPreflight(exp *experiments.Experiment, prom *metrics.Client) []runner.PreflightCheck {
	var checks []runner.PreflightCheck
	if prom != nil {
		checks = append(checks, runner.PreflightCheck{Name: "prometheus", Run: func(ctx context.Context) error {
			return prom.Preflight(ctx, runner.Queries(exp))
		}})
	}
	var needs []string
	for _, f := range exp.Faults {
		if k, ok := faults.Lookup(f.Kind); ok && k.Category == faults.NetworkFault {
			if n := network.Needs(f.Kind, f.Params); len(n) > 0 {
				needs = append(needs, n...)
			} else {
				needs = append(needs, f.Kind)
			}
		}
	}
	if len(needs) > 0 {
		checks = append(checks, runner.PreflightCheck{Name: "network faults", Run: func(ctx context.Context) error {
			return network.Preflight(ctx, needs)
		}})
	}
	return checks
}

// faultFactory builds each fault block's Fault with the implementation of its category.
func faultFactory(cli container.Client, plan *experiments.Plan) runner.FaultFactory {
	peers := func(target string) []faults.Target { return plan.Targets[target] }
	return func(spec *experiments.FaultSpec) (faults.Fault, error) {
		k, ok := faults.Lookup(spec.Kind)
		if !ok {
			return nil, fmt.Errorf("unknown fault kind %q", spec.Kind)
		}
		switch k.Category {
		case faults.ContainerFault:
			return container.New(cli, spec.Kind, spec.Params)
		case faults.NetworkFault:
			return network.New(spec.Kind, spec.Params, peers, network.WithEngine(cli))
		}
		return nil, fmt.Errorf("fault kind %q has no implementation", spec.Kind)
	}
}

// refuseJournaledTargets fails when another run's journal holds an unreverted fault on
// a container this plan would touch: a dead run's must be recovered first, a live
// run's would fight with ours over the same container.
func refuseJournaledTargets(stateDir string, plan *experiments.Plan) error {
	states, err := journal.Scan(stateDir)
	if err != nil {
		return fmt.Errorf("read fault journals: %w", err)
	}
	ours := map[string]bool{}
	for _, ts := range plan.Targets {
		for _, t := range ts {
			ours[t.ID] = true
		}
	}
	var conflicts []string
	dead := false
	for _, st := range states {
		for _, e := range st.Pending {
			if !ours[e.Record.Target.ID] {
				continue
			}
			who := fmt.Sprintf("run %s (dead)", st.Run)
			if st.Live {
				who = fmt.Sprintf("run %s (live, pid %d on %s)", st.Run, st.PID, st.Host)
			} else {
				dead = true
			}
			conflicts = append(conflicts, fmt.Sprintf("%s on %s, by %s", e.Record.Kind, e.Record.Target.Name, who))
		}
	}
	if len(conflicts) == 0 {
		return nil
	}
	sort.Strings(conflicts)
	advice := "wait for that run to end"
	if dead {
		advice = "run `faultline recover` (with the same --state-dir) to revert them first"
	}
	return fmt.Errorf("unreverted faults in %s hit this experiment's targets: %s; %s",
		stateDir, strings.Join(conflicts, "; "), advice)
}

// unrecoveredNote mentions dead runs' unreverted faults, if there are any.
func unrecoveredNote(stateDir string) string {
	dead, err := journal.Pending(stateDir)
	if err != nil || len(dead) == 0 {
		return ""
	}
	n := 0
	for _, st := range dead {
		n += len(st.Pending)
	}
	return fmt.Sprintf("\nnote: %d fault(s) of %d dead run(s) in %s were never reverted and may be why: run `faultline recover`", n, len(dead), stateDir)
}

// runSignalHook says what each signal does to a run: the first interrupts it (MainArgs
// cancels the context), the second skips the rest of the observation; later ones only
// say that reverts are running.
func runSignalHook(stderr io.Writer, skip chan struct{}) func(n int, s os.Signal) {
	return func(n int, s os.Signal) {
		switch n {
		case 1:
			fmt.Fprintf(stderr, "\n%s: reverting every fault; the report follows (again to skip the rest of the observation)\n", s)
		case 2:
			fmt.Fprintf(stderr, "\n%s: skipping the rest of the observation; reverts still run\n", s)
			close(skip)
		default:
			fmt.Fprintf(stderr, "\n%s: reverts are running and will not be skipped\n", s)
		}
	}
}

func newRunLogger(w io.Writer, format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// writeReports writes result.json and one file per format into dir, which preflight
// created (prepareOutDir); no file is written through a symlink (replaceFile).
func writeReports(dir string, formats []string, res *result.Result) ([]string, error) {
	var written []string
	var errs []error
	all := append([]string{"json"}, formats...)
	seen := map[string]bool{}
	for _, f := range all {
		if seen[f] {
			continue
		}
		seen[f] = true
		path := filepath.Join(dir, "result"+report.Extension(f))
		if err := replaceFile(path, func(w io.Writer) error { return report.Render(w, f, res) }); err != nil {
			errs = append(errs, err)
			continue
		}
		written = append(written, path)
	}
	return written, errors.Join(errs...)
}
