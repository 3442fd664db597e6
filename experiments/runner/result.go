package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/metrics/analysis"
	"github.com/faultline/faultline/result"
)

// Building the run's Result: its skeleton from the plan, what happened, the analysis
// and the verdict with its exit code.

func (r *run) newResult() *result.Result {
	e := r.plan.Experiment
	res := &result.Result{
		SchemaVersion:    result.SchemaVersion,
		FaultlineVersion: r.cfg.Version,
		Experiment: result.Experiment{
			Name: e.Name, Description: e.Description, File: e.Filename, Labels: e.Labels, Variables: e.Variables,
			BaselineSeconds: e.Baseline.Seconds(), RecoverySeconds: e.Recovery.Seconds(), StepSeconds: e.Step.Seconds(),
		},
		StartedAt: r.t0,
		Seed:      r.plan.Seed,
		Targets:   resultTargets(r.plan.Targets),
		Timeline: result.Timeline{
			BaselineStart: r.t0,
			FaultStart:    r.t0.Add(r.plan.FaultStart),
			FaultEnd:      r.t0.Add(r.plan.FaultEnd),
			RecoveryEnd:   r.t0.Add(r.plan.Total),
		},
		Warnings: append([]string(nil), r.cfg.Warnings...),
	}
	for _, in := range r.plan.Injections {
		res.Timeline.Injections = append(res.Timeline.Injections, result.PlannedInjection{
			Fault: in.Fault.Name, Kind: in.Fault.Kind, Target: in.Fault.Target, Repeat: in.Repeat,
			Start: r.t0.Add(in.Start), End: r.t0.Add(in.End),
		})
	}
	return res
}

// resultTargets is the result's record of the containers each target block resolved to.
func resultTargets(byBlock map[string][]faults.Target) map[string][]result.Target {
	if byBlock == nil {
		return nil
	}
	out := make(map[string][]result.Target, len(byBlock))
	for name, ts := range byBlock {
		rts := make([]result.Target, len(ts))
		for i, t := range ts {
			rt := result.Target{ID: t.ID, Name: t.Name, Image: t.Image, Labels: t.Labels, State: t.State, PID: t.PID, Group: t.Group}
			for _, n := range t.Networks {
				rn := result.Network{Name: n.Name, PrefixLen: n.PrefixLen, MacAddress: n.MacAddress}
				if n.IP != nil {
					rn.IP = n.IP.String()
				}
				if n.Gateway != nil {
					rn.Gateway = n.Gateway.String()
				}
				rt.Networks = append(rt.Networks, rn)
			}
			rts[i] = rt
		}
		out[name] = rts
	}
	return out
}

// cutTimeline makes the result's timeline say what happened when harm stopped at now:
// the fault phase ended then (or never started).
func (r *run) cutTimeline(now time.Time) {
	r.mu.Lock()
	tl := &r.res.Timeline
	if now.Before(tl.FaultStart) {
		tl.FaultStart = now
	}
	cut := now.Before(tl.FaultEnd)
	if cut {
		tl.FaultEnd = now
	}
	r.mu.Unlock()
	if cut {
		r.warn(fmt.Sprintf("the fault phase was cut short at %s; the recovery phase starts there", now.Format(time.RFC3339)))
	}
}

func (r *run) setRecoveryEnd(t time.Time) {
	r.mu.Lock()
	r.obsEnd = t
	r.res.Timeline.RecoveryEnd = t
	r.mu.Unlock()
}

// setStatus records the first early stop; later ones do not overwrite it.
func (r *run) setStatus(s result.Status, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.res.Status == "" {
		r.res.Status, r.res.Reason = s, reason
	}
}

func (r *run) warn(msg string) {
	r.mu.Lock()
	r.res.Warnings = append(r.res.Warnings, msg)
	r.mu.Unlock()
	r.log.Warn(msg)
	r.progress(Update{Message: "warning: " + msg})
}

// warnOnce is warn for what every repeat of a fault would say again.
func (r *run) warnOnce(msg string) {
	r.mu.Lock()
	seen := slices.Contains(r.res.Warnings, msg)
	r.mu.Unlock()
	if !seen {
		r.warn(msg)
	}
}

// analyze fetches the final series (the live samples when Prometheus cannot be asked)
// and analyses them.
func (r *run) analyze(ctx context.Context) {
	e := r.plan.Experiment
	if len(e.Metrics) == 0 {
		analysis.Analyze(analysis.Input{Timeline: r.res.Timeline}).Apply(r.res)
		return
	}
	observed := r.recorder.Metrics()
	lost := r.stopped != nil && r.stopped.lost
	if r.cfg.RangeQuery != nil && !lost {
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		collected, errs := metrics.Collect(qctx, r.cfg.RangeQuery, r.queries, r.t0, r.obsEnd, e.Step)
		cancel()
		if len(errs) == 0 {
			observed = collected
		} else {
			r.warn(fmt.Sprintf("the final range query failed, so the analysis uses the live samples: %v", errors.Join(errs...)))
		}
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if r.cfg.Query != nil && !lost {
		metrics.CollectPhases(qctx, r.cfg.Query, r.queries, r.res.Timeline, observed)
	}
	analysis.Analyze(analysis.Input{
		Metrics: r.metricSpecs, Checks: r.checkSpecs, Timeline: r.res.Timeline, Observed: observed,
	}).Apply(r.res)
	if r.cfg.Query != nil && r.cfg.Raw != nil && !lost {
		for i, q := range r.queries {
			if i < len(r.res.Metrics) && r.res.Metrics[i].Name == q.Name {
				if err := metrics.RefineTimes(qctx, r.cfg.Query, r.cfg.Raw, q, &r.res.Metrics[i], r.res.Timeline, e.Step); err != nil {
					r.warn(err.Error())
				}
			}
		}
	}
	for _, m := range r.res.Metrics {
		if w := metrics.DroppedWarning(m); w != "" {
			r.warn(w)
		}
	}
}

// decide sets the result's status and exit code.
func (r *run) decide() {
	res := r.res
	res.EndedAt = time.Now()
	sort.SliceStable(res.Events, func(i, j int) bool { return res.Events[i].Actual.Before(res.Events[j].Actual) })
	failedChecks := 0
	for _, c := range res.Checks {
		if !c.Passed {
			failedChecks++
		}
	}
	markLostChecks(res)
	lost := unreapplied(res)
	gone := res.NeverInjected()
	switch {
	case r.revertFailed > 0:
		reason := fmt.Sprintf("%d revert(s) failed: the system may still be faulted; run `faultline recover`", r.revertFailed)
		if res.Reason != "" {
			reason += " (after: " + res.Reason + ")"
		}
		res.Status, res.Reason, res.ExitCode = result.StatusError, reason, result.ExitRevertFailed
	case res.Status == result.StatusAborted || res.Status == result.StatusInterrupted || res.Status == result.StatusError:
		res.ExitCode = result.ExitAborted
	case len(lost) > 0:
		// A run is never green without its faults: one that was lost and not applied
		// again fails the run, whatever the checks say.
		res.Status, res.ExitCode = result.StatusFailed, result.ExitCheckFailed
		res.Reason = lostReason(res, lost)
		if failedChecks > 0 {
			res.Reason += fmt.Sprintf("; and %d of %d checks failed", failedChecks, len(res.Checks))
		}
	case len(gone) > 0:
		// Nor without a fault that found its container gone and was never injected.
		res.Status, res.ExitCode = result.StatusFailed, result.ExitCheckFailed
		res.Reason = goneReason(gone)
		if failedChecks > 0 {
			res.Reason += fmt.Sprintf("; and %d of %d checks failed", failedChecks, len(res.Checks))
		}
	case failedChecks > 0:
		res.Status, res.ExitCode = result.StatusFailed, result.ExitCheckFailed
		res.Reason = fmt.Sprintf("%d of %d checks failed", failedChecks, len(res.Checks))
	default:
		res.Status, res.ExitCode = result.StatusPassed, result.ExitPassed
	}
	switch {
	case res.Status != result.StatusPassed && res.Status != result.StatusFailed:
		// The plan did not run to its end: what the checks saw is not the experiment's answer.
		res.Score.Withhold("the run was " + string(res.Status) + ", so its checks do not measure the experiment")
	case len(lost) > 0:
		res.Score.Withhold("a fault was lost during its hold and not applied again, so its checks do not measure the experiment")
	case len(gone) > 0:
		res.Score.Withhold("a fault was never injected on a container that was gone, so its checks do not measure the experiment")
	}
	r.log.Info("run ended", "status", res.Status, "reason", res.Reason, "exit_code", res.ExitCode, "score", res.Score.Text(fmtScore))
}

func fmtScore(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// goneReason is the run's reason when faults were never injected for want of their
// container.
func goneReason(gone []result.Event) string {
	first := gone[0]
	what := fmt.Sprintf("fault %q was never injected on %s: the container was gone (removed or recreated)", first.Fault, first.Target.Name)
	if len(gone) > 1 {
		what = fmt.Sprintf("%d injections found their container gone and never took effect, the first: %s", len(gone), what)
	}
	return what + ": the checks saw less than the planned fault"
}
