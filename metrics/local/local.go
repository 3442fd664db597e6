// Package local is an embedded Prometheus for one run: Prometheus's own scrape manager
// (static targets only), its TSDB in a directory the caller chooses, and its PromQL
// engine, behind the same query function types as the client of a Prometheus server
// (metrics.QueryFunc, metrics.RangeQueryFunc). Nothing has to be installed or running
// for faultline to observe a service, and the queries mean exactly what they mean on a
// server, because it is the same code.
//
// faultline writes series of its own into the same store (probes: metrics/probe)
// through Store.Append.
//
// The directory is a normal Prometheus data directory and is kept after Close, which
// writes what was collected as a block: `promtool tsdb list DIR` and `promtool tsdb
// dump DIR` read it, and a Prometheus server started with --storage.tsdb.path=DIR
// serves it.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/result"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

// Defaults of Options.
const (
	// DefaultInterval is the scrape interval when neither the job nor Options set one;
	// callers pass the experiment's step as Options.Interval.
	DefaultInterval = 5 * time.Second
	// DefaultMetricsPath is scraped when a job names no path.
	DefaultMetricsPath = "/metrics"
	// maxScrapeTimeout caps the default scrape timeout (the interval), as Prometheus's
	// own default of 10s does.
	maxScrapeTimeout = 10 * time.Second
	// maxSamples bounds the samples one query may load, Prometheus's own default.
	maxSamples = 50_000_000
)

// Job is one scrape job: targets scraped over plain HTTP at the same path and
// interval. Its Name is the series' job label; each target's address is their
// instance label, as on a Prometheus server with a static_configs block.
type Job struct {
	Name string
	// Targets are host:port addresses.
	Targets []string
	// Path is the HTTP path scraped (default /metrics).
	Path string
	// Interval is the scrape interval; 0 means Options.Interval.
	Interval time.Duration
	// Timeout bounds one scrape; 0 means the interval, at most 10s.
	Timeout time.Duration
}

// Options configure a Store.
type Options struct {
	// Dir holds the TSDB. It is created if missing and kept after Close. Required.
	Dir string
	// Jobs are scraped from Open until Close. None is fine: a store of probes only.
	Jobs []Job
	// Interval is the scrape interval of jobs that set none: the experiment's step.
	// 0 means DefaultInterval.
	Interval time.Duration
	// QueryTimeout bounds one query; 0 means metrics.DefaultTimeout.
	QueryTimeout time.Duration
	// Logger receives the engine's own log lines; nil discards them.
	Logger *slog.Logger
}

// Store is the embedded Prometheus of one run. Its methods are safe for concurrent use.
type Store struct {
	dir     string
	jobs    []Job
	db      *tsdb.DB
	engine  *promql.Engine
	scraper *scrape.Manager
	timeout time.Duration
	// Registry holds the engine's, the TSDB's and the scrape manager's own metrics.
	registry *prometheus.Registry

	runDone   chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open opens (or creates) the TSDB in opts.Dir and starts scraping every job at once:
// the first scrape of each target happens within one interval (Prometheus spreads
// targets over the interval). Call WaitScraped before the baseline so that its first
// sample exists, and Close at the end of the run.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("embedded prometheus: no data directory: say where the run's TSDB goes")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = metrics.DefaultTimeout
	}
	jobs, err := normalizeJobs(opts.Jobs, opts.Interval)
	if err != nil {
		return nil, err
	}
	cfg, err := scrapeConfig(jobs, opts.Interval)
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = promslog.NewNopLogger()
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded prometheus: data directory: %w", err)
	}
	reg := prometheus.NewRegistry()
	dbOpts := tsdb.DefaultOptions()
	db, err := tsdb.Open(opts.Dir, logger.With("component", "tsdb"), reg, dbOpts, nil)
	if err != nil {
		return nil, fmt.Errorf("embedded prometheus: open the TSDB in %s (is another run using it?): %w", opts.Dir, err)
	}
	s := &Store{
		dir:      opts.Dir,
		jobs:     jobs,
		db:       db,
		timeout:  opts.QueryTimeout,
		registry: reg,
		runDone:  make(chan struct{}),
	}
	s.engine = promql.NewEngine(promql.EngineOpts{
		Logger:     logger.With("component", "query engine"),
		Reg:        reg,
		MaxSamples: maxSamples,
		Timeout:    opts.QueryTimeout,
		// Always on in Prometheus since 2.33: the same PromQL as a server's.
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
		// The options experiments/ validates queries with at load time.
		Parser: parser.NewParser(parser.Options{EnableExperimentalFunctions: true}),
	})

	s.scraper, err = scrape.NewManager(&scrape.Options{
		// Without this the manager waits its first reload interval (5s) before it
		// creates the scrape pools: the baseline's first sample would be late.
		DiscoveryReloadOnStartup: true,
		DiscoveryReloadInterval:  model.Duration(time.Second),
	}, logger.With("component", "scrape manager"), nil, db, nil, reg)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("embedded prometheus: scrape manager: %w", err)
	}
	if err := s.scraper.ApplyConfig(cfg); err != nil {
		db.Close()
		return nil, fmt.Errorf("embedded prometheus: scrape configuration: %w", err)
	}
	groups := make(chan map[string][]*targetgroup.Group, 1)
	groups <- targetGroups(jobs)
	go func() {
		defer close(s.runDone)
		_ = s.scraper.Run(groups) // returns nil once Stop is called
	}()
	return s, nil
}

// Dir is the TSDB's directory.
func (s *Store) Dir() string { return s.dir }

// Registry holds the embedded engine's own metrics (prometheus_tsdb_*, prometheus_engine_*,
// prometheus_target_*), for a caller that exposes them.
func (s *Store) Registry() *prometheus.Registry { return s.registry }

// Query evaluates an instant query at a time. It is a metrics.QueryFunc. Like a
// server's client (metrics.Client.Query), it refuses a range vector (metrics.ErrNotInstant).
func (s *Store) Query(ctx context.Context, query string, at time.Time) ([]metrics.Series, error) {
	return s.query(ctx, query, at, false)
}

// Raw evaluates an instant query that may return a range vector, such as
// `errors_total[1m]`: the raw samples with their scrape times. It is a metrics.QueryFunc.
func (s *Store) Raw(ctx context.Context, query string, at time.Time) ([]metrics.Series, error) {
	return s.query(ctx, query, at, true)
}

func (s *Store) query(ctx context.Context, query string, at time.Time, raw bool) ([]metrics.Series, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	q, err := s.engine.NewInstantQuery(ctx, s.db, nil, query, at)
	if err != nil {
		return nil, explain(err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, explain(res.Err)
	}
	if m, ok := res.Value.(promql.Matrix); ok && !raw {
		return nil, fmt.Errorf("%w: it returned a range vector (%d series of several samples each): drop the range selector ([1m]) or wrap it in a function such as rate() or avg_over_time()", metrics.ErrNotInstant, len(m))
	}
	return fromValue(res.Value)
}

// Preflight evaluates every query once now, as metrics.Client.Preflight does on a
// server: each must parse and return an instant vector or a scalar. Every failing
// query is reported with its file:line. An empty result is fine: the data may come.
func (s *Store) Preflight(ctx context.Context, ms []metrics.Query) error {
	var errs []error
	now := time.Now()
	for _, m := range ms {
		if _, err := s.Query(ctx, m.Expr, now); err != nil {
			errs = append(errs, fmt.Errorf("%s: metric %q: %w", m.Location(), m.Name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("embedded prometheus: %w", errors.Join(errs...))
	}
	return nil
}

// RangeQuery evaluates a query over [start, end] at step resolution. It is a
// metrics.RangeQueryFunc.
func (s *Store) RangeQuery(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]metrics.Series, error) {
	if step <= 0 {
		return nil, fmt.Errorf("range query step must be positive, got %s", step)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	q, err := s.engine.NewRangeQuery(ctx, s.db, nil, query, start, end, step)
	if err != nil {
		return nil, explain(err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, explain(res.Err)
	}
	return fromValue(res.Value)
}

// Append stores series that faultline measures itself (probes), in one commit. Each
// series' Labels must hold __name__; every sample is appended at its own time.
func (s *Store) Append(ctx context.Context, series ...metrics.Series) error {
	app := s.db.Appender(ctx)
	for _, ser := range series {
		if ser.Labels[model.MetricNameLabel] == "" {
			_ = app.Rollback()
			return fmt.Errorf("embedded prometheus: append: series %s has no %s label", result.LabelString(ser.Labels), model.MetricNameLabel)
		}
		lset := labels.FromMap(ser.Labels)
		var sref storage.SeriesRef
		for _, smp := range ser.Samples {
			r, err := app.Append(sref, lset, smp.Time.UnixMilli(), smp.Value)
			if err != nil {
				_ = app.Rollback()
				return fmt.Errorf("embedded prometheus: append %s at %s: %w", result.LabelString(ser.Labels), smp.Time.Format(time.RFC3339Nano), err)
			}
			sref = r
		}
	}
	if err := app.Commit(); err != nil {
		return fmt.Errorf("embedded prometheus: commit: %w", err)
	}
	return nil
}

// TargetState is what the store knows of one scrape target.
type TargetState struct {
	Job     string
	Address string
	URL     string
	// Health is "up", "down" or "unknown" (not scraped yet).
	Health     string
	LastScrape time.Time
	LastError  string
}

// Targets lists every target of every job with the state of its last scrape, in the
// order of the jobs and their targets.
func (s *Store) Targets() []TargetState {
	active := s.scraper.TargetsActive()
	var out []TargetState
	for _, j := range s.jobs {
		byAddr := map[string]*scrape.Target{}
		for _, t := range active[j.Name] {
			byAddr[t.GetValue(model.AddressLabel)] = t
		}
		for _, addr := range j.Targets {
			st := TargetState{Job: j.Name, Address: addr, URL: "http://" + addr + j.Path, Health: string(scrape.HealthUnknown)}
			if t := byAddr[addr]; t != nil {
				st.URL = t.URL().String()
				st.Health = string(t.Health())
				st.LastScrape = t.LastScrape()
				if err := t.LastError(); err != nil {
					st.LastError = err.Error()
				}
			}
			out = append(out, st)
		}
	}
	return out
}

// WaitScraped waits until every target has been scraped successfully twice, so that
// the baseline starts with data, also for rate() and increase(), which need two
// samples. It fails when ctx ends before every target was scraped once, naming each
// one that was not and why (connection refused, HTTP status, timeout). The second
// scrape is waited for at most the target's interval plus its timeout after the first:
// a target scraped once is reachable, and a missing second scrape costs at most the
// first step's value. Without a deadline on ctx it waits at most three of the longest
// interval plus its timeout.
func (s *Store) WaitScraped(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		longest := time.Duration(0)
		for _, j := range s.jobs {
			longest = max(longest, 3*j.Interval+j.Timeout)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, longest)
		defer cancel()
	}
	grace := map[string]time.Duration{}
	for _, j := range s.jobs {
		grace[j.Name] = j.Interval + j.Timeout
	}
	type firstScrape struct{ at, seen time.Time }
	first := map[string]firstScrape{} // by job and address: the first good scrape seen
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var missing []string
		twice := true
		now := time.Now()
		for _, t := range s.Targets() {
			if t.Health == string(scrape.HealthGood) {
				key := t.Job + "\x00" + t.Address
				f, ok := first[key]
				if !ok {
					f = firstScrape{at: t.LastScrape, seen: now}
					first[key] = f
				}
				if !t.LastScrape.After(f.at) && now.Sub(f.seen) < grace[t.Job] {
					twice = false
				}
				continue
			}
			why := "not scraped yet"
			if t.LastError != "" {
				why = t.LastError
			}
			missing = append(missing, fmt.Sprintf("job %q target %s: %s", t.Job, t.URL, why))
		}
		if len(missing) == 0 && twice {
			return nil
		}
		select {
		case <-ctx.Done():
			if len(missing) == 0 {
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					return nil // each scraped once: the run can start
				}
				return fmt.Errorf("embedded prometheus: waiting for a second scrape: %w", context.Cause(ctx))
			}
			return fmt.Errorf("embedded prometheus: cannot scrape %s: check that the address and path are right and that the service runs and is reachable from here: %w",
				strings.Join(missing, "; "), context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// Close stops scraping, writes what was collected as a block in the directory (so
// that promtool and a Prometheus server read it as they read their own) and closes the
// TSDB. It is idempotent; queries after Close fail.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.scraper.Stop()
		<-s.runDone
		s.scraper.UnregisterMetrics()
		var errs []error
		if err := s.engine.Close(); err != nil {
			errs = append(errs, fmt.Errorf("query engine: %w", err))
		}
		head := s.db.Head()
		if mint, maxt := head.MinTime(), head.MaxTime(); mint != math.MaxInt64 && maxt >= mint {
			// maxt+1: the range of a block is half-open and must hold the last sample.
			if err := s.db.CompactHead(tsdb.NewRangeHead(head, mint, maxt+1)); err != nil {
				errs = append(errs, fmt.Errorf("write the run's block: %w", err))
			}
		}
		if err := s.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close the TSDB: %w", err))
		}
		if len(errs) > 0 {
			s.closeErr = fmt.Errorf("embedded prometheus in %s: %w", s.dir, errors.Join(errs...))
		}
	})
	return s.closeErr
}

func normalizeJobs(in []Job, interval time.Duration) ([]Job, error) {
	var errs []error
	out := make([]Job, 0, len(in))
	seen := map[string]bool{}
	for i, j := range in {
		name := j.Name
		if name == "" {
			errs = append(errs, fmt.Errorf("scrape job %d has no name: name it (it becomes the series' job label)", i+1))
			name = fmt.Sprintf("#%d", i+1)
		} else if seen[name] {
			errs = append(errs, fmt.Errorf("scrape job %q is defined twice: give each job its own name", name))
		}
		seen[name] = true
		if len(j.Targets) == 0 {
			errs = append(errs, fmt.Errorf("scrape job %q has no targets: list host:port addresses", name))
		}
		for _, t := range j.Targets {
			if err := checkAddress(t); err != nil {
				errs = append(errs, fmt.Errorf("scrape job %q: target %q %w", name, t, err))
			}
		}
		if len(dedupe(j.Targets)) != len(j.Targets) {
			errs = append(errs, fmt.Errorf("scrape job %q lists a target twice: list each address once", name))
		}
		if j.Path == "" {
			j.Path = DefaultMetricsPath
		}
		if !strings.HasPrefix(j.Path, "/") {
			errs = append(errs, fmt.Errorf("scrape job %q: path %q must start with / (for example /metrics)", name, j.Path))
		}
		if j.Interval == 0 {
			j.Interval = interval
		}
		if j.Interval < time.Millisecond {
			errs = append(errs, fmt.Errorf("scrape job %q: interval %s is not positive: use for example \"5s\"", name, j.Interval))
		}
		if j.Timeout == 0 {
			j.Timeout = min(j.Interval, maxScrapeTimeout)
		}
		if j.Timeout < time.Millisecond || j.Timeout > j.Interval {
			errs = append(errs, fmt.Errorf("scrape job %q: timeout %s must be positive and at most the interval %s", name, j.Timeout, j.Interval))
		}
		out = append(out, j)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("embedded prometheus: %w", errors.Join(errs...))
	}
	return out, nil
}

func dedupe(ss []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(ss)))
}

func checkAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return errors.New("is not host:port (for example 127.0.0.1:8080); the scheme and path go elsewhere")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("has port %q, not a number from 1 to 65535", port)
	}
	return nil
}

// scrapeConfig builds the configuration through Prometheus's own loader, so that every
// default and validation of a prometheus.yml applies. It is written as JSON (a subset
// of YAML) so that no name or path can break out of its string.
func scrapeConfig(jobs []Job, interval time.Duration) (*config.Config, error) {
	promDuration := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }
	scrapeConfigs := make([]map[string]any, 0, len(jobs))
	for _, j := range jobs {
		scrapeConfigs = append(scrapeConfigs, map[string]any{
			"job_name":        j.Name,
			"metrics_path":    j.Path,
			"scrape_interval": promDuration(j.Interval),
			"scrape_timeout":  promDuration(j.Timeout),
		})
	}
	doc, err := json.Marshal(map[string]any{
		"global": map[string]any{
			"scrape_interval": promDuration(interval),
			"scrape_timeout":  promDuration(min(interval, maxScrapeTimeout)),
		},
		"scrape_configs": scrapeConfigs,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded prometheus: scrape configuration: %w", err)
	}
	cfg, err := config.Load(string(doc), promslog.NewNopLogger())
	if err != nil {
		return nil, fmt.Errorf("embedded prometheus: scrape configuration: %w", err)
	}
	return cfg, nil
}

func targetGroups(jobs []Job) map[string][]*targetgroup.Group {
	out := make(map[string][]*targetgroup.Group, len(jobs))
	for _, j := range jobs {
		g := &targetgroup.Group{Source: "faultline/" + j.Name}
		for _, t := range j.Targets {
			g.Targets = append(g.Targets, model.LabelSet{model.AddressLabel: model.LabelValue(t)})
		}
		out[j.Name] = []*targetgroup.Group{g}
	}
	return out
}

// explain says what a query error means for the user.
func explain(err error) error {
	var perr parser.ParseErrors
	var tooMany promql.ErrTooManySamples
	switch {
	case errors.As(err, &perr):
		return fmt.Errorf("the query does not parse: %w", err)
	case errors.As(err, &tooMany):
		return fmt.Errorf("the query loads too many samples: narrow its selectors or its range: %w", err)
	case errors.As(err, new(promql.ErrQueryTimeout)):
		return fmt.Errorf("embedded prometheus: query timed out: %w: %w", context.DeadlineExceeded, err)
	case errors.As(err, new(promql.ErrQueryCanceled)):
		return fmt.Errorf("embedded prometheus: query canceled: %w", err)
	}
	return fmt.Errorf("embedded prometheus: %w", err)
}

// fromValue converts the engine's result to metrics.Series the way metrics.Client
// converts a server's answer: series sorted by their labels, times in UTC. Histogram
// samples are left out: faultline reads numbers only.
func fromValue(v parser.Value) ([]metrics.Series, error) {
	switch v := v.(type) {
	case promql.Vector:
		out := make([]metrics.Series, 0, len(v))
		for _, s := range v {
			if s.H != nil {
				continue
			}
			out = append(out, metrics.Series{
				Labels:  s.Metric.Map(),
				Samples: []metrics.Sample{{Time: time.UnixMilli(s.T).UTC(), Value: s.F}},
			})
		}
		sortSeries(out)
		return out, nil
	case promql.Matrix:
		out := make([]metrics.Series, 0, len(v))
		for _, s := range v {
			if len(s.Floats) == 0 {
				continue
			}
			ser := metrics.Series{Labels: s.Metric.Map(), Samples: make([]metrics.Sample, 0, len(s.Floats))}
			for _, p := range s.Floats {
				ser.Samples = append(ser.Samples, metrics.Sample{Time: time.UnixMilli(p.T).UTC(), Value: p.F})
			}
			out = append(out, ser)
		}
		sortSeries(out)
		return out, nil
	case promql.Scalar:
		return []metrics.Series{{Labels: map[string]string{}, Samples: []metrics.Sample{{Time: time.UnixMilli(v.T).UTC(), Value: v.V}}}}, nil
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("query returned a %s; faultline reads numbers only: make the query return an instant vector or a scalar", v.Type())
	}
}

func sortSeries(s []metrics.Series) {
	sort.SliceStable(s, func(i, j int) bool { return result.LabelString(s[i].Labels) < result.LabelString(s[j].Labels) })
}
