package local_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/waitfor"

	"github.com/faultline/faultline/internal/promtest"
	"github.com/faultline/faultline/internal/testreal"
	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/metrics/analysis"
	"github.com/faultline/faultline/metrics/local"
	"github.com/faultline/faultline/result"
)

// exporter serves the Prometheus text format: a gauge that steps from 1 to 2 once
// stepAt is set and passed, a counter rising 10 per second since start, and 20
// labelled gauges. It records when it first served the stepped value.
type exporter struct {
	start time.Time

	mu         sync.Mutex
	stepAt     time.Time
	firstTwoAt time.Time
}

func newExporter(t *testing.T) (*exporter, string) {
	e := &exporter{start: time.Now()}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, srv.Listener.Addr().String()
}

func (e *exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metrics" {
		http.NotFound(w, r)
		return
	}
	now := time.Now()
	e.mu.Lock()
	step := 1
	if !e.stepAt.IsZero() && !now.Before(e.stepAt) {
		step = 2
		if e.firstTwoAt.IsZero() {
			e.firstTwoAt = now
		}
	}
	e.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# TYPE faultline_test_step gauge\nfaultline_test_step %d\n", step)
	fmt.Fprintf(w, "# TYPE faultline_test_requests_total counter\nfaultline_test_requests_total %g\n", 10*now.Sub(e.start).Seconds())
	fmt.Fprintln(w, "# TYPE faultline_test_latency_seconds gauge")
	for i := 0; i < 20; i++ {
		fmt.Fprintf(w, "faultline_test_latency_seconds{route=\"/r%d\"} %g\n", i, 0.1+float64(i)/100)
	}
}

// stepMidway makes the gauge step half an interval after the next scrape q is
// expected to make, so that the scrape that sees it is half an interval later: not a
// moment after the step by luck, nor a full interval by construction.
func (e *exporter) stepMidway(t *testing.T, q metrics.QueryFunc) time.Time {
	t.Helper()
	ss, err := q(context.Background(), "faultline_test_step[1m]", time.Now())
	if err != nil || len(ss) != 1 || len(ss[0].Samples) == 0 {
		t.Fatalf("raw samples: %v, %v", ss, err)
	}
	last := ss[0].Samples[len(ss[0].Samples)-1].Time
	at := last.Add(interval + interval/2)
	for at.Before(time.Now()) {
		at = at.Add(interval)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stepAt = at
	return at
}

func (e *exporter) servedTwoAt() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.firstTwoAt
}

func open(t *testing.T, opts local.Options) *local.Store {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := local.Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitFor polls cond every 50ms until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	waitfor.Condition(t, timeout, what, cond)
}

func instantValue(t *testing.T, q metrics.QueryFunc, expr string) (float64, bool) {
	t.Helper()
	ss, err := q(context.Background(), expr, time.Now())
	if err != nil {
		t.Fatalf("query %s: %v", expr, err)
	}
	if len(ss) != 1 || len(ss[0].Samples) != 1 {
		return 0, false
	}
	return ss[0].Samples[0].Value, true
}

// firstAtLeast returns the time of the first sample of the only series whose value is
// at least v.
func firstAtLeast(t *testing.T, ss []metrics.Series, v float64) time.Time {
	t.Helper()
	if len(ss) != 1 {
		t.Fatalf("want one series, got %d: %v", len(ss), ss)
	}
	for _, s := range ss[0].Samples {
		if s.Value >= v {
			return s.Time
		}
	}
	t.Fatalf("no sample reaches %g in %v", v, ss[0].Samples)
	return time.Time{}
}

const interval = time.Second

// stepped counts the samples of the gauge after its step (values are 1, then 2).
const stepped = "sum_over_time(faultline_test_step[1m]) - count_over_time(faultline_test_step[1m])"

func TestRangeQueryFindsTheStepWithinOneScrapeInterval(t *testing.T) {
	t.Parallel()
	exp, addr := newExporter(t)
	s := open(t, local.Options{Interval: interval, Jobs: []local.Job{{Name: "shop", Targets: []string{addr}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.WaitScraped(ctx); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	// A few samples of 1 first, so the step is a change and not the first sample.
	waitFor(t, "three scrapes", 30*time.Second, func() bool {
		v, ok := instantValue(t, s.Query, "count_over_time(faultline_test_step[1m])")
		return ok && v >= 3
	})
	stepAt := exp.stepMidway(t, s.Raw)
	waitFor(t, "two scrapes of the step", 30*time.Second, func() bool {
		v, ok := instantValue(t, s.Query, stepped)
		return ok && v >= 2
	})
	ss, err := s.RangeQuery(context.Background(), `faultline_test_step{job="shop"}`, begin, time.Now(), 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got := ss[0].Labels; got["job"] != "shop" || got["instance"] != addr || got["__name__"] != "faultline_test_step" {
		t.Errorf("labels = %v, want job shop, instance %s", got, addr)
	}
	found := firstAtLeast(t, ss, 2)
	// The scrape that saw the step started at most one interval after it; its
	// timestamp is when it started, a moment before the exporter answered.
	if d := found.Sub(stepAt); d < -interval || d > interval {
		t.Errorf("step found at %s, %s from when it happened (exporter served it at %s): want within one scrape interval (%s)",
			found.Format(time.RFC3339Nano), d, exp.servedTwoAt().Format(time.RFC3339Nano), interval)
	}
	t.Logf("step at %s, found %s later", stepAt.Format(time.StampMilli), found.Sub(stepAt))
}

// TestWaitScrapedLeavesARateToTheFirstStep: WaitScraped returns once each target was
// scraped twice, so a rate() evaluated at once, as the baseline's first step is, has a
// value (one sample gives none).
func TestWaitScrapedLeavesARateToTheFirstStep(t *testing.T) {
	t.Parallel()
	_, addr := newExporter(t)
	s := open(t, local.Options{Interval: interval, Jobs: []local.Job{{Name: "shop", Targets: []string{addr}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	begin := time.Now()
	if err := s.WaitScraped(ctx); err != nil {
		t.Fatal(err)
	}
	took := time.Since(begin)
	if v, ok := instantValue(t, s.Query, "count_over_time(faultline_test_step[1m])"); !ok || v < 2 {
		t.Errorf("after WaitScraped: %g samples (found %v), want 2 or more", v, ok)
	}
	if _, ok := instantValue(t, s.Query, "rate(faultline_test_step[5s])"); !ok {
		t.Error("after WaitScraped, rate() over 5s has no value")
	}
	t.Logf("two scrapes in %s", took)
}

func TestSameFiguresAsAPrometheusServer(t *testing.T) {
	t.Parallel()
	exp, addr := newExporter(t)
	prom := promtest.Start(t, promtest.Options{Targets: []string{addr}, ScrapeInterval: interval})
	s := open(t, local.Options{Interval: interval, Jobs: []local.Job{{Name: prom.Job, Targets: []string{addr}}}})
	client, err := metrics.NewClient(&metrics.ClientConfig{URL: prom.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.WaitScraped(ctx); err != nil {
		t.Fatal(err)
	}
	prom.WaitTargetsUp(t, 30*time.Second)
	enough := func(q metrics.QueryFunc) func() bool {
		return func() bool {
			v, ok := instantValue(t, q, "count_over_time(faultline_test_step[1m])")
			return ok && v >= 8
		}
	}
	waitFor(t, "eight embedded scrapes", 60*time.Second, enough(s.Query))
	waitFor(t, "eight server scrapes", 60*time.Second, enough(client.Query))
	// From when both have data for every range below; whole seconds, so that both
	// evaluate at the same instants.
	begin := time.Now().Truncate(time.Second).Add(time.Second)
	stepAt := exp.stepMidway(t, s.Raw)
	sawStep := func(q metrics.QueryFunc) func() bool {
		return func() bool { v, ok := instantValue(t, q, stepped); return ok && v >= 4 }
	}
	waitFor(t, "the embedded store to see the step", 30*time.Second, sawStep(s.Query))
	waitFor(t, "the server to see the step", 30*time.Second, sawStep(client.Query))
	end := time.Now().Truncate(time.Second)

	type pair struct{ embedded, server []metrics.Series }
	both := func(expr string, step time.Duration) pair {
		t.Helper()
		e, err := s.RangeQuery(context.Background(), expr, begin, end, step)
		if err != nil {
			t.Fatalf("embedded %s: %v", expr, err)
		}
		p, err := client.RangeQuery(context.Background(), expr, begin, end, step)
		if err != nil {
			t.Fatalf("server %s: %v", expr, err)
		}
		return pair{e, p}
	}

	// Values: a rate, an aggregation and the raw series, point by point within 1 %.
	for _, expr := range []string{
		"rate(faultline_test_requests_total[5s])",
		"sum(faultline_test_latency_seconds)",
		"faultline_test_latency_seconds",
		"max by (job) (avg_over_time(faultline_test_latency_seconds[3s]))",
	} {
		p := both(expr, interval)
		if len(p.embedded) == 0 || len(p.embedded) != len(p.server) {
			t.Errorf("%s: %d series embedded, %d on the server", expr, len(p.embedded), len(p.server))
			continue
		}
		for i := range p.embedded {
			e, v := p.embedded[i], p.server[i]
			if result.LabelString(e.Labels) != result.LabelString(v.Labels) {
				t.Errorf("%s: series %d labels %v embedded, %v on the server", expr, i, e.Labels, v.Labels)
				continue
			}
			// The two scrape at different instants, so the first seconds may differ in
			// whether there is a sample yet: compare the times both have.
			byTime := map[int64]float64{}
			for _, smp := range v.Samples {
				byTime[smp.Time.UnixMilli()] = smp.Value
			}
			common := 0
			for _, smp := range e.Samples {
				want, ok := byTime[smp.Time.UnixMilli()]
				if !ok {
					continue
				}
				common++
				if math.Abs(smp.Value-want) > 0.01*math.Abs(want) {
					t.Errorf("%s %v at %s: embedded %g, server %g (more than 1 %% apart)", expr, e.Labels, smp.Time.Format(time.StampMilli), smp.Value, want)
				}
			}
			if common < 4 {
				t.Errorf("%s %v: only %d common points (embedded %d, server %d)", expr, e.Labels, common, len(e.Samples), len(v.Samples))
			}
		}
	}

	// Timing: both see the step within one scrape interval of it, hence of each other,
	// plus slack for the 100 ms query grid and a scrape that a loaded 2-core machine
	// runs late (the server once took 1.043 s): a whole interval more still fails.
	p := both("faultline_test_step", 100*time.Millisecond)
	fe, fs := firstAtLeast(t, p.embedded, 2), firstAtLeast(t, p.server, 2)
	bound := interval + 250*time.Millisecond
	for name, found := range map[string]time.Time{"embedded": fe, "server": fs} {
		if d := found.Sub(stepAt); d < -bound || d > bound {
			t.Errorf("%s found the step %s from when it happened: want within %s", name, d, bound)
		}
	}
	if d := fe.Sub(fs); d < -bound || d > bound {
		t.Errorf("embedded found the step %s from the server: want within %s", d, bound)
	}
	t.Logf("step found %s (embedded) and %s (server) after it happened", fe.Sub(stepAt), fs.Sub(stepAt))

	// The analysis on each: the time to impact found on a coarse grid and refined to
	// the scrape times (the server's through Client.Raw) is within the same bound of
	// the step on both.
	const grid = 2 * time.Second
	tl := result.Timeline{BaselineStart: stepAt.Add(-7 * time.Second).Truncate(time.Second), FaultStart: stepAt.Add(-300 * time.Millisecond), FaultEnd: end, RecoveryEnd: end}
	q := metrics.Query{Name: "step", Expr: "faultline_test_step"}
	impact := map[string]time.Time{}
	for name, src := range map[string]struct {
		rng        metrics.RangeQueryFunc
		query, raw metrics.QueryFunc
	}{"embedded": {s.RangeQuery, s.Query, s.Raw}, "server": {client.RangeQuery, client.Query, client.Raw}} {
		observed, errs := metrics.Collect(context.Background(), src.rng, []metrics.Query{q}, tl.BaselineStart, tl.RecoveryEnd, grid)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", name, errs)
		}
		out := analysis.Analyze(analysis.Input{Metrics: []analysis.MetricSpec{{Name: "step"}}, Timeline: tl, Observed: observed})
		m := &out.Metrics[0]
		if len(m.Series) != 1 || m.Series[0].ImpactAt == nil {
			t.Fatalf("%s: no impact found on the grid: %+v", name, m.Series)
		}
		if err := metrics.RefineTimes(context.Background(), src.query, src.raw, q, m, tl, grid); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		se := m.Series[0]
		if d := se.ImpactAt.Sub(stepAt); d < -bound || d > bound || se.TimesFrom != metrics.TimesFromScrapes {
			t.Errorf("%s: refined impact %s from the step, times from %q: want within %s, from the scrapes", name, d, se.TimesFrom, bound)
		}
		impact[name] = *se.ImpactAt
	}
	if d := impact["embedded"].Sub(impact["server"]); d < -bound || d > bound {
		t.Errorf("refined impact: embedded %s from the server, want within %s", d, bound)
	}
}

func TestWaitScrapedNamesTheTargetThatCannotBeReached(t *testing.T) {
	t.Parallel()
	_, up := newExporter(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	s := open(t, local.Options{Interval: 500 * time.Millisecond, Jobs: []local.Job{
		{Name: "up", Targets: []string{up}},
		{Name: "gone", Targets: []string{closed}},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = s.WaitScraped(ctx)
	if err == nil {
		t.Fatal("WaitScraped succeeded with a closed port among the targets")
	}
	for _, want := range []string{closed, `job "gone"`, "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), up) {
		t.Errorf("error %q names the target that is up", err)
	}
	var sawUp bool
	for _, ts := range s.Targets() {
		if ts.Address == up {
			sawUp = ts.Health == "up" && !ts.LastScrape.IsZero()
		}
	}
	if !sawUp {
		t.Errorf("Targets() = %+v: the reachable target is not up", s.Targets())
	}
}

func TestWaitScrapedFailsOnAWrongPath(t *testing.T) {
	t.Parallel()
	_, addr := newExporter(t)
	s := open(t, local.Options{Interval: 500 * time.Millisecond, Jobs: []local.Job{{Name: "shop", Targets: []string{addr}, Path: "/nope"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.WaitScraped(ctx)
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "/nope") {
		t.Fatalf("WaitScraped = %v, want an error naming the path and the 404", err)
	}
}

func TestAppendedSeriesAreQueryable(t *testing.T) {
	t.Parallel()
	s := open(t, local.Options{})
	now := time.Now().Truncate(time.Second)
	var samples []metrics.Sample
	for i := 0; i < 10; i++ {
		samples = append(samples, metrics.Sample{Time: now.Add(time.Duration(i-10) * time.Second), Value: float64(i % 2)})
	}
	err := s.Append(context.Background(), metrics.Series{
		Labels:  map[string]string{"__name__": "faultline_probe_success", "probe": "x"},
		Samples: samples,
	})
	if err != nil {
		t.Fatal(err)
	}
	v, ok := instantValue(t, s.Query, `avg_over_time(faultline_probe_success{probe="x"}[20s])`)
	if !ok || v != 0.5 {
		t.Errorf("avg_over_time = %g (found: %v), want 0.5", v, ok)
	}
	err = s.Append(context.Background(), metrics.Series{Labels: map[string]string{"probe": "x"}, Samples: samples})
	if err == nil || !strings.Contains(err.Error(), "__name__") {
		t.Errorf("Append without a name = %v, want an error naming __name__", err)
	}
	if _, err := s.Query(context.Background(), "rate(x[5m]", now); err == nil || !strings.Contains(err.Error(), "does not parse") {
		t.Errorf("broken query: %v, want a parse error", err)
	}
}

func TestTheDirectoryIsKeptAndReadable(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "tsdb")
	_, addr := newExporter(t)
	s, err := local.Open(local.Options{Dir: dir, Interval: 500 * time.Millisecond, Jobs: []local.Job{{Name: "shop", Targets: []string{addr}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.WaitScraped(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// Reopened, the store still answers for what it scraped.
	again := open(t, local.Options{Dir: dir})
	v, ok := instantValue(t, again.Query, `count(faultline_test_latency_seconds{job="shop"})`)
	if !ok || v != 20 {
		t.Errorf("after reopening: %g series (found: %v), want 20", v, ok)
	}
	again.Close()

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		testreal.Missing(t, "no promtool on PATH (apt-get install prometheus)")
		return
	}
	out, err := exec.Command(promtool, "tsdb", "list", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool tsdb list: %v\n%s", err, out)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) < 2 {
		t.Errorf("promtool tsdb list shows no block:\n%s", out)
	}
	out, err = exec.Command(promtool, "tsdb", "dump", "--match", `{__name__="faultline_test_step"}`, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool tsdb dump: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `job="shop"`) {
		t.Errorf("promtool tsdb dump does not show the scraped series:\n%.2000s", out)
	}
}

func TestBadJobsAreRefusedWithWhatToDo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		jobs []local.Job
		want string
	}{
		{"no name", []local.Job{{Targets: []string{"127.0.0.1:1"}}}, "has no name"},
		{"twice", []local.Job{{Name: "a", Targets: []string{"127.0.0.1:1"}}, {Name: "a", Targets: []string{"127.0.0.1:2"}}}, "defined twice"},
		{"no targets", []local.Job{{Name: "a"}}, "no targets"},
		{"url as target", []local.Job{{Name: "a", Targets: []string{"http://127.0.0.1:1/metrics"}}}, "not host:port"},
		{"bad port", []local.Job{{Name: "a", Targets: []string{"127.0.0.1:99999"}}}, "1 to 65535"},
		{"target twice", []local.Job{{Name: "a", Targets: []string{"127.0.0.1:1", "127.0.0.1:1"}}}, "twice"},
		{"relative path", []local.Job{{Name: "a", Targets: []string{"127.0.0.1:1"}, Path: "metrics"}}, "must start with /"},
		{"timeout over interval", []local.Job{{Name: "a", Targets: []string{"127.0.0.1:1"}, Interval: time.Second, Timeout: 2 * time.Second}}, "at most the interval"},
		{"quote in name", []local.Job{{Name: "a\"\n- job_name: b", Targets: []string{"127.0.0.1:1"}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := local.Open(local.Options{Dir: t.TempDir(), Jobs: tc.jobs})
			if tc.want == "" {
				// Odd characters stay inside the job's name; nothing is injected.
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer s.Close()
				if ts := s.Targets(); len(ts) != 1 || ts[0].Job != tc.jobs[0].Name {
					t.Errorf("targets %+v", ts)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("Open accepted %+v", tc.jobs)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
	if _, err := local.Open(local.Options{}); err == nil || !strings.Contains(err.Error(), "data directory") {
		t.Errorf("Open without a directory: %v", err)
	}
}

// TestTimesRefinedToScrapesFindTheStep analyses a gauge that steps at a known time on
// a coarse step grid (2s) while it is scraped every 250ms: the grid's time to impact
// is late by up to a step; refined to the scrape times (metrics.RefineTimes) it is
// within one scrape interval of the step, for the plain selector and for an
// expression over it. A phase query over a counter rising 10/s gives 10/s × the
// phase's duration.
func TestTimesRefinedToScrapesFindTheStep(t *testing.T) {
	t.Parallel()
	const scrape, grid = 250 * time.Millisecond, 2 * time.Second
	exp, addr := newExporter(t)
	s := open(t, local.Options{Interval: scrape, Jobs: []local.Job{{Name: "shop", Targets: []string{addr}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.WaitScraped(ctx); err != nil {
		t.Fatal(err)
	}
	begin := time.Now().Truncate(time.Millisecond)
	waitFor(t, "three seconds of baseline", 30*time.Second, func() bool { return time.Since(begin) > 3*time.Second })
	stepAt := exp.stepMidway(t, s.Raw)
	tl := result.Timeline{BaselineStart: begin, FaultStart: stepAt.Add(-300 * time.Millisecond), FaultEnd: stepAt.Add(3 * time.Second)}
	tl.RecoveryEnd = tl.FaultEnd.Add(2 * time.Second)
	waitFor(t, "the end of the run", 30*time.Second, func() bool { return time.Now().After(tl.RecoveryEnd.Add(scrape)) })

	qs := []metrics.Query{
		{Name: "plain", Expr: `faultline_test_step{job="shop"}`},
		{Name: "expr", Expr: `10 * max(faultline_test_step)`},
		{Name: "requests", Expr: `sum(rate(faultline_test_requests_total[1s]))`, PhaseExpr: `sum(increase(faultline_test_requests_total[$__phase]))`},
	}
	observed, errs := metrics.Collect(context.Background(), s.RangeQuery, qs, begin, tl.RecoveryEnd, grid)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	metrics.CollectPhases(context.Background(), s.Query, qs, tl, observed)
	out := analysis.Analyze(analysis.Input{Metrics: []analysis.MetricSpec{{Name: "plain"}, {Name: "expr"}, {Name: "requests"}}, Timeline: tl, Observed: observed})
	for i, q := range qs[:2] {
		m := &out.Metrics[i]
		if len(m.Series) != 1 || m.Series[0].ImpactAt == nil {
			t.Fatalf("metric %s: no impact found on the grid: %+v", q.Name, m.Series)
		}
		gridAt := *m.Series[0].ImpactAt
		if err := metrics.RefineTimes(context.Background(), s.Query, s.Raw, q, m, tl, grid); err != nil {
			t.Fatal(err)
		}
		se := m.Series[0]
		at := *se.ImpactAt
		if d := at.Sub(stepAt); d < -scrape || d > scrape || se.TimesFrom != metrics.TimesFromScrapes {
			t.Errorf("metric %s: impact at %s, %s from the step (grid said %s later); want within one scrape interval (%s), from scrape times (%q)",
				q.Name, at.Format(time.StampMilli), d, gridAt.Sub(stepAt), scrape, se.TimesFrom)
		}
		if want := at.Sub(tl.FaultStart).Seconds(); *se.TimeToImpactSeconds != want {
			t.Errorf("metric %s: time to impact %gs, want %gs", q.Name, *se.TimeToImpactSeconds, want)
		}
		t.Logf("%s: step at %s; grid found it %s later, scrape times %s later", q.Name, stepAt.Format(time.StampMilli), gridAt.Sub(stepAt), at.Sub(stepAt))
	}
	figs := out.Metrics[2].PhaseFigures
	if len(figs) != 3 {
		t.Fatalf("phase figures %+v, want one per phase", figs)
	}
	for _, f := range figs {
		var d time.Duration
		switch f.Phase {
		case result.PhaseBaseline:
			d = tl.FaultStart.Sub(tl.BaselineStart)
		case result.PhaseFault:
			d = tl.FaultEnd.Sub(tl.FaultStart)
		default:
			d = tl.RecoveryEnd.Sub(tl.FaultEnd)
		}
		want := 10 * d.Seconds()
		if f.Value == nil || math.Abs(*f.Value-want) > 0.1*want {
			t.Errorf("phase %s: increase %v (%s), want 10/s × %s = %g within 10%%", f.Phase, f.Value, f.Query, d, want)
		}
		if !strings.Contains(f.Query, "[") || strings.Contains(f.Query, metrics.PhaseVar) {
			t.Errorf("phase %s: query %q still holds %s", f.Phase, f.Query, metrics.PhaseVar)
		}
	}
}
