package result

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestInfinityRoundTripsThroughJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	inf, rel := math.Inf(1), math.Inf(1)
	r := &Result{SchemaVersion: SchemaVersion, Metrics: []Metric{{Name: "p99", Series: []Series{{
		Samples: []Sample{{at, 0.25}, {at.Add(time.Second), inf}, {at.Add(2 * time.Second), math.Inf(-1)}},
		Phases:  []PhaseStats{{Phase: PhaseFault, Stats: Stats{Count: 2, Mean: inf, Min: 0.25, Max: inf, P50: inf, P95: inf, P99: inf, Stddev: inf}}},
		Band:    &Band{Low: 0.1, High: 0.3, Mean: 0.2, Stddev: 0.01, Tolerance: 0.02},
		Impact:  &Impact{BaselineMean: 0.2, FaultMean: inf, Absolute: inf, Relative: &rel, U: 3, PValue: 0.5, Method: "exact", Alpha: 0.05},
	}}, PhaseFigures: []PhaseFigure{{Phase: PhaseFault, At: at, Query: "q", Value: &inf}, {Phase: PhaseRecovery, At: at, Query: "q", Gap: GapEmpty}}}},
		Checks: []CheckResult{{Name: "slo", Evidence: []Evidence{{Time: at, Value: inf, Phase: PhaseFault}}}}}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatalf("a result with +Inf does not encode: %v", err)
	}
	out := buf.String()
	for _, want := range []string{`"v": 0.25`, `"v": "+Inf"`, `"v": "-Inf"`, `"mean": "+Inf"`, `"min": 0.25`, `"fault_mean": "+Inf"`, `"relative": "+Inf"`, `"value": "+Inf"`, `"phase": "fault"`} {
		if !strings.Contains(out, want) {
			t.Errorf("encoded result lacks %s:\n%s", want, out)
		}
	}
	var back Result
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("the encoded result does not decode: %v", err)
	}
	s := back.Metrics[0].Series[0]
	if !math.IsInf(s.Samples[1].Value, 1) || !math.IsInf(s.Samples[2].Value, -1) || s.Samples[0].Value != 0.25 ||
		s.Phases[0].Phase != PhaseFault || !math.IsInf(s.Phases[0].Max, 1) || s.Phases[0].Min != 0.25 ||
		!math.IsInf(*s.Impact.Relative, 1) || s.Band.High != 0.3 || !math.IsInf(back.Checks[0].Evidence[0].Value, 1) {
		t.Errorf("decoded %+v", s)
	}
	if f := back.Metrics[0].PhaseFigures; len(f) != 2 || f[0].Value == nil || !math.IsInf(*f[0].Value, 1) || f[1].Value != nil || f[1].Gap != GapEmpty {
		t.Errorf("decoded phase figures %+v, want +Inf and a gap", f)
	}
	if err := json.Unmarshal([]byte(`{"t":"2026-01-01T00:00:00Z","v":"lots"}`), new(Sample)); err == nil {
		t.Error("a sample value that is neither a number nor ±Inf decoded")
	}
}

func TestAddValueKeepsInfinityAndGapsNaN(t *testing.T) {
	t.Parallel()
	var s Series
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.AddValue(at, math.Inf(1), time.Second)
	s.AddValue(at.Add(time.Second), math.NaN(), time.Second)
	s.AddValue(at.Add(2*time.Second), math.Inf(-1), time.Second)
	if len(s.Samples) != 2 || len(s.Gaps) != 1 || s.Gaps[0].Reason != GapNaN {
		t.Fatalf("samples %v, gaps %v; want ±Inf as samples and NaN as the one gap", s.Samples, s.Gaps)
	}
}
