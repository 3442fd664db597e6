// Package runner runs a planned experiment: preflight, baseline, the faults on their
// timeline, recovery, analysis and the result, in four steps over one run state.
//
// The runner owns the safety rules of DESIGN.md. Every injection is Prepared, written
// to the journal and synced, then Applied; at its end (or at once on an abort, a lost
// observation, an injection failure or an interrupt) it is Reverted on a context that
// survives cancellation, retried, and its journal entry completed. A revert that fails
// for good keeps its entry for `faultline recover` and makes the exit code 4.
//
// It depends on narrow interfaces declared here (a fault factory, a journal, a
// sampler, a range query), so that its logic is tested with small fakes (in synctest
// bubbles, whose fake clock the runner reads as wall time) and
// its behaviour against the real Docker Engine and Prometheus.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/metrics/analysis"
	"github.com/faultline/faultline/result"
)

// FaultFactory builds the Fault of one fault block, rejecting bad parameters.
type FaultFactory func(spec *experiments.FaultSpec) (faults.Fault, error)

// Journal durably records injections before they are applied (journal.Journal).
type Journal interface {
	Append(rec faults.Record) (int, error)
	Complete(id int, note string) error
}

// Lease is the run's hold on its watchdog (watchdog.Lease), the process that reverts
// the journal when the run stops renewing: killed, stopped or hung.
type Lease interface {
	// Arm starts the watchdog. The runner calls it before the first journal entry, so
	// that no fault is ever applied unguarded; later calls do nothing.
	Arm() error
	// Renew proves the run makes progress. An error means the watchdog is gone: the
	// run must stop harming, since nothing would revert its faults if it died.
	Renew() error
	// Release ends the watchdog: every fault is reverted (or kept for recover).
	Release() error
}

// Sampler takes one instant sample of every metric (metrics.Sampler).
type Sampler interface {
	Sample(ctx context.Context, at time.Time) []metrics.Observation
}

// PreflightCheck is one thing that must hold before any fault is injected.
type PreflightCheck struct {
	Name string
	Run  func(ctx context.Context) error
}

// Defaults of Config.
const (
	DefaultParallel = faults.Parallelism
	// DefaultRenewEvery is how often the lease is renewed by default.
	DefaultRenewEvery = time.Second
	// stuckGrace is how long a revert attempt or a journal write may outlive its own
	// deadline before the run counts as hung and stops renewing its lease.
	stuckGrace = 5 * time.Second
)

// Config is everything one run needs.
type Config struct {
	// Plan is the planned experiment with its targets resolved.
	Plan *experiments.Plan
	// Faults builds the fault of each fault block.
	Faults FaultFactory
	// Journal records injections; required unless DryRun, and never written in a dry
	// run (a crash must leave nothing that recover would act on).
	Journal Journal
	// Lease guards the faults with a watchdog; nil for none. Never armed in a dry run.
	Lease Lease
	// RenewEvery is how often the timeline renews the lease; 0 means DefaultRenewEvery.
	RenewEvery time.Duration
	// Sampler takes the live samples; nil when the experiment watches no metric.
	Sampler Sampler
	// RangeQuery fetches the final series for the analysis; nil to analyse the live
	// samples only.
	RangeQuery metrics.RangeQueryFunc
	// Query evaluates the metrics' phase queries at each phase's end; nil: no phase
	// figures.
	Query metrics.QueryFunc
	// Raw returns raw samples (a range vector) for refining times to impact and to
	// recover to scrape times; nil: they stay on the step grid.
	Raw metrics.QueryFunc
	// Preflight checks run before anything else; any failure ends the run with exit 5.
	Preflight []PreflightCheck
	// DryRun does everything but Apply and Revert.
	DryRun bool
	// Parallel bounds the faults applied or reverted at the same time (targets in
	// parallel); 0 means DefaultParallel.
	Parallel int
	// SkipObservation, when it delivers, ends the observation that follows an
	// interrupt or abort (a second SIGINT). Reverts are never skipped.
	SkipObservation <-chan struct{}
	// Progress receives updates for a live view; nil for none. It is called from the
	// runner's goroutines one at a time and must not block for long.
	Progress func(Update)
	// Log receives one line per thing that happened; nil discards.
	Log *slog.Logger
	// Version is recorded in the result.
	Version string
	// Warnings are added to the result (for example the metrics client's).
	Warnings []string
}

// Causes of a run ending before its planned end. ctx's cause (context.Cause) when the
// caller cancels is the reason shown; ErrInterrupted is what a signal handler uses.
var (
	ErrInterrupted = errors.New("interrupted by signal")
	// ErrPreflight marks a failed preflight check: exit code 5.
	ErrPreflight = errors.New("preflight failed")
	// ErrInvalid marks an experiment that cannot be run as planned: exit code 2.
	ErrInvalid = errors.New("experiment cannot be run")
)

// stopCause says why harm stopped early; it becomes the result's status.
type stopCause struct {
	status result.Status
	reason string
	// lost is set when observation was lost: nothing is left to watch.
	lost bool
}

func (s *stopCause) Error() string { return s.reason }

// Update is one change for a live view.
type Update struct {
	Time    time.Time
	Phase   string // baseline, fault, recovery, or "stopping" while reverting early
	Elapsed time.Duration
	Total   time.Duration // planned length of the run
	// Event is set for an injection or a revert.
	Event *result.Event
	// Active lists the faults applied and not yet reverted, as "fault on container".
	Active []string
	// Observations and Checks are set after each sample: the latest values and the
	// checks evaluated on what was seen so far.
	Observations []metrics.Observation
	Checks       []result.CheckResult
	// Message is set for a warning or a stop.
	Message string
}

// Run executes the plan and returns its result. The error is non-nil only when the run
// could not start (ErrPreflight, ErrInvalid); then no fault was injected and the
// result is nil. Cancelling ctx interrupts the run: everything is reverted, the rest
// of the observation still runs (until SkipObservation), and the result is marked
// interrupted with context.Cause(ctx) as its reason.
func Run(ctx context.Context, cfg Config) (*result.Result, error) {
	r, err := newRun(cfg)
	if err != nil {
		return nil, err
	}
	if err := r.preflight(ctx); err != nil {
		return nil, err
	}
	r.timeline(ctx)
	r.analyze(ctx)
	r.decide()
	// A sensitive variable's value reaches no report, wherever the query put it.
	r.res.Redact(cfg.Plan.Experiment.SensitiveValues)
	return r.res, nil
}

// run is the state the stages share.
type run struct {
	cfg      Config
	plan     *experiments.Plan
	log      *slog.Logger
	built    map[*experiments.FaultSpec]faults.Fault
	recorder *metrics.Recorder
	// queries, metricSpecs, checkSpecs and aborts are the experiment's metric, check and
	// abort blocks as the stages below take them.
	queries     []metrics.Query
	metricSpecs []analysis.MetricSpec
	checkSpecs  []analysis.CheckSpec
	aborts      []analysis.AbortSpec
	sem         chan struct{}
	// settled[i][id] is closed once injection i is done with container id: reverted,
	// or never injected. A later injection on that container waits for it.
	settled []map[string]chan struct{}

	t0      time.Time
	obsEnd  time.Time
	stopped *stopCause // why harm stopped early; nil when it ran to plan
	// stopHarm ends the fault phase early with a *stopCause.
	stopHarm context.CancelCauseFunc

	mu           sync.Mutex
	res          *result.Result
	active       map[string]bool
	injected     int
	revertFailed int
	progressMu   sync.Mutex
	// ops are the bounded operations in flight (revert attempts, journal writes), by
	// id, with the time each must be done by: one far past it means the run is hung.
	ops    map[int]boundedOp
	nextOp int
}

type boundedOp struct {
	what     string
	deadline time.Time
}

func newRun(cfg Config) (*run, error) {
	if cfg.Plan == nil || cfg.Plan.Experiment == nil {
		return nil, fmt.Errorf("%w: no plan", ErrInvalid)
	}
	if cfg.Faults == nil {
		return nil, fmt.Errorf("%w: no fault factory", ErrInvalid)
	}
	if cfg.Journal == nil && !cfg.DryRun {
		return nil, fmt.Errorf("%w: no journal: faults are never injected without one", ErrInvalid)
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.RenewEvery <= 0 {
		cfg.RenewEvery = DefaultRenewEvery
	}
	if cfg.DryRun {
		cfg.Journal, cfg.Lease = nil, nil // a dry run leaves nothing for recover
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := cfg.Plan.Experiment
	r := &run{
		cfg:         cfg,
		plan:        cfg.Plan,
		log:         log,
		built:       map[*experiments.FaultSpec]faults.Fault{},
		queries:     Queries(e),
		metricSpecs: metricSpecs(e),
		checkSpecs:  checkSpecs(e),
		sem:         make(chan struct{}, cfg.Parallel),
		active:      map[string]bool{},
		ops:         map[int]boundedOp{},
	}
	for _, a := range e.Aborts {
		r.aborts = append(r.aborts, abortSpec(a))
	}
	r.recorder = metrics.NewRecorder(r.queries, e.Step)
	return r, nil
}

// preflight builds every fault (bad parameters are ErrInvalid) and runs every
// preflight check, reporting all failures at once.
func (r *run) preflight(ctx context.Context) error {
	var invalid []error
	for _, spec := range r.plan.Experiment.Faults {
		f, err := r.cfg.Faults(spec)
		if err != nil {
			invalid = append(invalid, fmt.Errorf("%s: fault %q (%s): %w", spec.DeclRange, spec.Name, spec.Kind, err))
			continue
		}
		r.built[spec] = f
	}
	for _, in := range r.plan.Injections {
		if _, ok := r.plan.Targets[in.Fault.Target]; !ok {
			invalid = append(invalid, fmt.Errorf("fault %q: target %q was not resolved", in.Fault.Name, in.Fault.Target))
		}
	}
	if len(invalid) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(invalid...))
	}
	var failed []error
	for _, c := range r.cfg.Preflight {
		r.log.Info("preflight", "check", c.Name)
		if err := c.Run(ctx); err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", c.Name, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %w", ErrPreflight, errors.Join(failed...))
	}
	return nil
}

// timeline runs baseline, faults and recovery: sampling throughout, each planned
// injection at its time, and the reverts.
func (r *run) timeline(ctx context.Context) {
	e := r.plan.Experiment
	r.t0 = time.Now()
	r.res = r.newResult()
	r.obsEnd = r.t0.Add(r.plan.Total)
	r.log.Info("run started", "experiment", e.Name, "baseline", e.Baseline, "faults", len(r.plan.Injections),
		"duration", r.plan.Total, "dry_run", r.cfg.DryRun)
	if r.cfg.DryRun {
		r.warn("dry run: faults were prepared but never journaled nor applied")
	}

	// harm ends early on an interrupt (ctx), an abort guard, lost observation or a
	// failed injection; observation survives it and ends on its own schedule.
	harm, stopHarm := context.WithCancelCause(ctx)
	defer stopHarm(nil)
	r.stopHarm = stopHarm
	obs, stopObs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopObs()
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		r.sampleLoop(obs, harm)
	}()

	r.settled = make([]map[string]chan struct{}, len(r.plan.Injections))
	for i, in := range r.plan.Injections {
		r.settled[i] = map[string]chan struct{}{}
		for _, t := range r.plan.Targets[in.Fault.Target] {
			r.settled[i][t.ID] = make(chan struct{})
		}
	}
	var wg sync.WaitGroup
	for i := range r.plan.Injections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.inject(harm, i)
		}()
	}
	allSettled := make(chan struct{})
	go func() { wg.Wait(); close(allSettled) }()
	r.holdLease(allSettled)
	// Every fault applied has been reverted (or failed to be, for good): the watchdog
	// has nothing left to guard.
	if r.cfg.Lease != nil {
		if err := r.cfg.Lease.Release(); err != nil {
			r.warn(fmt.Sprintf("watchdog: %v", err))
		}
	}

	if harm.Err() != nil {
		stop := r.stopCauseOf(harm)
		r.stopped = stop
		now := time.Now()
		r.setStatus(stop.status, stop.reason)
		r.log.Warn("harm stopped: every fault reverted", "reason", stop.reason)
		r.progress(Update{Message: "stopped: " + stop.reason})
		r.cutTimeline(now)
		switch {
		case stop.lost:
			r.setRecoveryEnd(now) // we cannot see, so there is nothing to watch
		case r.injectedCount() == 0:
			r.setRecoveryEnd(now)
		default:
			r.setRecoveryEnd(now.Add(e.Recovery))
		}
	}
	if err := r.sleepObserving(ctx, r.observationEnd()); err != nil {
		r.warn(fmt.Sprintf("observation ended early at %s: %v", time.Now().Format(time.RFC3339), err))
		r.setRecoveryEnd(time.Now())
		stopObs()
	}
	if r.stopped != nil && r.stopped.lost {
		stopObs() // a sample may hang until its timeout; there is nothing to wait for
	}
	<-sampled // it takes the sample due at the end, then stops
}

// sleepObserving waits until t while sampling goes on; SkipObservation ends it early,
// and so does an interrupt (ctx) that comes after every fault was already reverted:
// then there is nothing left to revert and the user wants the run to end.
func (r *run) sleepObserving(ctx context.Context, t time.Time) error {
	wait, cancel := context.WithCancelCause(context.Background())
	stopped := r.stopped != nil
	watched := make(chan struct{})
	defer func() { cancel(nil); <-watched }()
	go func() {
		defer close(watched)
		var interrupt <-chan struct{}
		if !stopped {
			interrupt = ctx.Done()
		}
		select {
		case <-r.cfg.SkipObservation: // nil channel: never
			cancel(errors.New("skipped by a second interrupt"))
		case <-interrupt:
			sc := r.stopCauseOf(ctx)
			r.setStatus(sc.status, sc.reason+" during the recovery phase")
			cancel(errors.New("interrupted"))
		case <-wait.Done():
		}
	}()
	return sleepUntil(wait, t)
}

// holdLease renews the watchdog's lease until every injection is settled. It is the
// timeline's own loop, and it renews only when the run shows it makes progress: it
// must take the run's state lock, and no revert attempt or journal write may have
// outlived its deadline by stuckGrace. A stopped process renews nothing; a deadlock on
// the run's state, or an operation stuck past its deadline, stops renewal too, and the
// watchdog takes over.
func (r *run) holdLease(allSettled <-chan struct{}) {
	if r.cfg.Lease == nil {
		<-allSettled
		return
	}
	wait, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-allSettled
		cancel()
	}()
	lost := false
	for {
		if sleepUntil(wait, time.Now().Add(r.cfg.RenewEvery)) != nil {
			return
		}
		r.mu.Lock()
		stuck, isStuck := r.stuckOp(time.Now())
		r.mu.Unlock()
		if isStuck {
			r.log.Error("hung: not renewing the watchdog's lease", "operation", stuck)
			continue
		}
		if err := r.cfg.Lease.Renew(); err != nil && !lost {
			lost = true
			r.stopHarm(&stopCause{status: result.StatusAborted, reason: fmt.Sprintf("the watchdog is gone, and with it the guard against this run dying mid-fault: %v", err)})
		}
	}
}

// stuckOp names an operation in flight far past its deadline; r.mu must be held.
func (r *run) stuckOp(now time.Time) (string, bool) {
	for _, op := range r.ops {
		if now.After(op.deadline.Add(stuckGrace)) {
			return op.what, true
		}
	}
	return "", false
}

// bounded records an operation that must end within bound; call the returned func
// when it does.
func (r *run) bounded(what string, bound time.Duration) (done func()) {
	r.mu.Lock()
	id := r.nextOp
	r.nextOp++
	r.ops[id] = boundedOp{what: what, deadline: time.Now().Add(bound)}
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.ops, id)
		r.mu.Unlock()
	}
}

// armLease starts the watchdog before the first journal entry.
func (r *run) armLease() error {
	if r.cfg.Lease == nil {
		return nil
	}
	return r.cfg.Lease.Arm()
}

func (r *run) stopCauseOf(harm context.Context) *stopCause {
	cause := context.Cause(harm)
	var sc *stopCause
	if errors.As(cause, &sc) {
		return sc
	}
	if cause == nil || errors.Is(cause, context.Canceled) {
		cause = ErrInterrupted
	}
	return &stopCause{status: result.StatusInterrupted, reason: cause.Error()}
}

func (r *run) observationEnd() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.obsEnd
}

// phaseAt names the phase at t for the live view.
func (r *run) phaseAt(t time.Time) string {
	return r.plan.PhaseAt(t.Sub(r.t0))
}

func (r *run) injectedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.injected
}

func (r *run) progress(u Update) {
	if r.cfg.Progress == nil {
		return
	}
	now := time.Now()
	u.Time = now
	u.Elapsed = now.Sub(r.t0)
	u.Total = r.plan.Total
	if u.Phase == "" {
		u.Phase = r.phaseAt(now)
	}
	r.mu.Lock()
	for k := range r.active {
		u.Active = append(u.Active, k)
	}
	r.mu.Unlock()
	sort.Strings(u.Active)
	r.progressMu.Lock()
	defer r.progressMu.Unlock()
	r.cfg.Progress(u)
}
