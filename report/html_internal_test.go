package report

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/result"
)

func TestNiceRange(t *testing.T) {
	t.Parallel()
	// Each range must come out holding its values, from 0 for non-negative ones, in
	// 2 to 8 ticks of 1, 2 or 5 times a power of ten.
	tests := []struct{ lo, hi float64 }{
		{0.00995, 9.632}, // a latency
		{0, 0.05},        // a ratio and its bound
		{-3, 7},
		{100, 140},
		{-0.5, -0.1},
		{0, 1e-9},
	}
	for _, tt := range tests {
		lo, hi, tick := niceRange(tt.lo, tt.hi)
		if lo > tt.lo || hi < tt.hi || (tt.lo >= 0 && lo < 0) {
			t.Errorf("niceRange(%g, %g) = [%g, %g]: does not hold the values, or goes below 0", tt.lo, tt.hi, lo, hi)
		}
		if r := (hi - lo) / tick; r < 2 || r > 8 || math.Abs(r-math.Round(r)) > 1e-9 {
			t.Errorf("niceRange(%g, %g) = [%g, %g] tick %g: %g ticks", tt.lo, tt.hi, lo, hi, tick, r)
		}
		m := tick / math.Pow(10, math.Floor(math.Log10(tick)))
		if math.Abs(m-1) > 1e-9 && math.Abs(m-2) > 1e-9 && math.Abs(m-5) > 1e-9 {
			t.Errorf("niceRange(%g, %g): tick %g is not 1, 2 or 5 times a power of ten", tt.lo, tt.hi, tick)
		}
	}
}

func TestThresholdsSharedByChecksAreOneLine(t *testing.T) {
	t.Parallel()
	one, half := 1.0, 0.5
	got := checkThresholds([]result.CheckResult{
		{Name: "slo", Metric: "p99", High: &one},
		{Name: "recovers", Metric: "p99", High: &one},
		{Name: "floor", Metric: "p99", Low: &half},
		{Name: "other", Metric: "errors", High: &one},
	}, "p99")
	if len(got) != 2 || got[0].label != "slo, recovers ≤ 1" || got[1].label != "floor ≥ 0.5" {
		t.Errorf("thresholds %+v, want one line for slo and recovers at 1 and one for floor", got)
	}
}

func TestChartDrawsInfinityOnTheEdge(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &result.Result{Timeline: result.Timeline{BaselineStart: at, FaultStart: at.Add(time.Second), FaultEnd: at.Add(2 * time.Second), RecoveryEnd: at.Add(3 * time.Second)}}
	m := &result.Metric{Name: "p99", Series: []result.Series{{Samples: []result.Sample{{Time: at, Value: 0.2}, {Time: at.Add(time.Second), Value: math.Inf(1)}, {Time: at.Add(2 * time.Second), Value: 0.4}}}}}
	c := buildChart(r, m)
	if c.Empty || len(c.Lines) != 1 || strings.Contains(c.Lines[0].D, "NaN") || strings.Contains(c.Lines[0].D, "Inf") {
		t.Fatalf("chart of a series with +Inf: empty %v, path %q", c.Empty, c.Lines[0].D)
	}
	if !strings.Contains(c.Lines[0].D, fmt.Sprintf(",%.1f", c.Top)) {
		t.Errorf("+Inf is not on the top edge (%g): %q", c.Top, c.Lines[0].D)
	}
	for _, tk := range c.YTicks {
		if math.IsInf(tk.Y, 0) || math.IsNaN(tk.Y) {
			t.Errorf("the scale took +Inf in: ticks %+v", c.YTicks)
		}
	}
}

func TestOffsetBeforeTheBaselineHasOneSign(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := &result.Result{Timeline: result.Timeline{BaselineStart: t0}}
	for at, want := range map[time.Duration]string{-time.Millisecond: "-1ms", 0: "+0s", 1500 * time.Millisecond: "+1.5s"} {
		if got := offset(r, t0.Add(at)); got != want {
			t.Errorf("offset(%v) = %q, want %q", at, got, want)
		}
	}
}
