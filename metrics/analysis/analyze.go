package analysis

import (
	"math"
	"sort"
	"time"

	"github.com/faultline/faultline/result"
)

// Defaults of Options.
const (
	DefaultAlpha        = 0.05
	DefaultRelTolerance = 0.10
	// MaxEvidence bounds the violating samples a check lists; Violations has the total.
	MaxEvidence = 20
)

// Options tune the analysis. The zero value means the defaults.
type Options struct {
	// Alpha is the significance level of the impact test (default 0.05).
	Alpha float64
	// RelTolerance and AbsTolerance widen the baseline band: its half-width is
	// max(3·stddev, RelTolerance·|baseline mean|, AbsTolerance). RelTolerance
	// defaults to 0.10, so a perfectly flat baseline does not make noise an impact.
	RelTolerance float64
	AbsTolerance float64
}

func (o Options) withDefaults() Options {
	if o.Alpha <= 0 {
		o.Alpha = DefaultAlpha
	}
	if o.RelTolerance <= 0 {
		o.RelTolerance = DefaultRelTolerance
	}
	return o
}

// Input is everything the analysis reads.
type Input struct {
	Metrics  []MetricSpec
	Checks   []CheckSpec
	Timeline result.Timeline
	// Observed holds the metrics as collected (metrics.Collect), with samples and gaps;
	// the analysis fills in their statistics.
	Observed []result.Metric
	Options  Options
}

// Output is the analysis parts of a Result.
type Output struct {
	Metrics []result.Metric
	Checks  []result.CheckResult
	Score   result.Score
}

// Apply writes the analysis into r.
func (o Output) Apply(r *result.Result) {
	r.Metrics, r.Checks, r.Score = o.Metrics, o.Checks, o.Score
}

// Analyze computes the analysis. It does not modify in.
func Analyze(in Input) Output {
	opts := in.Options.withDefaults()
	byName := map[string]result.Metric{}
	for _, m := range in.Observed {
		byName[m.Name] = m
	}
	var out Output
	for _, m := range in.Metrics {
		rm, ok := byName[m.Name]
		if !ok {
			rm = result.Metric{Name: m.Name}
		}
		mopts := opts
		if m.ToleranceAbs > 0 || m.ToleranceRel > 0 {
			// The metric's own tolerance replaces the default one.
			mopts.AbsTolerance, mopts.RelTolerance = m.ToleranceAbs, m.ToleranceRel
		}
		series := make([]result.Series, len(rm.Series))
		for i, s := range rm.Series {
			series[i] = analyzeSeries(s, in.Timeline, mopts)
		}
		rm.Series = series
		out.Metrics = append(out.Metrics, rm)
	}
	metricByName := map[string]result.Metric{}
	for _, m := range out.Metrics {
		metricByName[m.Name] = m
	}
	for _, c := range in.Checks {
		out.Checks = append(out.Checks, EvaluateCheck(c, metricByName[c.Metric], in.Timeline))
	}
	out.Score = ScoreOf(out.Checks)
	return out
}

func phaseValues(s result.Series, tl result.Timeline) map[string][]float64 {
	out := map[string][]float64{}
	for _, p := range s.Samples {
		if ph := tl.PhaseOf(p.Time); ph != "" {
			out[ph] = append(out[ph], p.Value)
		}
	}
	return out
}

func analyzeSeries(s result.Series, tl result.Timeline, opts Options) result.Series {
	// NaN is no value (result.Series.AddValue); ±Inf are values.
	s = s.WithoutNaN(0)
	sort.SliceStable(s.Samples, func(i, j int) bool { return s.Samples[i].Time.Before(s.Samples[j].Time) })
	s.Phases, s.Band, s.Impact = nil, nil, nil
	s.ImpactAt, s.TimeToImpactSeconds, s.RecoveredAt, s.TimeToRecoverSeconds, s.Recovered = nil, nil, nil, nil, false
	s.TimesFrom = ""

	vals := phaseValues(s, tl)
	for _, ph := range result.Phases {
		if len(vals[ph]) > 0 {
			s.Phases = append(s.Phases, result.PhaseStats{Phase: ph, Stats: Summarize(vals[ph])})
		}
	}
	base, fault := vals[result.PhaseBaseline], vals[result.PhaseFault]
	if len(base) == 0 {
		return s
	}
	bs := Summarize(base)
	if math.IsInf(bs.Stddev, 0) || math.IsNaN(bs.Mean) {
		// An infinite baseline has no steady state to measure against: no band, no
		// impact, no time to impact or recover.
		return s
	}
	tol := math.Max(opts.RelTolerance*math.Abs(bs.Mean), opts.AbsTolerance)
	half := math.Max(3*bs.Stddev, tol)
	band := &result.Band{Low: bs.Mean - half, High: bs.Mean + half, Mean: bs.Mean, Stddev: bs.Stddev, Tolerance: tol}
	s.Band = band

	if len(fault) > 0 {
		fs := Summarize(fault)
		u, p, method := MannWhitney(fault, base)
		imp := &result.Impact{
			BaselineMean: bs.Mean, FaultMean: fs.Mean, Absolute: fs.Mean - bs.Mean,
			U: u, PValue: p, Method: method, Alpha: opts.Alpha, Significant: p < opts.Alpha,
		}
		if bs.Mean != 0 {
			rel := imp.Absolute / math.Abs(bs.Mean)
			imp.Relative = &rel
		}
		s.Impact = imp
	}

	outside := func(v float64) bool { return v < band.Low || v > band.High }
	for _, p := range s.Samples {
		if !p.Time.Before(tl.FaultStart) && outside(p.Value) {
			at := p.Time
			d := at.Sub(tl.FaultStart).Seconds()
			s.ImpactAt, s.TimeToImpactSeconds = &at, &d
			break
		}
	}
	if at, ok := backForGood(s.Samples, tl.FaultEnd, func(v float64) bool { return !outside(v) }); ok {
		d := math.Max(0, at.Sub(tl.FaultEnd).Seconds())
		s.Recovered, s.RecoveredAt, s.TimeToRecoverSeconds = true, &at, &d
	}
	return s
}

// backForGood finds, among samples at or after from, the first of the final stretch in
// which every sample satisfies ok. It fails when there is no such sample or the last
// one does not satisfy ok.
func backForGood(samples []result.Sample, from time.Time, ok func(float64) bool) (time.Time, bool) {
	var first *result.Sample
	for i := range samples {
		p := &samples[i]
		if p.Time.Before(from) {
			continue
		}
		if !ok(p.Value) {
			first = nil
			continue
		}
		if first == nil {
			first = p
		}
	}
	if first == nil {
		return time.Time{}, false
	}
	return first.Time, true
}
