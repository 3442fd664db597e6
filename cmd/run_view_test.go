package cmd

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/experiments/runner"
	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/result"
)

func TestLiveViewRedrawsInPlace(t *testing.T) {
	t.Parallel()
	exp := &experiments.Experiment{
		Name:    "view",
		Metrics: []*experiments.Metric{{Name: "p99", Unit: "s"}, {Name: "errors"}},
		Checks:  []*experiments.Check{{Name: "slo", Metric: "p99"}},
	}
	var out bytes.Buffer
	v := newLiveView(&out, exp)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v.update(runner.Update{Time: at, Phase: "baseline", Elapsed: 10 * time.Second, Total: time.Minute})
	first := out.String()
	if strings.Contains(first, "\x1b[") || !strings.Contains(first, "0:50 left") || !strings.Contains(first, "(no sample yet)") {
		t.Fatalf("first drawing:\n%s", first)
	}
	out.Reset()
	v.update(runner.Update{Time: at, Phase: "fault", Elapsed: 20 * time.Second, Total: time.Minute,
		Active:       []string{"freeze on web-1"},
		Observations: []metrics.Observation{{Metric: "p99", Series: []metrics.Series{{Samples: []metrics.Sample{{Value: 0.75}}}}}, {Metric: "errors", Gap: "timeout"}},
		Checks:       []result.CheckResult{{Name: "slo", Verdict: result.VerdictFail}},
		Event:        &result.Event{Type: result.EventInject, Fault: "freeze", Kind: "pause", Target: result.EventTarget{Name: "web-1"}, Planned: at, Actual: at.Add(3 * time.Millisecond)},
	})
	second := out.String()
	lines := strings.Count(first, "\n")
	if !strings.HasPrefix(second, "\x1b["+strconv.Itoa(lines)+"F\x1b[J") {
		t.Fatalf("second drawing does not move back over the %d lines of the first: %q", lines, second)
	}
	for _, want := range []string{"phase fault", "freeze on web-1", "0.75 s", "slo: FAILING", "gap: timeout", "injected freeze (pause) on web-1, 3ms after plan"} {
		if !strings.Contains(second, want) {
			t.Errorf("second drawing lacks %q:\n%s", want, second)
		}
	}
}
