package report_test

import (
	"time"

	"github.com/faultline/faultline/metrics/analysis"
	"github.com/faultline/faultline/result"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// fixture builds a realistic result the way a run does: recorded series through the
// analysis. recoverAt is when the latency comes back (seconds from the start); errors
// is the error ratio during the fault. Labels and texts carry markup so every renderer
// shows it must escape.
func fixture(recoverAt float64, errors float64) *result.Result {
	below, errBelow, half := 0.5, 0.05, 0.5
	checks := []analysis.CheckSpec{
		{Name: "latency_recovers", Metric: "p99_latency", Below: &below, During: []string{"recovery"}, RecoverWithin: 30 * time.Second},
		{Name: "latency_holds", Metric: "p99_latency", MaxChange: &half, Aggregate: "p95", During: []string{"fault"}},
		{Name: "errors_low", Metric: "error_ratio", Below: &errBelow, Aggregate: "mean", During: []string{"fault"}},
	}
	headers := []result.Metric{
		{Name: "p99_latency", Query: `histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{job="shop"}[30s])))`, Unit: "s", Description: "p99 of <b>checkout</b>"},
		{Name: "error_ratio", Query: `sum(rate(http_requests_total{code=~"5.."}[30s])) / sum(rate(http_requests_total[30s]))`},
	}
	ms := []analysis.MetricSpec{{Name: "p99_latency"}, {Name: "error_ratio"}}
	tl := result.Timeline{
		BaselineStart: at(0), FaultStart: at(60), FaultEnd: at(120), RecoveryEnd: at(180),
		Injections: []result.PlannedInjection{
			{Fault: "slow_db", Kind: "delay", Target: "db", Start: at(60), End: at(120)},
			{Fault: "db_crash", Kind: "kill", Target: "db", Start: at(90), End: at(90)},
		},
	}
	checkout := result.Series{Labels: map[string]string{"route": "/checkout"}}
	evil := result.Series{Labels: map[string]string{"route": "<script>alert(1)</script>"}}
	ratio := result.Series{Labels: map[string]string{}}
	for k := 0; k <= 36; k++ {
		sec := float64(5 * k)
		v := 0.1 + 0.004*float64(k%3)
		if sec >= 70 && sec < recoverAt {
			v = 0.6 + 0.01*float64(k%2)
		}
		checkout.Samples = append(checkout.Samples, result.Sample{Time: at(sec), Value: v})
		if k != 20 { // a missing scrape
			evil.Samples = append(evil.Samples, result.Sample{Time: at(sec), Value: 0.05 + 0.001*float64(k%2)})
		}
		e := 0.001
		if sec >= 60 && sec < 120 {
			e = errors
		}
		ratio.Samples = append(ratio.Samples, result.Sample{Time: at(sec), Value: e})
	}
	evil.Gaps = []result.Gap{{Start: at(100), End: at(105), Reason: "no value at this step"}}
	observed := []result.Metric{
		{Name: "p99_latency", Query: headers[0].Query, Unit: "s", Description: headers[0].Description, Series: []result.Series{checkout, evil}},
		{Name: "error_ratio", Query: headers[1].Query, Series: []result.Series{ratio}},
	}
	r := &result.Result{
		SchemaVersion:    result.SchemaVersion,
		FaultlineVersion: "test",
		Experiment: result.Experiment{
			Name: "checkout-survives-slow-db", Description: "Checkout keeps p99 under 500ms <i>while</i> the database link is slow | really",
			File: "examples/checkout.hcl", Labels: map[string]string{"team": "shop"},
			Variables:       map[string]string{"prometheus_url": "http://127.0.0.1:9090"},
			BaselineSeconds: 60, RecoverySeconds: 60, StepSeconds: 5,
		},
		StartedAt: at(0), EndedAt: at(181.5),
		Seed:     42,
		Timeline: tl,
		Targets:  map[string][]result.Target{"db": {{ID: "0123456789abcdef0123", Name: "shop-db-1", Image: "shop-db:dev", State: "running", Group: "db"}}},
		Events: []result.Event{
			{Type: result.EventInject, Fault: "slow_db", Kind: "delay", Target: result.EventTarget{Name: "shop-db-1", ID: "0123456789abcdef0123"}, Planned: at(60), Actual: at(60.004)},
			{Type: result.EventInject, Fault: "db_crash", Kind: "kill", Target: result.EventTarget{Name: "shop-db-1", ID: "0123456789abcdef0123"}, Planned: at(90), Actual: at(90.002)},
			{Type: result.EventRevert, Fault: "slow_db", Kind: "delay", Target: result.EventTarget{Name: "shop-db-1", ID: "0123456789abcdef0123"}, Planned: at(120), Actual: at(120.003),
				Error: "target is gone or was recreated", TargetGone: true},
		},
		Warnings: []string{"target shop-db-1 was recreated during the run: <its revert was not needed>"},
	}
	analysis.Analyze(analysis.Input{Metrics: ms, Checks: checks, Timeline: tl, Observed: observed}).Apply(r)
	r.Status, r.ExitCode = result.StatusPassed, 0
	for _, c := range r.Checks {
		if !c.Passed {
			r.Status, r.ExitCode, r.Reason = result.StatusFailed, 1, "a check failed"
		}
	}
	return r
}
