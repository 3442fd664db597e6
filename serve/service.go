// Package serve is `faultline serve`: it runs experiments on the schedules of a
// game-day file through the same runner as `faultline run`, keeps every run in the
// history, serves a web UI and a JSON API, exposes its own Prometheus metrics, sends
// notifications, and can halt everything at once.
//
// The service never loads, plans or runs an experiment itself: the command gives it a
// Runner that does what `faultline run` does, and a Recover that does what
// `faultline recover` does.
package serve

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/report"
	"github.com/faultline/faultline/result"
	"github.com/faultline/faultline/serve/gameday"
	"github.com/faultline/faultline/serve/history"
	"github.com/faultline/faultline/serve/notify"
	"github.com/faultline/faultline/serve/schedule"
)

// Runner prepares runs the way `faultline run` does.
type Runner interface {
	// Prepare loads, plans and preflights the experiment and resolves its targets;
	// nothing is touched yet. Diagnostics and errors are also written to req.Log.
	Prepare(ctx context.Context, req Request) (Prepared, error)
}

// Request is one run to prepare.
type Request struct {
	RunID      string
	Experiment string
	Vars       []string
	// Log receives the run's diagnostics and log lines.
	Log io.Writer
	// Claim must be called with the run's containers as soon as they are resolved,
	// before anything else claims or touches them; its error ends the preparation and
	// must be returned as it is.
	Claim func([]Target) error
}

// skipError is a Claim's refusal: the run is recorded as skipped with the reason.
type skipError struct{ reason string }

func (e *skipError) Error() string { return e.reason }

// Target is a container a run touches.
type Target struct{ ID, Name string }

// Prepared is a run ready to start.
type Prepared interface {
	// Experiment is the experiment's name.
	Experiment() string
	// Targets lists every container the run may touch.
	Targets() []Target
	// Run runs it. Cancelling ctx reverts every fault; skip ends the observation after
	// that. event is called for every injection and revert. The error is set only when
	// the run could not start.
	Run(ctx context.Context, skip <-chan struct{}, event func(result.Event)) (*result.Result, error)
	Close()
}

// RecoverFunc reverts what dead runs' journals hold, writing what it did to w.
type RecoverFunc func(ctx context.Context, w io.Writer) error

// Config is everything the service needs.
type Config struct {
	File   *gameday.File
	Token  string
	Runner Runner
	// Recover runs before any schedule when a run was cut short by the death of a
	// previous serve.
	Recover RecoverFunc
	Getenv  func(string) string
	Log     *slog.Logger
	// Seed drives the jitter; 0 picks one.
	Seed uint64
	// RegressionLimits say which change against the last passing run is a regression.
	RegressionLimits report.DiffLimits
}

// DefaultRegressionLimits: a check that broke, any drop of the score, or a series
// that recovers 30 s later than in the last passing run.
var DefaultRegressionLimits = report.DiffLimits{MaxScoreDrop: 0, MaxRecoveryIncrease: 30 * time.Second}

// Service is a running `faultline serve`.
type Service struct {
	cfg      Config
	file     *gameday.File
	store    *history.Store
	metrics  *metrics
	notifier *notify.Notifier
	sched    *schedule.Scheduler
	specs    map[string]*gameday.Schedule
	log      *slog.Logger
	auth     *auth
	tmpl     *template.Template

	root   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	running map[string]*activeRun // by run ID
	busy    map[string]string     // container ID -> run ID
	paused  map[string]string     // schedule -> why, paused by hand (not by HALT)
	halted  string                // why everything was halted, "" when not
	// expNames is each schedule's experiment name, under which its runs are recorded
	// also when they never load the experiment (skipped, could not start, cut short):
	// the name read when the game-day file was loaded, then the one its last prepared
	// run loaded; the file's base name only when neither is known.
	expNames map[string]string
}

type activeRun struct {
	id, schedule, experiment string
	started                  time.Time
	cancel                   context.CancelCauseFunc
	skip                     chan struct{}
	skipOnce                 sync.Once
	targets                  []Target
	faults                   map[string]result.Event // active faults by kind/fault/target
}

// ErrHalted is the cause of a run cancelled by HALT.
var ErrHalted = errors.New("halted")

// New opens the history and builds the service; Start starts it.
func New(cfg Config) (*Service, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.RegressionLimits == (report.DiffLimits{}) {
		cfg.RegressionLimits = DefaultRegressionLimits
	}
	if cfg.Seed == 0 {
		var b [8]byte
		rand.Read(b[:])
		for _, x := range b {
			cfg.Seed = cfg.Seed<<8 | uint64(x)
		}
	}
	hooks, err := webhooks(cfg.File.Notifiers, cfg.Getenv)
	if err != nil {
		return nil, err
	}
	store, err := history.Open(cfg.File.Server.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, file: cfg.File, store: store, log: cfg.Log,
		metrics:  newMetrics(),
		notifier: notify.New(hooks, cfg.Log.With("component", "notify")),
		specs:    map[string]*gameday.Schedule{},
		running:  map[string]*activeRun{},
		busy:     map[string]string{},
		paused:   map[string]string{},
		expNames: map[string]string{},
		auth:     newAuth(cfg.Token),
	}
	var specs []*schedule.Spec
	for _, sc := range cfg.File.Schedules {
		s.specs[sc.Name] = sc
		s.expNames[sc.Name] = sc.ExperimentName
		if sc.ExperimentName == "" {
			s.expNames[sc.Name] = filepath.Base(sc.Experiment)
		}
		specs = append(specs, sc.Spec)
	}
	s.sched = schedule.New(specs, cfg.Seed, s.onFire)
	s.tmpl = s.templates()
	s.metrics.collector.service = s
	if err := s.metrics.restore(store); err != nil {
		store.Close()
		return nil, fmt.Errorf("read the last scores from the history: %w", err)
	}
	return s, nil
}

// webhooks reads the notifiers' URLs and secrets from the environment.
func webhooks(ns []*gameday.Notifier, getenv func(string) string) ([]notify.Webhook, error) {
	var out []notify.Webhook
	for _, n := range ns {
		url := strings.TrimSpace(getenv(n.URLEnv))
		if url == "" {
			return nil, fmt.Errorf("notify %q %q: the environment variable %s is empty: set it to the webhook URL, or remove the block", n.Kind, n.Name, n.URLEnv)
		}
		h := notify.Webhook{Name: n.Name, URL: url, On: map[string]bool{}}
		if n.SecretEnv != "" {
			if h.Secret = getenv(n.SecretEnv); h.Secret == "" {
				return nil, fmt.Errorf("notify %q %q: the environment variable %s is empty: set it to the signing secret, or remove secret_env", n.Kind, n.Name, n.SecretEnv)
			}
		}
		for _, e := range n.On {
			h.On[e] = true
		}
		out = append(out, h)
	}
	return out, nil
}

// Start recovers what a previous serve left, then starts the schedules. Runs are
// children of ctx.
func (s *Service) Start(ctx context.Context) error {
	s.root, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.notifier.Start()
	if err := s.recoverInterrupted(ctx); err != nil {
		return err
	}
	states, err := s.store.Schedules()
	if err != nil {
		return err
	}
	// A HALT holds across restarts until resumed.
	halt, err := s.store.Halted()
	if err != nil {
		return err
	}
	if halt != nil {
		s.halted = halt.Why
	}
	last := map[string]time.Time{}
	now := time.Now()
	for name := range s.specs {
		st, ok := states[name]
		if why, legacy := strings.CutPrefix(st.PausedWhy, haltPrefix); st.Paused && legacy {
			// A history from before HALT was kept on its own paused every schedule
			// with the HALT's reason: that is a HALT, not a pause by hand.
			if s.halted == "" {
				s.halted = why
				if err := s.store.SetHalt(&history.Halt{Why: why, At: now}); err != nil {
					return err
				}
			}
			if err := s.store.SetPaused(name, false, ""); err != nil {
				return err
			}
		} else if st.Paused {
			s.paused[name] = st.PausedWhy
		}
		if ok && !st.LastNominal.IsZero() {
			last[name] = st.LastNominal
		} else if err := s.store.SetLastNominal(name, now); err != nil {
			return err
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.sched.Run(s.root, last)
	}()
	return nil
}

// recoverInterrupted handles runs a killed serve left: the journal recovery reverts
// their faults first, then each is recorded as interrupted.
func (s *Service) recoverInterrupted(ctx context.Context) error {
	actives, err := s.store.Actives()
	if err != nil || len(actives) == 0 {
		return err
	}
	var out bytes.Buffer
	var recErr error
	if s.cfg.Recover != nil {
		recErr = s.cfg.Recover(context.WithoutCancel(ctx), &out)
	}
	s.log.Warn("runs cut short by a previous faultline serve: their faults were reverted from the journal", "runs", len(actives), "recover", strings.TrimSpace(out.String()))
	if recErr != nil {
		return fmt.Errorf("revert what the previous faultline serve left (%s): %w; fix the cause and run `faultline recover`", strings.TrimSpace(out.String()), recErr)
	}
	for _, a := range actives {
		dir, _ := s.store.RunDir(a.ID)
		f, err := os.OpenFile(filepath.Join(dir, "log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
		if err == nil {
			fmt.Fprintf(f, "\n%s faultline serve stopped during this run; at the next start the journal recovery said:\n%s", time.Now().UTC().Format(time.RFC3339), out.String())
			f.Close()
		}
		r := &history.Run{ID: a.ID, Schedule: a.Schedule, Experiment: a.Experiment, Trigger: a.Trigger,
			Status: string(result.StatusInterrupted), Due: a.Due, Started: a.Started, Ended: time.Now(),
			ExitCode: result.ExitAborted,
			Reason:   "faultline serve stopped during the run (killed or crashed); its faults were reverted by the journal recovery at the next start"}
		if err := s.store.Record(r); err != nil {
			return err
		}
		s.finished(r, nil)
	}
	return nil
}

// onFire is the scheduler's callback: it hands each start to its own goroutine.
func (s *Service) onFire(f schedule.Fire) {
	if err := s.store.SetLastNominal(f.Schedule, f.Nominal); err != nil {
		s.log.Error("remember the schedule's last start", "schedule", f.Schedule, "err", err)
	}
	trigger := "schedule"
	if f.Missed > 0 {
		trigger = "catch-up"
	}
	s.launch(f.Schedule, f, trigger)
}

// Trigger starts a run of a schedule now ("run now"), whatever its windows and pause
// say: a person asked for it. It fails when everything is halted.
func (s *Service) Trigger(name, trigger string) (string, error) {
	if _, ok := s.specs[name]; !ok {
		return "", fmt.Errorf("%w: %q", ErrNoSchedule, name)
	}
	s.mu.Lock()
	halted := s.halted
	s.mu.Unlock()
	if halted != "" {
		return "", fmt.Errorf("%w (%s): resume first", ErrIsHalted, halted)
	}
	now := time.Now()
	return s.launch(name, schedule.Fire{Schedule: name, Nominal: now, Start: now}, trigger), nil
}

// Errors of the operations.
var (
	ErrNoSchedule = errors.New("no such schedule")
	ErrIsHalted   = errors.New("everything is halted")
)

func newRunID(schedule string, t time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + schedule + "-" + hex.EncodeToString(b[:])
}

// launch records a skipped start or starts the run in the background; it returns the
// run's ID.
func (s *Service) launch(name string, f schedule.Fire, trigger string) string {
	sc := s.specs[name]
	id := newRunID(name, f.Start)
	s.mu.Lock()
	base := history.Run{ID: id, Schedule: name, Experiment: s.expNames[name], Trigger: trigger, Due: f.Nominal, Started: time.Now()}
	skip := f.Skip
	if skip == "" && (trigger == "schedule" || trigger == "catch-up") {
		if why, ok := s.pausedWhy(name); ok {
			skip = "the schedule is paused (" + why + ")"
		}
	}
	s.mu.Unlock()
	if skip != "" {
		s.skip(&base, skip)
		return id
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.execute(sc, base)
	}()
	return id
}

func (s *Service) skip(r *history.Run, why string) {
	r.Status, r.Reason, r.Ended = history.StatusSkipped, why, time.Now()
	if err := s.store.Begin(history.Active{ID: r.ID, Schedule: r.Schedule, Experiment: r.Experiment, Trigger: r.Trigger, Due: r.Due, Started: r.Started}); err != nil {
		s.log.Error("record a skipped start", "run", r.ID, "err", err)
		return
	}
	if err := s.store.Record(r); err != nil {
		s.log.Error("record a skipped start", "run", r.ID, "err", err)
		return
	}
	s.log.Info("skipped", "run", r.ID, "schedule", r.Schedule, "reason", why)
	s.finished(r, nil)
}

// execute prepares, claims the targets, runs and records one run.
func (s *Service) execute(sc *gameday.Schedule, r history.Run) {
	if err := s.store.Begin(history.Active{ID: r.ID, Schedule: r.Schedule, Experiment: r.Experiment, Trigger: r.Trigger, Due: r.Due, Started: r.Started}); err != nil {
		s.log.Error("start a run", "run", r.ID, "err", err)
		return
	}
	dir, _ := s.store.RunDir(r.ID)
	logFile, err := os.OpenFile(filepath.Join(dir, "log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		s.log.Error("start a run", "run", r.ID, "err", err)
		return
	}
	logw := &lockedWriter{w: logFile}
	fmt.Fprintf(logw, "%s run %s of schedule %q (%s): experiment %s\n", time.Now().UTC().Format(time.RFC3339), r.ID, r.Schedule, r.Trigger, sc.Experiment)

	ctx, cancel := context.WithCancelCause(s.root)
	defer cancel(nil)
	run := &activeRun{id: r.ID, schedule: r.Schedule, experiment: r.Experiment, started: r.Started, cancel: cancel, skip: make(chan struct{}), faults: map[string]result.Event{}}
	s.mu.Lock()
	s.running[r.ID] = run
	s.mu.Unlock()
	// A run leaves the running set and frees its containers before it is recorded:
	// whoever sees it recorded (a HALT, the next run on its containers) sees it over.
	var releaseOnce sync.Once
	release := func() {
		releaseOnce.Do(func() {
			s.mu.Lock()
			delete(s.running, r.ID)
			for id, owner := range s.busy {
				if owner == r.ID {
					delete(s.busy, id)
				}
			}
			s.mu.Unlock()
		})
	}
	defer release()

	finish := func(res *result.Result) {
		release()
		logFile.Close()
		if err := s.store.Record(&r); err != nil {
			s.log.Error("record a run", "run", r.ID, "err", err)
			return
		}
		s.log.Info("run recorded", "run", r.ID, "schedule", r.Schedule, "status", r.Status, "reason", r.Reason)
		s.finished(&r, res)
	}

	// Two runs never touch the same container at once: the run claims its containers
	// as soon as they are resolved, before its journal claims them, so that of two
	// runs due together the second is skipped here with the names, not refused later.
	claim := func(targets []Target) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.halted != "" {
			return &skipError{"halted before it started (" + s.halted + ")"}
		}
		var busy []string
		others := map[string]bool{}
		for _, t := range targets {
			if owner, ok := s.busy[t.ID]; ok {
				busy = append(busy, t.Name)
				others[owner] = true
			}
		}
		if len(busy) > 0 {
			sort.Strings(busy)
			return &skipError{fmt.Sprintf("targets busy: %s (in run %s)", strings.Join(busy, ", "), strings.Join(sortedSet(others), ", "))}
		}
		for _, t := range targets {
			s.busy[t.ID] = r.ID
		}
		run.targets = targets
		return nil
	}
	p, err := s.cfg.Runner.Prepare(ctx, Request{RunID: r.ID, Experiment: sc.Experiment, Vars: sc.VarFlags(), Log: logw, Claim: claim})
	var skipped *skipError
	switch {
	case errors.As(err, &skipped):
		r.Status, r.Reason, r.Ended = history.StatusSkipped, skipped.reason, time.Now()
		fmt.Fprintln(logw, r.Reason)
		finish(nil)
		return
	case err != nil:
		fmt.Fprintf(logw, "could not start: %v\n", err)
		r.Status, r.Reason, r.Ended, r.ExitCode = string(result.StatusError), "could not start: "+err.Error(), time.Now(), exitCode(err)
		finish(nil)
		return
	}
	defer p.Close()
	r.Experiment = p.Experiment()
	s.mu.Lock()
	run.experiment = r.Experiment
	s.expNames[r.Schedule] = r.Experiment
	s.mu.Unlock()
	for _, t := range p.Targets() {
		r.Targets = append(r.Targets, t.Name)
	}
	sort.Strings(r.Targets)
	r.Targets = slices.Compact(r.Targets) // a container in two target blocks is one target
	if run.targets == nil {
		// A Runner that never called Claim: claim now.
		if err := claim(p.Targets()); errors.As(err, &skipped) {
			r.Status, r.Reason, r.Ended = history.StatusSkipped, skipped.reason, time.Now()
			fmt.Fprintln(logw, r.Reason)
			finish(nil)
			return
		}
	}

	res, err := p.Run(ctx, run.skip, func(ev result.Event) { s.onEvent(run, ev) })
	s.clearFaults(run)
	if err != nil {
		fmt.Fprintf(logw, "could not start: %v\n", err)
		r.Status, r.Reason, r.Ended, r.ExitCode = string(result.StatusError), "could not start: "+err.Error(), time.Now(), exitCode(err)
		finish(nil)
		return
	}
	r.Status, r.Reason, r.ExitCode = string(res.Status), res.Reason, res.ExitCode
	r.Ended = time.Now()
	if v, ok := res.Score.Known(); ok {
		r.Score = &v
	}
	r.TimeToRecover = slowestRecovery(res)
	s.writeRunFiles(dir, res, logw)
	s.regression(&r, res)
	finish(res)
}

func exitCode(err error) int {
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return result.ExitInternal
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// slowestRecovery is the longest time to recover of any series, nil when none has one.
func slowestRecovery(res *result.Result) *float64 {
	var out *float64
	for _, m := range res.Metrics {
		for _, se := range m.Series {
			if se.TimeToRecoverSeconds != nil && (out == nil || *se.TimeToRecoverSeconds > *out) {
				v := *se.TimeToRecoverSeconds
				out = &v
			}
		}
	}
	return out
}

func (s *Service) writeRunFiles(dir string, res *result.Result, logw io.Writer) {
	for _, f := range []struct{ name, format string }{{"result.json", "json"}, {"report.html", "html"}} {
		path := filepath.Join(dir, f.name)
		out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
		if err == nil {
			err = report.Render(out, f.format, res)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(logw, "write %s: %v\n", f.name, err)
			s.log.Error("write a run's report", "file", path, "err", err)
		}
	}
	fmt.Fprintf(logw, "%s %s: %s\n", time.Now().UTC().Format(time.RFC3339), strings.ToUpper(string(res.Status)), res.Reason)
}

// regression compares the run with the previous passing run of its schedule.
func (s *Service) regression(r *history.Run, res *result.Result) {
	prev, err := s.store.LastPassed(r.Schedule, 0)
	if err != nil || prev == nil {
		return
	}
	dir, _ := s.store.RunDir(prev.ID)
	base, err := result.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		s.log.Warn("compare with the last passing run", "run", prev.ID, "err", err)
		return
	}
	d := report.Diff(base, res, s.regressionLimits(r.Schedule))
	if d.Regressed {
		r.Regressed = true
		r.Regression = fmt.Sprintf("against run %s: %s", prev.ID, strings.Join(d.Regressions, "; "))
	}
}

// regressionLimits are serve's, with what the schedule block sets instead.
func (s *Service) regressionLimits(schedule string) report.DiffLimits {
	l := s.cfg.RegressionLimits
	if sc := s.specs[schedule]; sc != nil {
		if sc.MaxScoreDrop != nil {
			l.MaxScoreDrop = *sc.MaxScoreDrop
		}
		if sc.MaxRecoveryIncrease != nil {
			l.MaxRecoveryIncrease = *sc.MaxRecoveryIncrease
		}
	}
	return l
}

// finished updates the metrics and notifies.
func (s *Service) finished(r *history.Run, res *result.Result) {
	s.metrics.observe(r)
	events := []string{r.Status}
	if r.ExitCode == result.ExitRevertFailed {
		events = append(events, "revert_failed")
	}
	if r.Regressed {
		events = append(events, "regressed")
	}
	for _, e := range events {
		text := fmt.Sprintf("faultline: %s of %s: %s", r.Experiment, r.Schedule, strings.ToUpper(e))
		if r.Score != nil {
			text += fmt.Sprintf(", score %.1f", *r.Score)
		}
		switch {
		case e == "regressed":
			text += " — " + r.Regression
		case r.Reason != "":
			text += " — " + r.Reason
		}
		s.notifier.Send(notify.Message{Text: text, Event: e, Run: r.ID, Schedule: r.Schedule, Experiment: r.Experiment,
			Status: r.Status, Reason: r.Reason, Score: r.Score, URL: s.file.Server.PublicURL + "/runs/" + url.PathEscape(r.ID)})
	}
}

func faultKey(ev result.Event) string { return ev.Kind + "\x00" + ev.Fault + "\x00" + ev.Target.ID }

// onEvent tracks injected faults for faultline_fault_active.
func (s *Service) onEvent(run *activeRun, ev result.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := faultKey(ev)
	switch {
	case ev.Type == result.EventInject && ev.Error == "":
		run.faults[key] = ev
		s.metrics.faultActive.WithLabelValues(run.experiment, ev.Fault, ev.Kind, ev.Target.Name).Set(1)
	case ev.Type == result.EventRevert && ev.Error == "":
		if _, ok := run.faults[key]; ok {
			delete(run.faults, key)
			s.metrics.faultActive.DeleteLabelValues(run.experiment, ev.Fault, ev.Kind, ev.Target.Name)
		}
	}
}

// clearFaults removes the gauge of faults a run ended with: a failed revert stays
// reported in the run's result and exit code, not as a fault active for ever.
func (s *Service) clearFaults(run *activeRun) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, ev := range run.faults {
		s.metrics.faultActive.DeleteLabelValues(run.experiment, ev.Fault, ev.Kind, ev.Target.Name)
		delete(run.faults, k)
	}
}

const haltPrefix = "HALT: "

// pausedWhy says whether a schedule's starts are paused, by HALT or by hand, and why.
// s.mu is held.
func (s *Service) pausedWhy(name string) (string, bool) {
	hand, byHand := s.paused[name]
	switch {
	case s.halted != "" && byHand:
		return haltPrefix + s.halted + "; also paused by hand: " + hand, true
	case s.halted != "":
		return haltPrefix + s.halted, true
	}
	return hand, byHand
}

// Halt reverts every running experiment at once (their contexts are cancelled: the
// runner reverts on cancel, and the rest of their observation is skipped) and pauses
// every schedule until Resume, also across restarts. It leaves the schedules' own
// pauses as they are: Resume lifts the HALT and nothing else.
func (s *Service) Halt(why string) int {
	s.mu.Lock()
	s.halted = why
	n := 0
	for _, run := range s.running {
		run.cancel(fmt.Errorf("%w: %s", ErrHalted, why))
		run.skipOnce.Do(func() { close(run.skip) })
		n++
	}
	s.mu.Unlock()
	if err := s.store.SetHalt(&history.Halt{Why: why, At: time.Now()}); err != nil {
		s.log.Error("remember the HALT across restarts", "err", err)
	}
	s.log.Warn("HALT: every running experiment is being reverted and every schedule is paused", "why", why, "runs", n)
	return n
}

// Resume lifts a HALT: every schedule runs again, except those paused by hand.
func (s *Service) Resume() {
	s.mu.Lock()
	s.halted = ""
	s.mu.Unlock()
	if err := s.store.SetHalt(nil); err != nil {
		s.log.Error("forget the HALT", "err", err)
	}
}

// SetPaused pauses or resumes one schedule by hand; a HALT holds over it.
func (s *Service) SetPaused(name string, paused bool, why string) error {
	if _, ok := s.specs[name]; !ok {
		return fmt.Errorf("%w: %q", ErrNoSchedule, name)
	}
	s.mu.Lock()
	if paused {
		s.paused[name] = why
	} else {
		delete(s.paused, name)
	}
	s.mu.Unlock()
	return s.store.SetPaused(name, paused, why)
}

// WaitIdle waits until no run is going, or ctx ends.
func (s *Service) WaitIdle(ctx context.Context) error {
	for {
		s.mu.Lock()
		n := len(s.running)
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ErrRevertFailed is what Shutdown's error wraps when a run it stopped ended with a
// fault it could not revert.
var ErrRevertFailed = errors.New("a revert failed")

// Shutdown stops the schedules, reverts every running experiment (as HALT does), waits
// for each to be recorded, and closes the history. Unlike HALT it pauses no schedule
// for the next start. Its error names the runs it stopped that ended with a failed
// revert (wrapping ErrRevertFailed), and says when runs were still going at ctx's end.
func (s *Service) Shutdown(ctx context.Context, why string) error {
	s.mu.Lock()
	var stopped []string
	for id, run := range s.running {
		run.cancel(fmt.Errorf("%w: %s", ErrHalted, why))
		run.skipOnce.Do(func() { close(run.skip) })
		stopped = append(stopped, id)
	}
	s.halted = why
	s.mu.Unlock()
	sort.Strings(stopped)
	if len(stopped) > 0 {
		s.log.Warn("stopping: every running experiment is being reverted", "why", why, "runs", len(stopped))
	}
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var errs []error
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("runs still going at shutdown: their journals hold what is left; run `faultline recover`: %w", ctx.Err()))
	}
	var failed []string
	for _, id := range stopped {
		if r, err := s.store.Get(id); err == nil && r.ExitCode == result.ExitRevertFailed {
			failed = append(failed, id)
		}
	}
	if len(failed) > 0 {
		s.log.Error("stopping: a run could not revert every fault", "runs", strings.Join(failed, ", "))
		errs = append(errs, fmt.Errorf("%w: run %s ended with faults not reverted: their journals hold what is left; run `faultline recover`",
			ErrRevertFailed, strings.Join(failed, ", ")))
	}
	err := errors.Join(errs...)
	s.notifier.Close(5 * time.Second)
	if cerr := s.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// Store gives read access to the history (the verify verb, tests).
func (s *Service) Store() *history.Store { return s.store }

// ScheduleView is a schedule as the UI and the API show it.
type ScheduleView struct {
	Name       string    `json:"name"`
	Experiment string    `json:"experiment"`
	Cron       string    `json:"cron"`
	TimeZone   string    `json:"time_zone"`
	Jitter     string    `json:"jitter,omitempty"`
	Only       string    `json:"only,omitempty"`
	Never      []string  `json:"never,omitempty"`
	Missed     string    `json:"missed"`
	NextDue    time.Time `json:"next_due,omitzero"`
	NextStart  time.Time `json:"next_start,omitzero"`
	NextSkip   string    `json:"next_skip,omitempty"`
	// Paused says that its starts are skipped, by HALT or by hand; PausedByHand only
	// by hand (what the schedule's own resume lifts).
	Paused       bool     `json:"paused"`
	PausedByHand bool     `json:"paused_by_hand"`
	PausedWhy    string   `json:"paused_why,omitempty"`
	Running      []string `json:"running,omitempty"`
}

// Schedules returns every schedule with its next start and state.
func (s *Service) Schedules() []ScheduleView {
	up := s.sched.Upcoming()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ScheduleView
	for _, sc := range s.file.Schedules {
		v := ScheduleView{Name: sc.Name, Experiment: s.expNames[sc.Name], Cron: sc.Spec.CronText, TimeZone: sc.Spec.Location.String(), Missed: string(sc.Spec.Missed)}
		if sc.Spec.Jitter > 0 {
			v.Jitter = sc.Spec.Jitter.String()
		}
		if sc.Spec.Only != nil {
			v.Only = sc.Spec.Only.String()
		}
		for _, b := range sc.Spec.Never {
			v.Never = append(v.Never, b.String())
		}
		if f, ok := up[sc.Name]; ok {
			v.NextDue, v.NextStart, v.NextSkip = f.Nominal, f.Start, f.Skip
		}
		v.PausedWhy, v.Paused = s.pausedWhy(sc.Name)
		_, v.PausedByHand = s.paused[sc.Name]
		for id, run := range s.running {
			if run.schedule == sc.Name {
				v.Running = append(v.Running, id)
			}
		}
		sort.Strings(v.Running)
		out = append(out, v)
	}
	return out
}

// Halted says why everything is halted, "" when it is not.
func (s *Service) Halted() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.halted
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
