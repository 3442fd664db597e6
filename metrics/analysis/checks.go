package analysis

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/result"
)

// AggregatePhase compares the metric's phase figures (result.Metric.PhaseFigures):
// its phase_query evaluated once over each phase, at its end.
const AggregatePhase = "phase"

// Aggregates a check may compare.
var Aggregates = []string{"all", "mean", "min", "max", "p50", "p95", "p99", AggregatePhase}

// DefaultDuring is the phases a check applies to when it names none.
var DefaultDuring = []string{result.PhaseFault, result.PhaseRecovery}

// EvaluateCheck decides one check on the analysed metric it names.
//
// Bounds are inclusive: "below 0.5" holds for 0.5. With max_change, each series is held
// to its own baseline mean ± max_change·|baseline mean|. With recover_within, samples in
// the first recover_within after the fault end are exempt from the bounds, and every
// series must be back in bounds for good by then.
func EvaluateCheck(c CheckSpec, m result.Metric, tl result.Timeline) result.CheckResult {
	during := c.During
	if len(during) == 0 {
		during = DefaultDuring
	}
	agg := c.Aggregate
	if agg == "" {
		agg = "all"
	}
	res := result.CheckResult{
		Name: c.Name, Metric: c.Metric, Aggregate: agg, During: append([]string(nil), during...),
		RecoverWithinSeconds: c.RecoverWithin.Seconds(),
		Condition:            conditionText(c, agg, during),
	}
	if !validAggregate(agg) {
		res.Verdict = result.VerdictNoData
		res.Reason = fmt.Sprintf("unknown aggregate %q: use one of %s", agg, strings.Join(Aggregates, ", "))
		return res
	}
	inDuring := map[string]bool{}
	for _, ph := range during {
		inDuring[ph] = true
	}
	var exemptUntil time.Time
	if c.RecoverWithin > 0 {
		exemptUntil = tl.FaultEnd.Add(c.RecoverWithin)
	}
	exempt := func(t time.Time) bool { return c.RecoverWithin > 0 && !t.Before(tl.FaultEnd) && t.Before(exemptUntil) }

	var worst *result.Evidence
	worstMargin := math.Inf(1)
	var notes []string
	recoveredAfter := 0.0
	allRecovered := true
	series := m.Series
	if agg == AggregatePhase {
		series = figureSeries(m.PhaseFigures)
	}
	for _, s := range series {
		id := result.LabelString(s.Labels)
		lo, hi, ok := boundsFor(c, s)
		if !ok {
			notes = append(notes, fmt.Sprintf("series %s has no baseline sample to measure max_change against", id))
			continue
		}
		if len(m.Series) == 1 || c.MaxChange == nil { // max_change bounds differ per series
			res.Low, res.High = finitePtr(lo), finitePtr(hi)
		}
		judge := func(ev result.Evidence) {
			if math.IsNaN(ev.Value) {
				return // an aggregate without a value (the mean of +Inf and -Inf)
			}
			res.Evaluated++
			margin := boundMargin(ev.Value, lo, hi)
			if margin < 0 {
				res.Violations++
				if len(res.Evidence) < MaxEvidence {
					ev.Note = outsideNote(ev.Value, lo, hi)
					res.Evidence = append(res.Evidence, ev)
				}
			}
			if margin < worstMargin {
				worstMargin = margin
				e := ev
				worst = &e
			}
		}
		if agg == AggregatePhase {
			// One sample per phase, at its end: the figure over the whole phase.
			for _, p := range s.Samples {
				ph := figurePhase(m.PhaseFigures, s.Labels, p.Time)
				if inDuring[ph] {
					judge(result.Evidence{Time: p.Time, Value: p.Value, Phase: ph, Series: id})
				}
			}
		} else if agg == "all" {
			for _, p := range s.Samples {
				ph := tl.PhaseOf(p.Time)
				if inDuring[ph] && !exempt(p.Time) {
					judge(result.Evidence{Time: p.Time, Value: p.Value, Phase: ph, Series: id})
				}
			}
		} else {
			for _, ph := range during {
				var vals []float64
				var last time.Time
				for _, p := range s.Samples {
					if tl.PhaseOf(p.Time) == ph && !exempt(p.Time) {
						vals = append(vals, p.Value)
						last = p.Time
					}
				}
				if len(vals) > 0 {
					judge(result.Evidence{Time: last, Value: aggregate(Summarize(vals), agg), Phase: ph, Series: id})
				}
			}
		}
		if c.RecoverWithin > 0 {
			res.Evaluated++
			at, back := backForGood(s.Samples, tl.FaultEnd, func(v float64) bool { return v >= lo && v <= hi })
			after := at.Sub(tl.FaultEnd).Seconds()
			if back && after < 0 {
				after = 0
			}
			if !back || at.After(exemptUntil) {
				allRecovered = allRecovered && back
				res.Violations++
				ev := result.Evidence{Time: exemptUntil, Phase: result.PhaseRecovery, Series: id,
					Note: fmt.Sprintf("not back in bounds for good within %s after the fault end", c.RecoverWithin)}
				if back {
					ev.Time, ev.Note = at, fmt.Sprintf("back in bounds for good only %s after the fault end", seconds(after))
				}
				if v, ok := valueAt(s.Samples, ev.Time); ok {
					ev.Value = v
				}
				if len(res.Evidence) < MaxEvidence {
					res.Evidence = append(res.Evidence, ev)
				}
			}
			if back {
				recoveredAfter = math.Max(recoveredAfter, after)
			}
		}
	}
	if c.RecoverWithin > 0 && allRecovered && len(m.Series) > 0 {
		res.RecoveredAfterSeconds = &recoveredAfter
	}

	switch {
	case res.Evaluated == 0:
		res.Verdict = result.VerdictNoData
		res.Reason = fmt.Sprintf("no sample of metric %q in %s", c.Metric, strings.Join(during, ", "))
		if agg == AggregatePhase {
			res.Reason = fmt.Sprintf("no phase figure of metric %q in %s", c.Metric, strings.Join(during, ", "))
		}
		if len(notes) > 0 {
			res.Reason = strings.Join(notes, "; ")
		}
	case res.Violations > 0:
		res.Verdict = result.VerdictFail
		res.Reason = fmt.Sprintf("%d of %d %s out of bounds", res.Violations, res.Evaluated, plural(res.Evaluated, "value", "values"))
		res.Credit = 0.5 * float64(res.Evaluated-res.Violations) / float64(res.Evaluated)
	default:
		res.Verdict, res.Passed, res.Credit = result.VerdictPass, true, 1
		res.Reason = fmt.Sprintf("%s within bounds", plural(res.Evaluated, "the one value", fmt.Sprintf("all %d values", res.Evaluated)))
		if worst != nil {
			worst.Note = "closest to the bounds"
			res.Evidence = []result.Evidence{*worst}
		}
	}
	if len(notes) > 0 && res.Evaluated > 0 {
		res.Reason += "; " + strings.Join(notes, "; ")
	}
	return res
}

// boundMargin is how far v is inside [lo, hi] (negative: outside). An infinite v is
// infinitely inside an unbounded side and infinitely outside a bounded one; the plain
// formula would give NaN for Inf - Inf.
func boundMargin(v, lo, hi float64) float64 {
	side := func(d float64) float64 {
		if math.IsNaN(d) {
			return math.Inf(1) // v infinite on the unbounded side
		}
		return d
	}
	return math.Min(side(v-lo), side(hi-v))
}

// boundsFor returns the inclusive bounds a series is held to. Unset sides are ±Inf.
func boundsFor(c CheckSpec, s result.Series) (lo, hi float64, ok bool) {
	lo, hi = math.Inf(-1), math.Inf(1)
	if c.Below != nil {
		hi = math.Min(hi, *c.Below)
	}
	if c.Above != nil {
		lo = math.Max(lo, *c.Above)
	}
	if c.Within != nil {
		lo, hi = math.Max(lo, c.Within[0]), math.Min(hi, c.Within[1])
	}
	if c.MaxChange != nil {
		var base []float64
		for _, ps := range s.Phases {
			if ps.Phase == result.PhaseBaseline {
				base = []float64{ps.Mean}
			}
		}
		if len(base) == 0 {
			return 0, 0, false
		}
		d := *c.MaxChange * math.Abs(base[0])
		lo, hi = math.Max(lo, base[0]-d), math.Min(hi, base[0]+d)
	}
	return lo, hi, true
}

func aggregate(s result.Stats, agg string) float64 {
	switch agg {
	case "mean":
		return s.Mean
	case "min":
		return s.Min
	case "max":
		return s.Max
	case "p50":
		return s.P50
	case "p95":
		return s.P95
	case "p99":
		return s.P99
	}
	return math.NaN()
}

func valueAt(samples []result.Sample, t time.Time) (float64, bool) {
	for _, p := range samples {
		if p.Time.Equal(t) {
			return p.Value, true
		}
	}
	return 0, false
}

func outsideNote(v, lo, hi float64) string {
	if v > hi {
		return "above " + num(hi)
	}
	return "below " + num(lo)
}

func conditionText(c CheckSpec, agg string, during []string) string {
	var parts []string
	subject := "every sample"
	if agg != "all" {
		subject = agg
	}
	if c.Below != nil {
		parts = append(parts, "below "+num(*c.Below))
	}
	if c.Above != nil {
		parts = append(parts, "above "+num(*c.Above))
	}
	if c.Within != nil {
		parts = append(parts, fmt.Sprintf("within [%s, %s]", num(c.Within[0]), num(c.Within[1])))
	}
	if c.MaxChange != nil {
		parts = append(parts, fmt.Sprintf("at most %s%% away from the baseline mean", num(*c.MaxChange*100)))
	}
	s := fmt.Sprintf("%s of %s %s during %s", subject, c.Metric, strings.Join(parts, " and "), strings.Join(during, ", "))
	if c.RecoverWithin > 0 {
		s += fmt.Sprintf("; back in bounds within %s after the fault end", c.RecoverWithin)
	}
	return s
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}

func finitePtr(v float64) *float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return nil
	}
	return &v
}

// ScoreFormula is the score's formula in words, printed in every report.
const ScoreFormula = "score = 100 × (sum of check credits) / (number of checks); " +
	"credit = 1 for a passed check, 0.5 × (share of its values within bounds) for a failed one, " +
	"0 for a check without data; no score when there are no checks or the run did not complete"

// ScoreOf computes the resilience score of the verdicts (docs/scoring.md).
func ScoreOf(checks []result.CheckResult) result.Score {
	sc := result.Score{Formula: ScoreFormula, Total: len(checks)}
	if len(checks) == 0 {
		sc.Withhold("the experiment has no checks")
		return sc
	}
	sum := 0.0
	for _, c := range checks {
		sum += c.Credit
		if c.Passed {
			sc.Passed++
		}
	}
	v := math.Round(1000*sum/float64(len(checks))) / 10
	sc.Value = &v
	return sc
}

// AbortTripped evaluates an abort guard on the recent samples of its metric: it is
// tripped when some series' latest samples have all been beyond the bound (strictly
// above `above`, strictly below `below`) for at least a.For, measured from the first
// sample of that unbroken stretch to the latest. since is the earliest such start among
// tripped series, and series names it.
func AbortTripped(a AbortSpec, series []result.Series) (tripped bool, since time.Time, seriesID string) {
	beyond := func(v float64) bool {
		return (a.Above != nil && v > *a.Above) || (a.Below != nil && v < *a.Below)
	}
	for _, s := range series {
		n := len(s.Samples)
		if n == 0 || !beyond(s.Samples[n-1].Value) {
			continue
		}
		start := n - 1
		for start > 0 && beyond(s.Samples[start-1].Value) {
			start--
		}
		first, last := s.Samples[start].Time, s.Samples[n-1].Time
		if last.Sub(first) >= a.For && (!tripped || first.Before(since)) {
			tripped, since, seriesID = true, first, result.LabelString(s.Labels)
		}
	}
	return tripped, since, seriesID
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func validAggregate(a string) bool {
	for _, x := range Aggregates {
		if a == x {
			return true
		}
	}
	return false
}

// figureSeries arranges phase figures as series with one sample per phase, at its
// end, and the baseline figure as the baseline "mean" that max_change compares with.
func figureSeries(figs []result.PhaseFigure) []result.Series {
	var out []result.Series
	index := map[string]int{}
	for _, f := range figs {
		if f.Value == nil {
			continue
		}
		id := result.LabelString(f.Labels)
		i, ok := index[id]
		if !ok {
			i = len(out)
			index[id] = i
			out = append(out, result.Series{Labels: f.Labels})
		}
		out[i].Samples = append(out[i].Samples, result.Sample{Time: f.At, Value: *f.Value})
		if f.Phase == result.PhaseBaseline {
			out[i].Phases = append(out[i].Phases, result.PhaseStats{Phase: result.PhaseBaseline, Stats: result.Stats{Count: 1, Mean: *f.Value, Min: *f.Value, Max: *f.Value}})
		}
	}
	return out
}

// figurePhase is the phase of the figure of a series at a time.
func figurePhase(figs []result.PhaseFigure, labels map[string]string, at time.Time) string {
	id := result.LabelString(labels)
	for _, f := range figs {
		if f.At.Equal(at) && result.LabelString(f.Labels) == id {
			return f.Phase
		}
	}
	return ""
}
