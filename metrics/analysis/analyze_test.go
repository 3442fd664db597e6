package analysis

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/result"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

// stepTimeline: baseline [0,60s), fault [60s,120s), recovery [120s,180s].
var stepTimeline = result.Timeline{BaselineStart: at(0), FaultStart: at(60), FaultEnd: at(120), RecoveryEnd: at(180)}

// stepSeries is a latency that sits at 0.1 (±0.002) and steps to 0.6 from 70s to 130s:
// impact 10s after the fault start, back 15s after its end (at 135s).
func stepSeries() result.Series {
	s := result.Series{Labels: map[string]string{"job": "shop"}}
	for k := 0; k <= 36; k++ {
		sec := 5 * k
		v := 0.1 + 0.002*float64(k%2*2-1)
		if sec >= 70 && sec <= 130 {
			v = 0.6
		}
		s.Samples = append(s.Samples, result.Sample{Time: at(sec), Value: v})
	}
	return s
}

func TestAnalyzeFindsTheStep(t *testing.T) {
	t.Parallel()
	m := MetricSpec{Name: "latency"}
	out := Analyze(Input{
		Metrics:  []MetricSpec{m},
		Timeline: stepTimeline,
		Observed: []result.Metric{{Name: "latency", Query: "q", Series: []result.Series{stepSeries()}}},
	})
	if len(out.Metrics) != 1 || len(out.Metrics[0].Series) != 1 {
		t.Fatalf("want one metric with one series, got %+v", out.Metrics)
	}
	s := out.Metrics[0].Series[0]
	if len(s.Phases) != 3 {
		t.Fatalf("want stats for 3 phases, got %+v", s.Phases)
	}
	wantCounts := map[string]int{"baseline": 12, "fault": 12, "recovery": 13}
	for _, ph := range s.Phases {
		if ph.Count != wantCounts[ph.Phase] {
			t.Errorf("phase %s count %d, want %d", ph.Phase, ph.Count, wantCounts[ph.Phase])
		}
	}
	if b := s.Phases[0]; !near(b.Mean, 0.1, 1e-12) || !near(b.Max, 0.102, 1e-12) || !near(b.Min, 0.098, 1e-12) {
		t.Errorf("baseline stats %+v, want mean 0.1 min 0.098 max 0.102", b.Stats)
	}
	if s.Band == nil || !near(s.Band.Low, 0.09, 1e-9) || !near(s.Band.High, 0.11, 1e-9) {
		t.Errorf("band %+v, want [0.09, 0.11] (tolerance 10%% of 0.1 beats 3 stddev)", s.Band)
	}
	if s.TimeToImpactSeconds == nil || *s.TimeToImpactSeconds != 10 || !s.ImpactAt.Equal(at(70)) {
		t.Errorf("time to impact %v at %v, want 10s at %v", s.TimeToImpactSeconds, s.ImpactAt, at(70))
	}
	if !s.Recovered || s.TimeToRecoverSeconds == nil || *s.TimeToRecoverSeconds != 15 || !s.RecoveredAt.Equal(at(135)) {
		t.Errorf("recovered %v after %v at %v, want 15s at %v", s.Recovered, s.TimeToRecoverSeconds, s.RecoveredAt, at(135))
	}
	imp := s.Impact
	if imp == nil {
		t.Fatal("no impact")
	}
	// Fault phase: 60s (0.098) and 65s (0.102) at the baseline level, ten at 0.6.
	if !near(imp.FaultMean, (0.102+0.098+6.0)/12, 1e-12) || !near(imp.Absolute, imp.FaultMean-imp.BaselineMean, 1e-12) {
		t.Errorf("impact means %+v", imp)
	}
	if imp.Relative == nil || !near(*imp.Relative, imp.Absolute/0.1, 1e-9) {
		t.Errorf("relative impact %v, want absolute/0.1", imp.Relative)
	}
	if !imp.Significant || imp.PValue >= 0.001 || imp.Method != "normal" {
		t.Errorf("a step of 5x should be highly significant: %+v", imp)
	}
}

func TestAnalyzeNeverRecovered(t *testing.T) {
	t.Parallel()
	s := stepSeries()
	for i := range s.Samples {
		if !s.Samples[i].Time.Before(at(70)) {
			s.Samples[i].Value = 0.6
		}
	}
	out := Analyze(Input{
		Metrics:  []MetricSpec{{Name: "latency"}},
		Timeline: stepTimeline,
		Observed: []result.Metric{{Name: "latency", Series: []result.Series{s}}},
	})
	got := out.Metrics[0].Series[0]
	if got.Recovered || got.TimeToRecoverSeconds != nil || got.RecoveredAt != nil {
		t.Errorf("want did not recover, got recovered=%v after %v", got.Recovered, got.TimeToRecoverSeconds)
	}
}

func TestAnalyzeSteadySeriesHasNoImpact(t *testing.T) {
	t.Parallel()
	s := result.Series{Labels: map[string]string{}}
	for k := 0; k <= 36; k++ {
		s.Samples = append(s.Samples, result.Sample{Time: at(5 * k), Value: 1 + 0.01*float64(k%3)})
	}
	out := Analyze(Input{
		Metrics:  []MetricSpec{{Name: "m"}},
		Timeline: stepTimeline,
		Observed: []result.Metric{{Name: "m", Series: []result.Series{s}}},
	})
	got := out.Metrics[0].Series[0]
	if got.ImpactAt != nil {
		t.Errorf("steady series impacted at %v", got.ImpactAt)
	}
	if !got.Recovered || *got.TimeToRecoverSeconds != 0 {
		t.Errorf("steady series should count as in the band at once: %v %v", got.Recovered, got.TimeToRecoverSeconds)
	}
	if got.Impact.Significant {
		t.Errorf("steady series impact should not be significant: %+v", got.Impact)
	}
}

// TestMetricToleranceWidensTheBand: the step series (0.1, stepping to 0.6) is an
// impact under the default band, and none under a metric tolerance wider than the step.
func TestMetricToleranceWidensTheBand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		metric     MetricSpec
		wantTol    float64
		wantImpact bool
	}{
		{"default 10% of the mean", MetricSpec{Name: "m"}, 0.01, true},
		{"absolute, wider than the step", MetricSpec{Name: "m", ToleranceAbs: 0.6}, 0.6, false},
		{"relative, wider than the step", MetricSpec{Name: "m", ToleranceRel: 6}, 0.6, false},
		{"absolute, narrower than the step", MetricSpec{Name: "m", ToleranceAbs: 0.2}, 0.2, true},
	}
	for _, tt := range tests {
		out := Analyze(Input{
			Metrics:  []MetricSpec{tt.metric},
			Timeline: stepTimeline,
			Observed: []result.Metric{{Name: "m", Series: []result.Series{stepSeries()}}},
		})
		s := out.Metrics[0].Series[0]
		if s.Band == nil || !near(s.Band.Tolerance, tt.wantTol, 1e-9) {
			t.Errorf("%s: band %+v, want tolerance %g", tt.name, s.Band, tt.wantTol)
			continue
		}
		if got := s.ImpactAt != nil; got != tt.wantImpact {
			t.Errorf("%s: impact at %v, want impact %v", tt.name, s.ImpactAt, tt.wantImpact)
		}
	}
}

func f(v float64) *float64 { return &v }

func TestEvaluateCheck(t *testing.T) {
	t.Parallel()
	analysed := Analyze(Input{
		Metrics:  []MetricSpec{{Name: "latency"}},
		Timeline: stepTimeline,
		Observed: []result.Metric{{Name: "latency", Series: []result.Series{stepSeries()}}},
	}).Metrics[0]
	fault, recovery := result.PhaseFault, result.PhaseRecovery
	tests := []struct {
		name           string
		check          CheckSpec
		metric         result.Metric
		wantVerdict    string
		wantEvaluated  int
		wantViolations int
		wantFirst      time.Time // time of the first evidence
		wantRecovered  *float64
	}{
		{"below fails on every slow sample", CheckSpec{Below: f(0.5)}, analysed, result.VerdictFail, 25, 13, at(70), nil},
		{"recover_within exempts the grace and passes the recovery", CheckSpec{Below: f(0.5), RecoverWithin: 30 * time.Second},
			analysed, result.VerdictFail, 20, 10, at(70), f(15)},
		{"recover_within too short", CheckSpec{Below: f(0.5), RecoverWithin: 10 * time.Second, During: []string{recovery}},
			analysed, result.VerdictFail, 12, 2, at(130), f(15)},
		{"p95 below a higher bound passes", CheckSpec{Below: f(0.7), Aggregate: "p95", During: []string{fault}},
			analysed, result.VerdictPass, 1, 0, at(115), nil},
		{"mean within during baseline", CheckSpec{Within: &[2]float64{0.05, 0.2}, Aggregate: "mean", During: []string{result.PhaseBaseline}},
			analysed, result.VerdictPass, 1, 0, at(55), nil},
		{"max_change 50% breaks in the fault", CheckSpec{MaxChange: f(0.5), During: []string{fault}},
			analysed, result.VerdictFail, 12, 10, at(70), nil},
		{"max_change on the recovery median holds", CheckSpec{MaxChange: f(0.5), Aggregate: "p50", During: []string{recovery}},
			analysed, result.VerdictPass, 1, 0, at(180), nil},
		{"above breaks before the step", CheckSpec{Above: f(0.2), During: []string{fault}},
			analysed, result.VerdictFail, 12, 2, at(60), nil},
		{"unknown aggregate is no data", CheckSpec{Below: f(1), Aggregate: "p42"}, analysed, result.VerdictNoData, 0, 0, time.Time{}, nil},
		{"no series is no data", CheckSpec{Below: f(1)}, result.Metric{Name: "latency"}, result.VerdictNoData, 0, 0, time.Time{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := tt.check
			c.Name, c.Metric = "c", "latency"
			got := EvaluateCheck(c, tt.metric, stepTimeline)
			if got.Verdict != tt.wantVerdict || got.Evaluated != tt.wantEvaluated || got.Violations != tt.wantViolations {
				t.Fatalf("verdict %s, %d of %d values violating (%s); want %s, %d of %d\nevidence: %+v",
					got.Verdict, got.Violations, got.Evaluated, got.Reason, tt.wantVerdict, tt.wantViolations, tt.wantEvaluated, got.Evidence)
			}
			if got.Passed != (tt.wantVerdict == result.VerdictPass) {
				t.Errorf("passed %v with verdict %s", got.Passed, got.Verdict)
			}
			if !tt.wantFirst.IsZero() && (len(got.Evidence) == 0 || !got.Evidence[0].Time.Equal(tt.wantFirst)) {
				t.Errorf("first evidence %+v, want at %v", got.Evidence, tt.wantFirst)
			}
			if (tt.wantRecovered == nil) != (got.RecoveredAfterSeconds == nil) ||
				(tt.wantRecovered != nil && *tt.wantRecovered != *got.RecoveredAfterSeconds) {
				t.Errorf("recovered after %v, want %v", got.RecoveredAfterSeconds, tt.wantRecovered)
			}
			wantCredit := 0.0
			switch got.Verdict {
			case result.VerdictPass:
				wantCredit = 1
			case result.VerdictFail:
				wantCredit = 0.5 * float64(got.Evaluated-got.Violations) / float64(got.Evaluated)
			}
			if !near(got.Credit, wantCredit, 1e-12) {
				t.Errorf("credit %v, want %v", got.Credit, wantCredit)
			}
			if got.Condition == "" || got.Reason == "" {
				t.Errorf("condition %q and reason %q must say something", got.Condition, got.Reason)
			}
		})
	}
}

func TestEvaluateCheckBoundsOfMaxChange(t *testing.T) {
	t.Parallel()
	analysed := Analyze(Input{
		Metrics:  []MetricSpec{{Name: "latency"}},
		Timeline: stepTimeline,
		Observed: []result.Metric{{Name: "latency", Series: []result.Series{stepSeries()}}},
	}).Metrics[0]
	got := EvaluateCheck(CheckSpec{Name: "c", Metric: "latency", MaxChange: f(0.5)}, analysed, stepTimeline)
	if got.Low == nil || got.High == nil || !near(*got.Low, 0.05, 1e-9) || !near(*got.High, 0.15, 1e-9) {
		t.Errorf("max_change 50%% of a 0.1 baseline: bounds %v..%v, want 0.05..0.15", got.Low, got.High)
	}
}

func TestScoreOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		checks []result.CheckResult
		want   float64 // -1: no score
		passed int
	}{
		{"no checks", nil, -1, 0},
		{"all pass", []result.CheckResult{{Passed: true, Credit: 1}, {Passed: true, Credit: 1}}, 100, 2},
		{"one of two fails completely", []result.CheckResult{{Passed: true, Credit: 1}, {Credit: 0}}, 50, 1},
		{"partial credit", []result.CheckResult{{Passed: true, Credit: 1}, {Credit: 0.25}, {Credit: 0}}, 41.7, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ScoreOf(tt.checks)
			v, ok := got.Known()
			if ok != (tt.want >= 0) || (ok && v != tt.want) || got.Passed != tt.passed || got.Total != len(tt.checks) || got.Formula != ScoreFormula {
				t.Errorf("ScoreOf = %+v (value %v, known %v), want value %v passed %d", got, v, ok, tt.want, tt.passed)
			}
			if !ok && !strings.Contains(got.Reason, "no checks") {
				t.Errorf("no score without saying why: %+v", got)
			}
		})
	}
}

func TestAbortTripped(t *testing.T) {
	t.Parallel()
	series := func(vals ...float64) []result.Series {
		s := result.Series{Labels: map[string]string{"job": "shop"}}
		for i, v := range vals {
			s.Samples = append(s.Samples, result.Sample{Time: at(5 * i), Value: v})
		}
		return []result.Series{s}
	}
	above := AbortSpec{Name: "a", Metric: "m", Above: f(0.5), For: 15 * time.Second}
	below := AbortSpec{Name: "b", Metric: "m", Below: f(10), For: 0}
	tests := []struct {
		name      string
		abort     AbortSpec
		series    []result.Series
		want      bool
		wantSince time.Time
	}{
		{"beyond long enough", above, series(0.1, 0.6, 0.7, 0.6, 0.9), true, at(5)},
		{"beyond, not yet long enough", above, series(0.1, 0.1, 0.6, 0.7, 0.6), false, time.Time{}},
		{"interrupted stretch starts again", above, series(0.6, 0.6, 0.6, 0.1, 0.6, 0.6), false, time.Time{}},
		{"back under the bound", above, series(0.6, 0.6, 0.6, 0.6, 0.4), false, time.Time{}},
		{"equal to the bound is not beyond", above, series(0.5, 0.5, 0.5, 0.5, 0.5), false, time.Time{}},
		{"below with for 0 trips at once", below, series(20, 20, 3), true, at(10)},
		{"no samples", above, nil, false, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, since, id := AbortTripped(tt.abort, tt.series)
			if got != tt.want || !since.Equal(tt.wantSince) {
				t.Errorf("AbortTripped = %v since %v, want %v since %v", got, since, tt.want, tt.wantSince)
			}
			if got && id != `{job="shop"}` {
				t.Errorf("series id %q", id)
			}
		})
	}
}

// NaN is a gap; +Inf (histogram_quantile off its scale) is a value that fails a bound.
func TestAnalyzeKeepsInfinityAndDropsNaN(t *testing.T) {
	t.Parallel()
	s := stepSeries()
	s.Samples[3].Value = math.NaN()
	s.Samples[30].Value = math.Inf(1)
	below := 100.0
	out := Analyze(Input{
		Metrics:  []MetricSpec{{Name: "latency"}},
		Checks:   []CheckSpec{{Name: "slo", Metric: "latency", Below: &below, During: []string{"recovery"}}},
		Timeline: stepTimeline,
		Observed: []result.Metric{{Name: "latency", Series: []result.Series{s}}},
	})
	got := out.Metrics[0].Series[0]
	if len(got.Samples) != 36 || len(got.Gaps) != 1 || got.Phases[0].Count != 11 {
		t.Errorf("%d samples, %d gaps, baseline count %d; want 36, 1, 11", len(got.Samples), len(got.Gaps), got.Phases[0].Count)
	}
	rec := got.Phases[len(got.Phases)-1]
	if !math.IsInf(rec.Max, 1) || !math.IsInf(rec.Mean, 1) || !math.IsInf(rec.Stddev, 1) || math.IsInf(rec.Min, 0) {
		t.Errorf("recovery stats with one +Inf: %+v", rec.Stats)
	}
	c := out.Checks[0]
	if c.Verdict != result.VerdictFail || c.Violations != 1 || !math.IsInf(c.Evidence[0].Value, 1) {
		t.Errorf("check below 100 with a +Inf sample: %s, %d violations, evidence %+v; want a failure on +Inf", c.Verdict, c.Violations, c.Evidence)
	}
	b, err := json.Marshal(out.Metrics)
	if err != nil {
		t.Fatalf("analysis output is not JSON: %v", err)
	}
	if !strings.Contains(string(b), `"v":"+Inf"`) || !strings.Contains(string(b), `"max":"+Inf"`) {
		t.Errorf("+Inf not written as \"+Inf\": %.300s", b)
	}
}

func TestAbortGuardSeesInfinity(t *testing.T) {
	t.Parallel()
	above := 5.0
	var s result.Series
	for i := range 4 {
		s.AddValue(stepTimeline.FaultStart.Add(time.Duration(i)*time.Second), math.Inf(1), time.Second)
	}
	tripped, _, _ := AbortTripped(AbortSpec{Name: "storm", Above: &above, For: 3 * time.Second}, []result.Series{s})
	if !tripped {
		t.Fatalf("a metric at +Inf for 3s with above = 5 for 3s did not trip the guard (samples %v, gaps %v)", s.Samples, s.Gaps)
	}
}

func TestSummarizeWithInfinities(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	st := Summarize([]float64{1, 2, inf, inf})
	if st.Min != 1 || !math.IsInf(st.Max, 1) || !math.IsInf(st.P50, 1) || !math.IsInf(st.P95, 1) || st.Count != 4 {
		t.Errorf("Summarize(1, 2, +Inf, +Inf) = %+v", st)
	}
	st = Summarize([]float64{math.Inf(-1), 1, 2})
	if !math.IsInf(st.Min, -1) || st.Max != 2 || st.P50 != 1 || !math.IsInf(st.Mean, -1) {
		t.Errorf("Summarize(-Inf, 1, 2) = %+v", st)
	}
	for _, v := range []float64{st.P95, st.P99} {
		if math.IsNaN(v) {
			t.Errorf("a percentile is NaN: %+v", st)
		}
	}
}

// TestCheckOnPhaseFigures judges the phase figures, one value per phase at its end, and
// not the samples: the per-sample mean of the fault phase is under the bound while
// the ratio of totals (the figure) is above it.
func TestCheckOnPhaseFigures(t *testing.T) {
	t.Parallel()
	fig := func(phase string, end time.Time, v float64) result.PhaseFigure {
		return result.PhaseFigure{Phase: phase, At: end, Query: "q", Value: &v}
	}
	m := result.Metric{Name: "errors", Series: []result.Series{stepSeries()}, PhaseFigures: []result.PhaseFigure{
		fig(result.PhaseBaseline, at(60), 0.01), fig(result.PhaseFault, at(120), 0.031), fig(result.PhaseRecovery, at(180), 0.012),
	}}
	below := 0.03
	c := EvaluateCheck(CheckSpec{Name: "c", Metric: "errors", Below: &below, Aggregate: AggregatePhase}, m, stepTimeline)
	if c.Passed || c.Evaluated != 2 || c.Violations != 1 || len(c.Evidence) != 1 || c.Evidence[0].Phase != result.PhaseFault || c.Evidence[0].Value != 0.031 {
		t.Errorf("check on phase figures: %+v, want the fault figure 0.031 over 0.03 as its one violation of two", c)
	}
	change := 2.0 // 200%: the fault figure is 3.1 times the baseline's
	c = EvaluateCheck(CheckSpec{Name: "c", Metric: "errors", MaxChange: &change, Aggregate: AggregatePhase, During: []string{result.PhaseFault}}, m, stepTimeline)
	if c.Passed || c.Violations != 1 {
		t.Errorf("max_change against the baseline figure: %+v, want a violation", c)
	}
	// An off-scale figure (a histogram_quantile past the last bucket) is a value that
	// fails the check, not a gap.
	m.PhaseFigures[1] = fig(result.PhaseFault, at(120), math.Inf(1))
	if c := EvaluateCheck(CheckSpec{Name: "c", Metric: "errors", Below: &below, Aggregate: AggregatePhase}, m, stepTimeline); c.Passed || c.Verdict == result.VerdictNoData || c.Violations != 1 {
		t.Errorf("a +Inf fault figure: %+v, want a violation", c)
	}
	m.PhaseFigures = nil
	if c := EvaluateCheck(CheckSpec{Name: "c", Metric: "errors", Below: &below, Aggregate: AggregatePhase}, m, stepTimeline); c.Verdict != result.VerdictNoData {
		t.Errorf("no figures: verdict %s, want no data", c.Verdict)
	}
}
