package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/result"
	"github.com/prometheus/common/model"
	"golang.org/x/sync/errgroup"
)

// Query is one watched metric: a metric block, as the caller translates it.
type Query struct {
	// Name is the metric's name in the result; Expr its PromQL expression.
	Name string
	Expr string
	// Unit and Description are copied into the result.
	Unit        string
	Description string
	// Where says where the query was written (file:line) for messages; empty: metric.NAME.
	Where string
	// Source says where the query is evaluated ("local", "prometheus"), for a
	// QueryFunc that routes by it (Route); the sampler and Collect pass the Query in
	// the context (QueryOf).
	Source string
	// PhaseExpr, when set, is the metric's phase figure (its phase_query): evaluated
	// once at each phase's end with PhaseVar replaced by the phase's duration (CollectPhases).
	PhaseExpr string
}

type queryKey struct{}

// WithQuery tells the QueryFunc called with ctx which metric it evaluates.
func WithQuery(ctx context.Context, q Query) context.Context {
	return context.WithValue(ctx, queryKey{}, q)
}

// QueryOf is the metric WithQuery put in ctx.
func QueryOf(ctx context.Context) (Query, bool) {
	q, ok := ctx.Value(queryKey{}).(Query)
	return q, ok
}

// Route is a QueryFunc that evaluates each metric's query on the function of its
// Source (QueryOf), and a query of no known metric on fallback.
func Route(bySource map[string]QueryFunc, fallback QueryFunc) QueryFunc {
	return func(ctx context.Context, query string, at time.Time) ([]Series, error) {
		if q, ok := QueryOf(ctx); ok {
			if f := bySource[q.Source]; f != nil {
				return f(ctx, query, at)
			}
		}
		return fallback(ctx, query, at)
	}
}

// RouteRange is Route for range queries.
func RouteRange(bySource map[string]RangeQueryFunc, fallback RangeQueryFunc) RangeQueryFunc {
	return func(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error) {
		if q, ok := QueryOf(ctx); ok {
			if f := bySource[q.Source]; f != nil {
				return f(ctx, query, start, end, step)
			}
		}
		return fallback(ctx, query, start, end, step)
	}
}

// Location is where the query was written (file:line), or metric.NAME.
func (q Query) Location() string { return q.where() }

func (q Query) where() string {
	if q.Where == "" {
		return "metric." + q.Name
	}
	return q.Where
}

// Header is the metric's entry in a Result, before any series.
func (q Query) Header() result.Metric {
	return result.Metric{Name: q.Name, Query: q.Expr, Unit: q.Unit, Description: q.Description, PhaseQuery: q.PhaseExpr}
}

// PhaseVar stands for the phase's duration in a phase query, as Grafana's $__range.
const PhaseVar = "$__phase"

// ExpandPhase is a phase query with PhaseVar replaced by d as PromQL writes durations
// (1m3s250ms), in whole milliseconds.
func ExpandPhase(expr string, d time.Duration) string {
	return strings.ReplaceAll(expr, PhaseVar, model.Duration(d.Truncate(time.Millisecond)).String())
}

// CollectPhases evaluates each metric's phase query once at the end of every phase of
// tl that lasted, over the whole phase, and sets the metrics' PhaseFigures (matched to
// ms by name). A failed query is a figure with a Gap, never an error.
func CollectPhases(ctx context.Context, query QueryFunc, qs []Query, tl result.Timeline, ms []result.Metric) {
	byName := map[string]*result.Metric{}
	for i := range ms {
		byName[ms[i].Name] = &ms[i]
	}
	type span struct {
		phase      string
		start, end time.Time
	}
	spans := []span{
		{result.PhaseBaseline, tl.BaselineStart, tl.FaultStart},
		{result.PhaseFault, tl.FaultStart, tl.FaultEnd},
		{result.PhaseRecovery, tl.FaultEnd, tl.RecoveryEnd},
	}
	for _, q := range qs {
		m := byName[q.Name]
		if q.PhaseExpr == "" || m == nil {
			continue
		}
		m.PhaseQuery = q.PhaseExpr
		for _, sp := range spans {
			d := sp.end.Sub(sp.start).Truncate(time.Millisecond)
			if d <= 0 {
				continue
			}
			at := sp.end.Truncate(time.Millisecond)
			expr := ExpandPhase(q.PhaseExpr, d)
			fig := result.PhaseFigure{Phase: sp.phase, At: at, Query: expr}
			series, err := query(WithQuery(ctx, q), expr, at)
			switch {
			case err != nil:
				fig.Gap = "error: " + err.Error()
			case len(series) == 0:
				fig.Gap = result.GapEmpty
			}
			if fig.Gap != "" {
				m.PhaseFigures = append(m.PhaseFigures, fig)
				continue
			}
			for i, s := range series {
				if i == MaxSeries {
					break
				}
				f := fig
				f.Labels = s.Labels
				if len(s.Samples) > 0 {
					// +Inf and -Inf are values that compare (an off-scale quantile
					// fails its check); NaN is a gap, as for samples.
					v := s.Samples[len(s.Samples)-1].Value
					if math.IsNaN(v) {
						f.Gap = result.GapNaN
					} else {
						f.Value = &v
					}
				}
				m.PhaseFigures = append(m.PhaseFigures, f)
			}
		}
	}
}

// MaxSeries is the most series of one metric a result keeps: a query that fans out over
// hundreds of label sets makes a report nobody can read and a result of megabytes.
// The first MaxSeries (in label order for the final range query, in order of
// appearance live) are kept and the rest counted in result.Metric.DroppedSeries.
const MaxSeries = 100

// Observation is what one instant query of one metric gave at one time.
type Observation struct {
	Metric string
	At     time.Time
	// Series holds every returned series with its one sample.
	Series []Series
	// Gap says why nothing usable came back ("empty result", "timeout", "error: ...");
	// empty when Series holds data.
	Gap string
}

// Sampler takes one instant query per metric at a given time. It never fails: an empty
// result, a timeout or an error is an Observation with a Gap.
type Sampler struct {
	query   QueryFunc
	metrics []Query
}

// NewSampler samples ms with query (Client.Query in production).
func NewSampler(query QueryFunc, ms []Query) *Sampler {
	return &Sampler{query: query, metrics: ms}
}

// Sample queries the metrics concurrently (at most MaxConcurrentQueries at once) and returns one Observation per metric, in the
// order of the metrics.
func (s *Sampler) Sample(ctx context.Context, at time.Time) []Observation {
	out := make([]Observation, len(s.metrics))
	var g errgroup.Group
	g.SetLimit(MaxConcurrentQueries)
	for i, m := range s.metrics {
		g.Go(func() error {
			out[i] = s.one(ctx, m, at)
			return nil
		})
	}
	_ = g.Wait() // one never fails: a failed query is an Observation with a Gap
	return out
}

func (s *Sampler) one(ctx context.Context, m Query, at time.Time) Observation {
	obs := Observation{Metric: m.Name, At: at}
	series, err := s.query(WithQuery(ctx, m), m.Expr, at)
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		obs.Gap = result.GapTimeout
	case err != nil:
		obs.Gap = "error: " + err.Error()
	case len(series) == 0:
		obs.Gap = result.GapEmpty
	default:
		obs.Series = series
	}
	return obs
}

// Recorder accumulates live observations into the Result's shape: series by label set
// (at most MaxSeries per metric), NaN values and failed samples as gaps. It is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	step    time.Duration
	metrics []Query
	byName  map[string]*recorded
}

type recorded struct {
	gaps    []result.Gap
	series  map[string]*result.Series
	order   []string
	dropped map[string]bool // label sets beyond MaxSeries
}

// NewRecorder records observations of ms taken every step.
func NewRecorder(ms []Query, step time.Duration) *Recorder {
	r := &Recorder{step: step, metrics: ms, byName: map[string]*recorded{}}
	for _, m := range ms {
		r.byName[m.Name] = &recorded{series: map[string]*result.Series{}}
	}
	return r
}

// Add records observations.
func (r *Recorder) Add(obs ...Observation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range obs {
		rec := r.byName[o.Metric]
		if rec == nil {
			continue
		}
		if o.Gap != "" {
			rec.gaps = result.AddGap(rec.gaps, o.At, o.At.Add(r.step), o.Gap)
			continue
		}
		for _, s := range o.Series {
			key := result.LabelString(s.Labels)
			ser := rec.series[key]
			if ser == nil && len(rec.order) >= MaxSeries {
				if rec.dropped == nil {
					rec.dropped = map[string]bool{}
				}
				rec.dropped[key] = true
				continue
			}
			if ser == nil {
				ser = &result.Series{Labels: s.Labels}
				rec.series[key] = ser
				rec.order = append(rec.order, key)
			}
			for _, p := range s.Samples {
				ser.AddValue(p.Time, p.Value, r.step)
			}
		}
	}
}

// Series returns a copy of what was recorded for one metric, for abort guards and the
// live view.
func (r *Recorder) Series(metric string) []result.Series {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.byName[metric]
	if rec == nil {
		return nil
	}
	out := make([]result.Series, 0, len(rec.order))
	for _, k := range rec.order {
		s := *rec.series[k]
		s.Samples = append([]result.Sample(nil), s.Samples...)
		s.Gaps = append([]result.Gap(nil), s.Gaps...)
		out = append(out, s)
	}
	return out
}

// Metrics returns everything recorded in the Result's shape, in metric order. The
// runner uses it when the final range query is not possible (Prometheus lost).
func (r *Recorder) Metrics() []result.Metric {
	out := make([]result.Metric, 0, len(r.metrics))
	for _, m := range r.metrics {
		rm := m.Header()
		rm.Series = r.Series(m.Name)
		r.mu.Lock()
		rm.Gaps = append([]result.Gap(nil), r.byName[m.Name].gaps...)
		rm.DroppedSeries = len(r.byName[m.Name].dropped)
		r.mu.Unlock()
		out = append(out, rm)
	}
	return out
}

// Collect runs the final range query of every metric over [start, end] at step and
// returns the metrics in the Result's shape. Steps without a value become gaps. A
// failing query is a gap over the whole run and an error in the returned list; the
// other metrics are still collected.
func Collect(ctx context.Context, query RangeQueryFunc, ms []Query, start, end time.Time, step time.Duration) ([]result.Metric, []error) {
	// Whole milliseconds, as Prometheus keeps them, so the steps it returns fall on ours.
	start, end = start.Truncate(time.Millisecond), end.Truncate(time.Millisecond)
	out := make([]result.Metric, 0, len(ms))
	var errs []error
	for _, m := range ms {
		series, err := query(WithQuery(ctx, m), m.Expr, start, end, step)
		if err != nil {
			errs = append(errs, fmt.Errorf("range query of metric %q: %w", m.Name, err))
			rm := m.Header()
			rm.Gaps = []result.Gap{{Start: start, End: end, Reason: "error: " + err.Error()}}
			out = append(out, rm)
			continue
		}
		out = append(out, FromRange(m, series, start, end, step))
	}
	return out, errs
}

// FromRange converts a range query's result into the Result's shape: NaN values and
// missing steps become gaps; a query that returned nothing is one gap over the run; at
// most MaxSeries series are kept.
func FromRange(m Query, series []Series, start, end time.Time, step time.Duration) result.Metric {
	rm := m.Header()
	if len(series) == 0 {
		rm.Gaps = []result.Gap{{Start: start, End: end, Reason: result.GapEmpty}}
		return rm
	}
	if len(series) > MaxSeries {
		rm.DroppedSeries = len(series) - MaxSeries
		series = series[:MaxSeries]
	}
	for _, s := range series {
		rs := result.Series{Labels: s.Labels, Samples: make([]result.Sample, 0, len(s.Samples))}
		// Prometheus works in milliseconds and rounds the start it is given, so samples are
		// matched to the nearest step rather than by exact timestamp.
		byStep := map[int64]Sample{}
		for _, p := range s.Samples {
			byStep[int64(math.Round(float64(p.Time.Sub(start))/float64(step)))] = p
		}
		for k, t := int64(0), start; !t.After(end); k, t = k+1, t.Add(step) {
			p, ok := byStep[k]
			switch {
			case !ok:
				rs.Gaps = result.AddGap(rs.Gaps, t, t.Add(step), result.GapMissing)
			default:
				rs.AddValue(p.Time.UTC(), p.Value, step)
			}
		}
		rm.Series = append(rm.Series, rs)
	}
	return rm
}

// DroppedWarning is the warning a result carries for a metric that lost series to
// MaxSeries; "" when it lost none.
func DroppedWarning(m result.Metric) string {
	if m.DroppedSeries == 0 {
		return ""
	}
	return fmt.Sprintf("metric %q returned %d series, more than the %d a result keeps: the other %d are not in this report; aggregate the query (sum by, topk) to watch fewer",
		m.Name, MaxSeries+m.DroppedSeries, MaxSeries, m.DroppedSeries)
}
