package metrics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/faultline/faultline/result"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
)

// Times to impact and to recover are first found on the step grid of the final range
// query; RefineTimes moves them to the scrape times in between. The moments the data
// changed are the raw samples' times of the query's first selector (errors_total in
// rate(errors_total[5s])); the query is evaluated at each of them in the step before
// the grid's answer, and the first one outside the band (impact), or the first of the
// final stretch inside it (recovery), is the figure: right to the scrape interval,
// not the step.

// TimesFromScrapes marks a series whose ImpactAt and RecoveredAt were refined to
// scrape times (result.Series.TimesFrom); without it they are on the step grid.
const TimesFromScrapes = "scrape times"

// firstSelector is the first vector selector of expr, as PromQL text without a range.
func firstSelector(expr string) (string, error) {
	e, err := parser.NewParser(parser.Options{EnableExperimentalFunctions: true}).ParseExpr(expr)
	if err != nil {
		return "", err
	}
	var sel *parser.VectorSelector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && sel == nil {
			sel = vs
		}
		return nil
	})
	if sel == nil {
		return "", errors.New("the query selects no series")
	}
	c := *sel
	c.OriginalOffset, c.Offset, c.Timestamp, c.StartOrEnd = 0, 0, nil, 0
	return c.String(), nil
}

// ScrapeTimes are the raw sample times of expr's first selector in [start, end),
// sorted and distinct; raw must accept a range vector (local.Store.Raw, Client.Raw).
func ScrapeTimes(ctx context.Context, raw QueryFunc, expr string, start, end time.Time) ([]time.Time, error) {
	sel, err := firstSelector(expr)
	if err != nil {
		return nil, err
	}
	window := end.Sub(start).Truncate(time.Millisecond)
	if window <= 0 {
		return nil, nil
	}
	series, err := raw(ctx, fmt.Sprintf("%s[%s]", sel, model.Duration(window)), end)
	if err != nil {
		return nil, err
	}
	var out []time.Time
	for _, s := range series {
		for _, p := range s.Samples {
			if !p.Time.Before(start) && p.Time.Before(end) {
				out = append(out, p.Time)
			}
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(out, func(a, b time.Time) bool { return a.Equal(b) }), nil
}

// RefineTimes refines the analysed series of m (its Band, ImpactAt and RecoveredAt
// set by metrics/analysis) to scrape times. A query that fails leaves the grid's
// figures as they are; the error says why.
func RefineTimes(ctx context.Context, query, raw QueryFunc, q Query, m *result.Metric, tl result.Timeline, step time.Duration) error {
	ctx = WithQuery(ctx, q)
	var errs []error
	valueAt := func(t time.Time, id string) (float64, bool, error) {
		series, err := query(ctx, q.Expr, t)
		if err != nil {
			return 0, false, err
		}
		for _, s := range series {
			if result.LabelString(s.Labels) == id && len(s.Samples) > 0 {
				return s.Samples[0].Value, true, nil
			}
		}
		return 0, false, nil
	}
	for i := range m.Series {
		s := &m.Series[i]
		if s.Band == nil {
			continue
		}
		id := result.LabelString(s.Labels)
		outside := func(v float64) bool { return v < s.Band.Low || v > s.Band.High }
		refined := false
		if s.ImpactAt != nil {
			from := maxTime(tl.FaultStart, s.ImpactAt.Add(-step))
			times, err := ScrapeTimes(ctx, raw, q.Expr, from, *s.ImpactAt)
			if err != nil {
				errs = append(errs, err)
			}
			// The time is from the scrapes only when every scrape time before it
			// could be evaluated.
			good := err == nil
			for _, t := range times {
				v, ok, err := valueAt(t, id)
				if err != nil {
					errs = append(errs, err)
					good = false
					break
				}
				if ok && outside(v) {
					at, d := t, t.Sub(tl.FaultStart).Seconds()
					s.ImpactAt, s.TimeToImpactSeconds = &at, &d
					break
				}
			}
			refined = good
		}
		if s.Recovered && s.RecoveredAt != nil && s.RecoveredAt.After(tl.FaultEnd) {
			from := maxTime(tl.FaultEnd, s.RecoveredAt.Add(-step))
			times, err := ScrapeTimes(ctx, raw, q.Expr, from, *s.RecoveredAt)
			if err != nil {
				errs = append(errs, err)
			}
			back := *s.RecoveredAt
			good := err == nil
			for k := len(times) - 1; k >= 0; k-- {
				v, ok, err := valueAt(times[k], id)
				if err != nil {
					errs = append(errs, err)
					good = false
					break
				}
				if !ok || outside(v) {
					break
				}
				back = times[k]
			}
			d := back.Sub(tl.FaultEnd).Seconds()
			s.RecoveredAt, s.TimeToRecoverSeconds = &back, &d
			refined = refined || good
		}
		if refined {
			s.TimesFrom = TimesFromScrapes
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("metric %q: times to impact and recover stay on the step grid: %w", q.Name, errors.Join(errs...))
	}
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
