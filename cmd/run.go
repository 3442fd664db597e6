package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/experiments/journal"
	"github.com/faultline/faultline/experiments/runner"
	"github.com/faultline/faultline/experiments/watchdog"
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
	Lease     time.Duration
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

Preflight publishes the run's claim on every container it will touch (another run
that would touch one is refused until this one's last revert). Every fault is
written to a journal before it is injected. Ctrl-C (or SIGTERM) reverts everything
at once and still writes the report, marked interrupted; a second Ctrl-C skips the
rest of the observation, never the reverts. Before the first fault a watchdog is
started, detached: if faultline is killed, or stops renewing its lease for --lease
(stopped, hung), the watchdog kills it and reverts its faults, and the next run or
'faultline recover' says what it did.

Exit codes: 0 all checks passed, 1 a check failed or a fault did not take effect, 2 invalid experiment or usage,
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
	fs.BoolVar(&opts.DryRun, "dry-run", false, "do everything (preflight, targets, observation, report) but journal and inject nothing")
	fs.StringVar(&opts.StateDir, "state-dir", "", "directory of the fault journals (default $FAULTLINE_STATE_DIR, /var/lib/faultline for root, else $XDG_STATE_HOME/faultline)")
	fs.StringVar(&opts.LogFormat, "log-format", "text", "log lines when not drawing the live view: text or json")
	fs.DurationVar(&opts.Lease, "lease", watchdog.DefaultLease, "how long the watchdog waits for a sign of life before it kills the run and reverts its faults")
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
	if o.Lease < watchdog.MinLease {
		return exitf(result.ExitInvalid, "--lease %s: use at least %s (a loaded machine would trip a shorter one)", o.Lease, watchdog.MinLease)
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
	runID := journal.NewRunID(time.Now())
	outDir := opts.Out
	if outDir == "" {
		outDir = filepath.Join("faultline-results", runID)
	}
	p, err := prepareRun(env, runRequest{File: opts.File, Flags: opts.Flags, Targets: opts.Targets, DryRun: opts.DryRun,
		StateDir: opts.StateDir, Lease: opts.Lease, RunID: runID, OutDir: outDir})
	if err != nil {
		return err
	}
	defer p.close()
	ctx := env.Context

	// The first signal interrupts (ctx, cancelled by MainArgs: everything is
	// reverted); the second skips the rest of the observation; reverts are never skipped.
	skip := make(chan struct{})
	hooks := runHooks{SkipObservation: skip}
	env.setSignalHook(runSignalHook(env.Stderr, skip))
	defer env.setSignalHook(nil)
	if ctx.Err() != nil { // a signal during preflight: nothing was touched
		p.close()
		return exitf(result.ExitAborted, "%w before any fault was injected", context.Cause(ctx))
	}

	var view *liveView
	if env.StdoutTTY && opts.LogFormat == "text" {
		view = newLiveView(env.Stdout, p.exp)
		hooks.Progress = view.update
	} else {
		hooks.Log = newRunLogger(env.Stderr, opts.LogFormat).With("run", runID)
		hooks.Journal = func(path string) { hooks.Log.Info("journal", "path", path, "reports", outDir) }
	}
	res, closeErr, runErr := p.execute(ctx, hooks)
	if view != nil {
		view.close()
	}
	if runErr != nil {
		return runErr
	}
	written, werr := writeReports(outDir, opts.Formats, res)
	if err := report.Render(env.Stdout, "text", res); err != nil {
		fmt.Fprintf(safeWriter{env.Stderr}, "print summary: %v\n", err)
	}
	fmt.Fprintf(env.Stdout, "\nReports: %s\n", strings.Join(written, ", "))
	if p.obs != nil && !p.obs.temporary {
		fmt.Fprintf(env.Stdout, "Embedded Prometheus data: %s (read it with `promtool tsdb dump %s`, or a Prometheus started with --storage.tsdb.path)\n", p.obs.store.Dir(), p.obs.store.Dir())
	}
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

// runRequest is what one run of an experiment needs besides the process state: the
// part of run's options that `serve` fills from a schedule.
type runRequest struct {
	File     string
	Flags    experimentFlags
	Targets  targetOptions
	DryRun   bool
	StateDir string
	Lease    time.Duration
	RunID    string
	// OutDir, when set, must be writable before anything is touched.
	OutDir string
	// Claim, when set, is told the containers as soon as they are resolved; its error
	// ends the preparation (serve: two of its runs never share a container).
	Claim func([]faults.Target) error
}

// preparedRun is an experiment loaded, planned and through the first preflight (Docker,
// targets resolved, its claim in the journal, no other journal on its targets, a
// Prometheus client, a watchdog lease): what `run` and `serve` share. Its targets are
// known before anything is touched. close releases what execute did not.
type preparedRun struct {
	exp     *experiments.Experiment
	plan    *experiments.Plan
	cfg     runner.Config
	journal *journal.Journal
	// obs is the embedded store with its probes; nil when every metric is the server's.
	obs     *observation
	closers []func()
}

// runHooks are how the caller watches a run.
type runHooks struct {
	Progress        func(runner.Update)
	Log             *slog.Logger
	SkipObservation <-chan struct{}
	// Journal is told the journal's path, when there is one.
	Journal func(path string)
}

// prepareRun loads, plans and preflights an experiment; diagnostics and errors go to
// env's streams (redacted when the experiment holds sensitive values).
func prepareRun(env *Env, req runRequest) (*preparedRun, error) {
	p := &preparedRun{}
	if err := p.prepare(env, req); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *preparedRun) prepare(env *Env, req runRequest) error {
	exp, err := loadExperiment(env, req.File, &req.Flags)
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
	p.exp, p.plan = exp, plan
	runID := req.RunID
	// Before anything is touched: a run whose reports cannot be written is not started.
	if req.OutDir != "" {
		if err := prepareOutDir(req.OutDir); err != nil {
			return exitf(result.ExitInvalid, "%w", err)
		}
	}

	// Preflight, part one: what targets and the journal need.
	cli, err := dockerx.New(env.Getenv)
	if err != nil {
		return exitf(result.ExitPreflight, "preflight: %w", err)
	}
	p.closers = append(p.closers, func() { cli.Close() })
	if err := dockerx.Preflight(ctx, cli); err != nil {
		return exitf(result.ExitPreflight, "preflight: %w", err)
	}
	stateDir, err := journal.Dir(req.StateDir, env.Getenv, os.Geteuid())
	if err != nil {
		return exitf(result.ExitPreflight, "preflight: %w", err)
	}
	// What dead runs and watchdogs left comes first: it may be why targets do not
	// resolve (a container a dead run paused or killed no longer matches).
	dirs := append([]string{stateDir}, journal.OtherDirs(stateDir, env.Getenv, os.Geteuid())...)
	printWatchdogReports(safeWriter{env.Stderr}, safeWriter{env.Stderr}, stateDir, false) // names from journal files: inert
	before := scanJournals(env, dirs)
	if err := resolvePlanTargets(ctx, env, plan, req.Targets); err != nil {
		if lead := unrecoveredLead(before); lead != "" {
			return exitf(result.ExitPreflight, "preflight: %s\nthat may be why a target does not resolve: %w", lead, err)
		}
		return withExitCode(fmt.Errorf("preflight: resolve targets: %w", err), result.ExitPreflight)
	}
	if req.Claim != nil {
		if err := req.Claim(p.targets()); err != nil {
			return err
		}
	}
	// The claim is published before it is checked: of two runs that start together on
	// one container, at least one sees the other.
	var j *journal.Journal
	if !req.DryRun {
		if j, err = journal.Create(stateDir, runID, exp.Name, claimsOf(plan)...); err != nil {
			return exitf(result.ExitPreflight, "preflight: %w", err)
		}
		p.journal = j
		p.closers = append(p.closers, func() { j.Close() }) // a refusal below removes the claim
	}
	if err := refuseJournaledTargets(scanJournals(env, dirs), runID, plan); err != nil {
		return exitf(result.ExitPreflight, "preflight: %w", err)
	}
	var prom *metrics.Client
	// A prometheus block no metric is evaluated on needs no server.
	if exp.Prometheus != nil && len(runner.QueriesFrom(exp, experiments.SourcePrometheus)) > 0 {
		if prom, err = metrics.NewClient(runner.ClientConfig(exp.Prometheus), env.Getenv); err != nil {
			return exitf(result.ExitPreflight, "preflight: prometheus: %w", err)
		}
	}

	// The embedded store scrapes from now on, so that the baseline's first sample exists.
	obs, err := openObservation(exp, plan.Targets, req.OutDir, nil)
	if err != nil {
		return err
	}
	if obs != nil {
		p.obs = obs
		p.closers = append(p.closers, func() { obs.close() })
	}

	cfg := runner.Config{
		Plan:      plan,
		Faults:    faultFactory(cli, plan),
		Preflight: runPreflight(exp, plan, prom, obs),
		DryRun:    req.DryRun,
		Version:   BuildVersion(),
	}
	if prom != nil || obs != nil {
		query, rangeQuery, raw := observationQueries(prom, obs)
		cfg.Sampler = metrics.NewSampler(query, runner.Queries(exp))
		cfg.RangeQuery, cfg.Query, cfg.Raw = rangeQuery, query, raw
	}
	if prom != nil {
		cfg.Warnings = prom.Warnings()
	}
	if obs != nil {
		cfg.Warnings = append(cfg.Warnings, obs.warnings...)
		for _, pr := range obs.probes {
			if w := pr.Warning(); w != "" {
				cfg.Warnings = append(cfg.Warnings, w)
			}
		}
	}
	if j != nil {
		cfg.Journal = j
		bin, err := os.Executable()
		if err != nil {
			return exitf(result.ExitPreflight, "preflight: find the faultline binary to start its watchdog: %w", err)
		}
		lease := watchdog.NewLease(watchdog.Config{Binary: bin, Journal: j.Path(), StateDir: stateDir, Lease: req.Lease, Started: j.NoteWatchdog})
		p.closers = append(p.closers, func() { lease.Release() }) // the runner releases it after the last revert; this is for an early return
		cfg.Lease, cfg.RenewEvery = lease, lease.RenewEvery()
	}
	p.cfg = cfg
	return nil
}

// targets lists every container the run may touch.
func (p *preparedRun) targets() []faults.Target {
	var out []faults.Target
	for _, ts := range p.plan.Targets {
		out = append(out, ts...)
	}
	return out
}

// close releases the lease, the journal (with its claim) and the Docker client, in
// the reverse order of their making.
func (p *preparedRun) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}

// execute runs the prepared experiment. runErr is set only when the run could not
// start (then nothing was injected); closeErr is a journal that did not close
// cleanly, for the caller to report beside the result.
func (p *preparedRun) execute(ctx context.Context, hooks runHooks) (res *result.Result, closeErr, runErr error) {
	cfg := p.cfg
	cfg.SkipObservation, cfg.Progress, cfg.Log = hooks.SkipObservation, hooks.Progress, hooks.Log
	if p.journal != nil && hooks.Journal != nil {
		hooks.Journal(p.journal.Path())
	}
	if p.obs != nil {
		p.obs.startProbes(ctx, hooks.Log)
	}
	res, runErr = runner.Run(ctx, cfg)
	if p.obs != nil {
		// After the final range query: the probes stop, the TSDB is written as a block.
		if err := p.obs.close(); err != nil && res != nil {
			res.Warnings = append(res.Warnings, err.Error())
		}
	}
	if p.journal != nil {
		closeErr = p.journal.Close()
	}
	switch {
	case errors.Is(runErr, runner.ErrPreflight):
		return nil, closeErr, exitf(result.ExitPreflight, "%w", runErr)
	case runErr != nil:
		return nil, closeErr, exitf(result.ExitInvalid, "%w", runErr)
	}
	return res, closeErr, nil
}

// runPreflight lists the checks the runner makes before any fault: every scrape target
// answers and the embedded store evaluates its queries, Prometheus answers every
// query, the kernel and privileges support the network faults, and no network fault's
// target lives in the host's network namespace.
func runPreflight(exp *experiments.Experiment, plan *experiments.Plan, prom *metrics.Client, obs *observation) []runner.PreflightCheck {
	var checks []runner.PreflightCheck
	if obs != nil {
		checks = append(checks, runner.PreflightCheck{Name: "embedded prometheus", Run: obs.preflight(runner.QueriesFrom(exp, experiments.SourceLocal))})
	}
	if prom != nil {
		checks = append(checks, runner.PreflightCheck{Name: "prometheus", Run: func(ctx context.Context) error {
			return prom.Preflight(ctx, runner.QueriesFrom(exp, experiments.SourcePrometheus))
		}})
	}
	var needs []string
	var netTargets []faults.Target
	for _, f := range exp.Faults {
		if k, ok := faults.Lookup(f.Kind); ok && k.Category == faults.NetworkFault {
			netTargets = append(netTargets, plan.Targets[f.Target]...)
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
	if len(netTargets) > 0 {
		checks = append(checks, runner.PreflightCheck{Name: "network fault targets", Run: func(context.Context) error {
			return network.RefuseHostTargets(netTargets)
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

// scanJournals reads the journals of dirs, warning about each file it must skip.
func scanJournals(env *Env, dirs []string) []journal.RunState {
	var all []journal.RunState
	for i, d := range dirs {
		states, err := journal.Scan(d)
		if err != nil {
			if i == 0 {
				fmt.Fprintf(env.Stderr, "warning: %v\n", err)
			}
			continue // another user's directory we may not read
		}
		for _, st := range states {
			if st.Corrupt != nil {
				fmt.Fprintf(env.Stderr, "warning: skipped %s: %v\n", st.Path, st.Corrupt)
				continue
			}
			all = append(all, st)
		}
	}
	return all
}

// claimsOf lists every container the plan may touch: not those only scraped.
func claimsOf(plan *experiments.Plan) []faults.TargetRef {
	seen := map[string]bool{}
	var out []faults.TargetRef
	observedOnly := plan.Experiment.ObservedOnly()
	for _, group := range slices.Sorted(maps.Keys(plan.Targets)) {
		if observedOnly[group] {
			continue // only observed (scraped): never touched, so not claimed
		}
		for _, t := range plan.Targets[group] {
			if !seen[t.ID] {
				seen[t.ID] = true
				out = append(out, faults.TargetRef{ID: t.ID, Name: t.Name, PID: t.PID})
			}
		}
	}
	return out
}

// refuseJournaledTargets fails when another run claims, or holds an unreverted fault
// on, a container this plan would touch: a live run's (or its watchdog's) would fight
// with ours over it; a dead run's must be recovered first.
func refuseJournaledTargets(states []journal.RunState, ownRun string, plan *experiments.Plan) error {
	ours := map[string]string{}
	for _, t := range claimsOf(plan) {
		ours[t.ID] = t.Name
	}
	var conflicts []string
	var advice []string
	for _, st := range states {
		if st.Run == ownRun {
			continue
		}
		var hit []string
		for id, name := range ours {
			if st.Touches(id) {
				hit = append(hit, name)
			}
		}
		if len(hit) == 0 {
			continue
		}
		sort.Strings(hit)
		state := "live: " + holderOf(st)
		if st.Dead() {
			state = fmt.Sprintf("dead: its process is gone and no watchdog holds it; %d fault(s) unreverted", len(st.Pending))
			advice = append(advice, "run `"+recoverCommand(st.Path)+"` to revert them and release the claim")
		} else {
			advice = append(advice, "wait for that run to end")
		}
		conflicts = append(conflicts, fmt.Sprintf("%s claimed by %s (%s), journal %s", strings.Join(hit, ", "), st.Who(), state, st.Path))
	}
	if len(conflicts) == 0 {
		return nil
	}
	slices.Sort(advice)
	return fmt.Errorf("another run holds this experiment's targets: %s; %s",
		strings.Join(conflicts, "; "), strings.Join(slices.Compact(advice), ", or "))
}

// recoverCommand is the command that recovers the journal at path: sudo for root's
// state directory when we are not root, --state-dir for any other.
func recoverCommand(path string) string {
	dir := filepath.Dir(path)
	switch {
	case dir == journal.RootDir && os.Geteuid() != 0:
		return "sudo faultline recover"
	default:
		return "faultline recover --state-dir " + dir
	}
}

// unrecoveredLead names the faults dead runs never reverted, with the command that
// reverts them; "" when there are none.
func unrecoveredLead(states []journal.RunState) string {
	var faults []string
	var cmds []string
	var reverting []string
	for _, st := range states {
		if st.Live && st.Holder != nil && len(st.Pending) > 0 {
			reverting = append(reverting, fmt.Sprintf("%s (%s)", holderOf(st), st.Who()))
		}
		if !st.Dead() || len(st.Pending) == 0 {
			continue
		}
		for _, e := range st.Pending {
			faults = append(faults, fmt.Sprintf("%s %q on %s by %s", e.Record.Kind, e.Record.Fault, e.Record.Target.Name, st.Who()))
		}
		cmds = append(cmds, "`"+recoverCommand(st.Path)+"`")
	}
	if len(faults) == 0 && len(reverting) > 0 {
		return fmt.Sprintf("faults of a dead run are being reverted: %s; wait for it, then run again", strings.Join(reverting, "; "))
	}
	if len(faults) == 0 {
		return ""
	}
	slices.Sort(cmds)
	return fmt.Sprintf("%d fault(s) of dead runs were never reverted (%s): run %s first",
		len(faults), strings.Join(faults, "; "), strings.Join(slices.Compact(cmds), " and "))
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

// observationQueries route each metric's queries to its source: the embedded store
// or the server. raw returns raw samples (range vectors allowed).
func observationQueries(prom *metrics.Client, obs *observation) (query metrics.QueryFunc, rangeQuery metrics.RangeQueryFunc, raw metrics.QueryFunc) {
	var store, server querySource
	if obs != nil {
		store = obs.store
	}
	if prom != nil {
		server = prom
	}
	return routeQueries(store, server)
}

// querySource is where metrics are evaluated: the embedded store (*local.Store) or
// the Prometheus server (*metrics.Client).
type querySource interface {
	Query(ctx context.Context, query string, at time.Time) ([]metrics.Series, error)
	RangeQuery(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]metrics.Series, error)
	Raw(ctx context.Context, query string, at time.Time) ([]metrics.Series, error)
}

// routeQueries send a metric with source = "local" to store and one with source =
// "prometheus" to server; a query of no metric goes to the server when there is one,
// else to the store. Either may be nil, not both.
func routeQueries(store, server querySource) (query metrics.QueryFunc, rangeQuery metrics.RangeQueryFunc, raw metrics.QueryFunc) {
	queries := map[string]metrics.QueryFunc{}
	raws := map[string]metrics.QueryFunc{}
	ranges := map[string]metrics.RangeQueryFunc{}
	var rawDefault metrics.QueryFunc
	if store != nil {
		queries[experiments.SourceLocal], ranges[experiments.SourceLocal], raws[experiments.SourceLocal] = store.Query, store.RangeQuery, store.Raw
		query, rangeQuery, rawDefault = store.Query, store.RangeQuery, store.Raw
	}
	if server != nil {
		queries[experiments.SourcePrometheus], ranges[experiments.SourcePrometheus], raws[experiments.SourcePrometheus] = server.Query, server.RangeQuery, server.Raw
		query, rangeQuery, rawDefault = server.Query, server.RangeQuery, server.Raw
	}
	return metrics.Route(queries, query), metrics.RouteRange(ranges, rangeQuery), metrics.Route(raws, rawDefault)
}
