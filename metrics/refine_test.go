package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/result"
)

// TestRefineTimes: a step's impact seen on the grid at 20 s is moved to the first
// scrape outside the band (17 s); when evaluating at the scrape times fails, the
// grid's time stays and the series does not claim to come from the scrapes.
func TestRefineTimes(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tl := result.Timeline{BaselineStart: t0, FaultStart: at(10), FaultEnd: at(40), RecoveryEnd: at(60)}
	// Scrapes every 3 s from 1 s on; the value steps to 5 at 16.5 s.
	value := func(ts time.Time) float64 {
		if ts.Before(at(16.5)) {
			return 1
		}
		return 5
	}
	raw := func(_ context.Context, query string, end time.Time) ([]Series, error) {
		if !strings.HasPrefix(query, "up[") {
			return nil, errors.New("raw asked for " + query)
		}
		var s Series
		for ts := at(1); ts.Before(end); ts = ts.Add(3 * time.Second) {
			s.Samples = append(s.Samples, Sample{Time: ts, Value: value(ts)})
		}
		return []Series{s}, nil
	}
	query := func(_ context.Context, _ string, ts time.Time) ([]Series, error) {
		return []Series{{Samples: []Sample{{Time: ts, Value: value(ts)}}}}, nil
	}
	broken := func(context.Context, string, time.Time) ([]Series, error) { return nil, errors.New("server gone") }
	metric := func() *result.Metric {
		impact := at(20)
		return &result.Metric{Name: "up", Series: []result.Series{{Band: &result.Band{Low: 0.5, High: 1.5}, ImpactAt: &impact}}}
	}

	m := metric()
	if err := RefineTimes(context.Background(), query, raw, Query{Name: "up", Expr: "up"}, m, tl, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if s := m.Series[0]; !s.ImpactAt.Equal(at(19)) || s.TimesFrom != TimesFromScrapes || *s.TimeToImpactSeconds != 9 {
		t.Errorf("refined: impact at %s (%v s), from %q; want the scrape at +19s, 9 s after the fault", s.ImpactAt.Sub(t0), *s.TimeToImpactSeconds, s.TimesFrom)
	}

	m = metric()
	err := RefineTimes(context.Background(), broken, raw, Query{Name: "up", Expr: "up"}, m, tl, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "server gone") {
		t.Errorf("error %v, want the failed evaluation named", err)
	}
	if s := m.Series[0]; !s.ImpactAt.Equal(at(20)) || s.TimesFrom != "" {
		t.Errorf("after a failed evaluation: impact at %s, from %q; want the grid's +20s, not marked as from the scrapes", s.ImpactAt.Sub(t0), s.TimesFrom)
	}
}
