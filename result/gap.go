package result

import (
	"math"
	"time"
)

// Gap reasons.
const (
	GapEmpty   = "empty result"
	GapTimeout = "timeout"
	GapNaN     = "not a number"
	GapMissing = "no value at this step"
)

// AddGap appends [start, end) to gaps, merging it into the last gap when they touch and
// have the same reason.
func AddGap(gaps []Gap, start, end time.Time, reason string) []Gap {
	if n := len(gaps); n > 0 && gaps[n-1].Reason == reason && !start.After(gaps[n-1].End) {
		if end.After(gaps[n-1].End) {
			gaps[n-1].End = end
		}
		return gaps
	}
	return append(gaps, Gap{Start: start.UTC(), End: end.UTC(), Reason: reason})
}

// AddValue appends one observed value to s. This is the one place that decides what a
// value is: NaN is no value (a gap of one step, "not a number"); every other value,
// +Inf and -Inf included, is a sample. ±Inf compare with every bound (histogram_quantile
// returns +Inf exactly when the latency is off its scale, which must fail a check and
// trip an abort guard); in JSON they are written as "+Inf" and "-Inf" (float.go).
func (s *Series) AddValue(t time.Time, v float64, step time.Duration) {
	if math.IsNaN(v) {
		s.Gaps = AddGap(s.Gaps, t, t.Add(step), GapNaN)
		return
	}
	s.Samples = append(s.Samples, Sample{Time: t, Value: v})
}

// WithoutNaN returns s with every NaN sample moved into a gap of width step (0: a
// point), as AddValue would have recorded it. Samples and gaps are copied.
func (s Series) WithoutNaN(step time.Duration) Series {
	samples := s.Samples
	s.Samples = make([]Sample, 0, len(samples))
	s.Gaps = append([]Gap(nil), s.Gaps...)
	for _, p := range samples {
		s.AddValue(p.Time, p.Value, step)
	}
	return s
}
