package result

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// JSON has no infinity and no NaN. A value that is one is written as the string "+Inf",
// "-Inf" or "NaN", as Prometheus's own HTTP API writes them; every finite value is a
// JSON number exactly as encoding/json writes a float64. This applies to sample values
// (+Inf and -Inf are samples; NaN never is, see AddValue), statistics, bands, impact and
// evidence, whose values follow from samples. The decoder takes both forms.

// jsonFloat is a float64 in that form.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	}
	return json.Marshal(v)
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		switch s {
		case "+Inf", "Inf":
			*f = jsonFloat(math.Inf(1))
		case "-Inf":
			*f = jsonFloat(math.Inf(-1))
		case "NaN":
			*f = jsonFloat(math.NaN())
		default:
			return fmt.Errorf("value %q is neither a number nor +Inf, -Inf or NaN", s)
		}
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("value %s is not a number: %w", b, err)
	}
	*f = jsonFloat(v)
	return nil
}

type jsonSample struct {
	Time  time.Time `json:"t"`
	Value jsonFloat `json:"v"`
}

func (s Sample) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonSample{s.Time, jsonFloat(s.Value)})
}

func (s *Sample) UnmarshalJSON(b []byte) error {
	var j jsonSample
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Sample{Time: j.Time, Value: float64(j.Value)}
	return nil
}

type jsonStats struct {
	Count  int       `json:"count"`
	Mean   jsonFloat `json:"mean"`
	Min    jsonFloat `json:"min"`
	Max    jsonFloat `json:"max"`
	P50    jsonFloat `json:"p50"`
	P95    jsonFloat `json:"p95"`
	P99    jsonFloat `json:"p99"`
	Stddev jsonFloat `json:"stddev"`
}

func toJSONStats(s Stats) jsonStats {
	return jsonStats{s.Count, jsonFloat(s.Mean), jsonFloat(s.Min), jsonFloat(s.Max), jsonFloat(s.P50), jsonFloat(s.P95), jsonFloat(s.P99), jsonFloat(s.Stddev)}
}

func (j jsonStats) stats() Stats {
	return Stats{j.Count, float64(j.Mean), float64(j.Min), float64(j.Max), float64(j.P50), float64(j.P95), float64(j.P99), float64(j.Stddev)}
}

func (s Stats) MarshalJSON() ([]byte, error) { return json.Marshal(toJSONStats(s)) }

func (s *Stats) UnmarshalJSON(b []byte) error {
	var j jsonStats
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = j.stats()
	return nil
}

// PhaseStats embeds Stats, whose methods it would otherwise take over (losing Phase).
type jsonPhaseStats struct {
	Phase string `json:"phase"`
	jsonStats
}

func (p PhaseStats) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonPhaseStats{p.Phase, toJSONStats(p.Stats)})
}

func (p *PhaseStats) UnmarshalJSON(b []byte) error {
	var j jsonPhaseStats
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = PhaseStats{Phase: j.Phase, Stats: j.stats()}
	return nil
}

type jsonBand struct {
	Low       jsonFloat `json:"low"`
	High      jsonFloat `json:"high"`
	Mean      jsonFloat `json:"mean"`
	Stddev    jsonFloat `json:"stddev"`
	Tolerance jsonFloat `json:"tolerance"`
}

func (b Band) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonBand{jsonFloat(b.Low), jsonFloat(b.High), jsonFloat(b.Mean), jsonFloat(b.Stddev), jsonFloat(b.Tolerance)})
}

func (b *Band) UnmarshalJSON(data []byte) error {
	var j jsonBand
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*b = Band{float64(j.Low), float64(j.High), float64(j.Mean), float64(j.Stddev), float64(j.Tolerance)}
	return nil
}

type jsonImpact struct {
	BaselineMean jsonFloat  `json:"baseline_mean"`
	FaultMean    jsonFloat  `json:"fault_mean"`
	Absolute     jsonFloat  `json:"absolute"`
	Relative     *jsonFloat `json:"relative,omitempty"`
	U            jsonFloat  `json:"u"`
	PValue       jsonFloat  `json:"p_value"`
	Method       string     `json:"method"`
	Significant  bool       `json:"significant"`
	Alpha        jsonFloat  `json:"alpha"`
}

func (i Impact) MarshalJSON() ([]byte, error) {
	j := jsonImpact{jsonFloat(i.BaselineMean), jsonFloat(i.FaultMean), jsonFloat(i.Absolute), nil,
		jsonFloat(i.U), jsonFloat(i.PValue), i.Method, i.Significant, jsonFloat(i.Alpha)}
	if i.Relative != nil {
		r := jsonFloat(*i.Relative)
		j.Relative = &r
	}
	return json.Marshal(j)
}

func (i *Impact) UnmarshalJSON(b []byte) error {
	var j jsonImpact
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*i = Impact{BaselineMean: float64(j.BaselineMean), FaultMean: float64(j.FaultMean), Absolute: float64(j.Absolute),
		U: float64(j.U), PValue: float64(j.PValue), Method: j.Method, Significant: j.Significant, Alpha: float64(j.Alpha)}
	if j.Relative != nil {
		r := float64(*j.Relative)
		i.Relative = &r
	}
	return nil
}

type jsonEvidence struct {
	Time   time.Time `json:"time"`
	Value  jsonFloat `json:"value"`
	Phase  string    `json:"phase"`
	Series string    `json:"series,omitempty"`
	Note   string    `json:"note,omitempty"`
}

func (e Evidence) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonEvidence{e.Time, jsonFloat(e.Value), e.Phase, e.Series, e.Note})
}

func (e *Evidence) UnmarshalJSON(b []byte) error {
	var j jsonEvidence
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Evidence{Time: j.Time, Value: float64(j.Value), Phase: j.Phase, Series: j.Series, Note: j.Note}
	return nil
}

type jsonPhaseFigure struct {
	Phase  string            `json:"phase"`
	At     time.Time         `json:"at"`
	Query  string            `json:"query"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  *jsonFloat        `json:"value,omitempty"`
	Gap    string            `json:"gap,omitempty"`
}

func (p PhaseFigure) MarshalJSON() ([]byte, error) {
	j := jsonPhaseFigure{Phase: p.Phase, At: p.At, Query: p.Query, Labels: p.Labels, Gap: p.Gap}
	if p.Value != nil {
		v := jsonFloat(*p.Value)
		j.Value = &v
	}
	return json.Marshal(j)
}

func (p *PhaseFigure) UnmarshalJSON(b []byte) error {
	var j jsonPhaseFigure
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = PhaseFigure{Phase: j.Phase, At: j.At, Query: j.Query, Labels: j.Labels, Gap: j.Gap}
	if j.Value != nil {
		v := float64(*j.Value)
		p.Value = &v
	}
	return nil
}
