package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/metrics/analysis"
	"github.com/faultline/faultline/result"
)

// lostPrefix starts the reason of a run aborted because observation was lost.
const lostPrefix = "observation lost"

// sampleLoop samples every metric at each step from the start of the run until obs
// ends, records the samples, and stops harm when an abort guard trips or Prometheus
// has not answered for longer than the loss grace.
func (r *run) sampleLoop(obs, harm context.Context) {
	e := r.plan.Experiment
	if r.cfg.Sampler == nil || len(e.Metrics) == 0 || e.Step <= 0 {
		return
	}
	grace := time.Duration(0)
	if e.Prometheus != nil {
		grace = e.Prometheus.LossGrace
	}
	lastAnswer := r.t0
	for k := 0; ; k++ {
		at := r.t0.Add(time.Duration(k) * e.Step)
		if now := time.Now(); now.After(at.Add(e.Step)) {
			// A slow sample made us miss steps: skip to the current one.
			k = int(now.Sub(r.t0) / e.Step)
			at = r.t0.Add(time.Duration(k) * e.Step)
		}
		if at.After(r.observationEnd()) {
			return
		}
		if err := sleepUntil(obs, at); err != nil || at.After(r.observationEnd()) {
			return
		}
		observations := r.cfg.Sampler.Sample(obs, at)
		if obs.Err() != nil {
			return
		}
		r.recorder.Add(observations...)
		if answered(observations) {
			lastAnswer = at
		}
		r.progress(Update{Observations: observations, Checks: r.liveChecks()})
		if harm.Err() != nil {
			continue // already stopping: guards have nothing left to protect
		}
		if grace > 0 && at.Sub(lastAnswer) > grace {
			r.stopHarm(&stopCause{status: result.StatusAborted, lost: true, reason: fmt.Sprintf(
				"%s: Prometheus has not answered since %s (longer than loss_grace %s): every fault was reverted because we do not harm what we cannot see; last error: %s",
				lostPrefix, lastAnswer.Format(time.RFC3339), grace, firstGap(observations))})
			continue
		}
		for _, a := range r.aborts {
			if tripped, since, series := analysis.AbortTripped(a, r.recorder.Series(a.Metric)); tripped {
				r.stopHarm(&stopCause{status: result.StatusAborted, reason: fmt.Sprintf(
					"abort guard %q tripped: metric %q %s since %s (series %s)",
					a.Name, a.Metric, guardText(a.Above, a.Below, a.For), since.Format(time.RFC3339), series)})
				break
			}
		}
	}
}

// answered reports whether Prometheus answered at least one query: an empty result is
// an answer, an error or a timeout is not.
func answered(obs []metrics.Observation) bool {
	for _, o := range obs {
		if o.Gap == "" || o.Gap == result.GapEmpty {
			return true
		}
	}
	return len(obs) == 0
}

func firstGap(obs []metrics.Observation) string {
	for _, o := range obs {
		if o.Gap != "" {
			return o.Gap
		}
	}
	return "none"
}

func guardText(above, below *float64, d time.Duration) string {
	var parts []string
	if above != nil {
		parts = append(parts, fmt.Sprintf("above %g", *above))
	}
	if below != nil {
		parts = append(parts, fmt.Sprintf("below %g", *below))
	}
	return strings.Join(parts, " and ") + fmt.Sprintf(" for %s", d)
}

// liveChecks evaluates every check on what was sampled so far, for the live view.
func (r *run) liveChecks() []result.CheckResult {
	if len(r.checkSpecs) == 0 {
		return nil
	}
	r.mu.Lock()
	tl := r.res.Timeline
	r.mu.Unlock()
	return analysis.Analyze(analysis.Input{
		Metrics: r.metricSpecs, Checks: r.checkSpecs, Timeline: tl, Observed: r.recorder.Metrics(),
	}).Checks
}
