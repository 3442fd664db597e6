// Package result holds the Result of a run: the one plain-data document that every
// output is rendered from (text, JSON, Markdown, HTML, JUnit), that `diff` compares and
// that is stored. It defines the JSON schema (docs/report.md documents every field), the
// phase names, series identity, and reading and writing the stored form. It imports
// nothing of faultline's: every other package may use it, it uses none of them.
//
// A Result is plain data. The runner fills the run-level parts (experiment, times,
// status, timeline, targets, events, series, warnings, exit code); the analysis
// (metrics/analysis) fills the analysis parts (per-phase statistics, impact, time to
// impact and recover, check verdicts, score). docs/report.md documents every field.
package result

import "time"

// SchemaVersion is the version of the Result document. It changes when a field changes
// meaning or disappears; new optional fields do not change it.
const SchemaVersion = 1

// Status is how a run ended.
type Status string

const (
	StatusPassed      Status = "passed"      // every check passed
	StatusFailed      Status = "failed"      // at least one check failed
	StatusAborted     Status = "aborted"     // an abort guard tripped or observation was lost
	StatusInterrupted Status = "interrupted" // SIGINT or SIGTERM
	StatusError       Status = "error"       // the run could not complete (preflight, revert failure, ...)
)

// Event types.
const (
	EventInject = "inject"
	EventRevert = "revert"
)

// Check verdicts.
const (
	VerdictPass   = "pass"
	VerdictFail   = "fail"
	VerdictNoData = "no_data" // no sample in the check's phases: counted as a failure
)

// Result is one run of one experiment.
type Result struct {
	// SchemaVersion is SchemaVersion at the time the result was written.
	SchemaVersion int `json:"schema_version"`
	// FaultlineVersion is the version of faultline that ran the experiment.
	FaultlineVersion string `json:"faultline_version"`
	// Experiment describes what was run.
	Experiment Experiment `json:"experiment"`
	// StartedAt is when the run started (the start of the baseline, or earlier on an
	// early failure); EndedAt when the report was written.
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at"`
	// Status is how the run ended; Reason says why in one sentence (empty when passed).
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Seed drove the random target picks; `--seed` with it replays the same picks.
	Seed int64 `json:"seed"`
	// Timeline is the planned timeline as absolute times.
	Timeline Timeline `json:"timeline"`
	// Targets holds, per target block name, the containers it resolved to.
	Targets map[string][]Target `json:"targets,omitempty"`
	// Events lists every injection and revert as it happened, in time order.
	Events []Event `json:"events,omitempty"`
	// LostFaults lists every fault that stopped reading back from the system during
	// its hold (unpaused by someone, its qdisc or route deleted, the container
	// restarted into a new network namespace), in the order they were found. Absent
	// when none was, and in results of earlier versions.
	LostFaults []LostFault `json:"lost_faults,omitempty"`
	// Metrics holds, per metric block, its series, statistics and impact.
	Metrics []Metric `json:"metrics,omitempty"`
	// Checks holds one verdict per check block, in file order.
	Checks []CheckResult `json:"checks,omitempty"`
	// Score is the resilience score computed from the checks.
	Score Score `json:"score"`
	// Warnings are things a reader should know that did not fail the run (a target that
	// disappeared mid-fault, TLS verification disabled, gaps in observation).
	Warnings []string `json:"warnings,omitempty"`
	// ExitCode is the exit code of `faultline run` for this result.
	ExitCode int `json:"exit_code"`
}

// Experiment describes the experiment that was run.
type Experiment struct {
	// Name is the experiment block's label.
	Name string `json:"name"`
	// Description is the experiment's description attribute.
	Description string `json:"description,omitempty"`
	// File is the path the experiment was loaded from.
	File string `json:"file,omitempty"`
	// Labels are the experiment's labels attribute.
	Labels map[string]string `json:"labels,omitempty"`
	// Variables holds the final value of every variable, as text.
	Variables map[string]string `json:"variables,omitempty"`
	// BaselineSeconds, RecoverySeconds and StepSeconds are the experiment's durations.
	BaselineSeconds float64 `json:"baseline_seconds"`
	RecoverySeconds float64 `json:"recovery_seconds"`
	StepSeconds     float64 `json:"step_seconds"`
}

// Timeline is the run's planned timeline as absolute times. Phases are
// [BaselineStart, FaultStart) baseline, [FaultStart, FaultEnd) fault and
// [FaultEnd, RecoveryEnd] recovery.
type Timeline struct {
	// BaselineStart is the start of the run and of the baseline phase.
	BaselineStart time.Time `json:"baseline_start"`
	// FaultStart is the planned start of the first injection.
	FaultStart time.Time `json:"fault_start"`
	// FaultEnd is the planned end of the last injection.
	FaultEnd time.Time `json:"fault_end"`
	// RecoveryEnd is the planned end of the run.
	RecoveryEnd time.Time `json:"recovery_end"`
	// Injections lists every planned injection (repeats included) in start order.
	Injections []PlannedInjection `json:"injections,omitempty"`
}

// PlannedInjection is one planned occurrence of a fault.
type PlannedInjection struct {
	// Fault is the fault block's name; Kind its kind.
	Fault string `json:"fault"`
	Kind  string `json:"kind"`
	// Target is the name of the target block the fault hits.
	Target string `json:"target"`
	// Repeat is 0 for the first occurrence of a repeated fault, 1 for the second, ...
	Repeat int `json:"repeat"`
	// Start and End are the planned times; End equals Start for instant kinds.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Event is one injection or revert of one fault on one container, as it happened.
type Event struct {
	// Type is EventInject or EventRevert.
	Type string `json:"type"`
	// Fault is the fault block's name; Kind its kind; Repeat as in PlannedInjection.
	Fault  string `json:"fault"`
	Kind   string `json:"kind"`
	Repeat int    `json:"repeat"`
	// Target is the container acted on.
	Target EventTarget `json:"target"`
	// Planned is when the action was due; Actual when it was acknowledged.
	Planned time.Time `json:"planned"`
	Actual  time.Time `json:"actual"`
	// Started is when the action was sent (after its preparation and journal entry):
	// Started - Planned is the scheduling delay, Actual - Started the action's own time.
	Started *time.Time `json:"started,omitempty"`
	// Via is how an injection reached its target, for faults that can take more than
	// one way: "pidfd" (a kill's signal sent straight to the process) or "engine" (the
	// Docker Engine's call). Empty for the others.
	Via string `json:"via,omitempty"`
	// Error is the error of the action, empty on success.
	Error string `json:"error,omitempty"`
	// TargetGone is set when the container disappeared or was recreated, so that the
	// action was not needed: a warning, not a failure.
	TargetGone bool `json:"target_gone,omitempty"`
	// Verification is the read-back from the system after the action: for an
	// injection what the engine or the kernel reported of the fault, for a revert that
	// nothing of it was left. Absent in dry runs, when the action failed before it,
	// and in results of earlier versions.
	Verification *Verification `json:"verification,omitempty"`
	// Reapply is set on the injection that applies a lost fault again during its hold
	// (see LostFault); the revert of what was left of the lost fault comes just before
	// it, planned at that moment.
	Reapply bool `json:"reapply,omitempty"`
}

// LostFault is one fault on one container that read back as injected after its Apply
// and stopped doing so during its hold.
type LostFault struct {
	// Fault is the fault block's name; Kind its kind; Repeat as in PlannedInjection.
	Fault  string `json:"fault"`
	Kind   string `json:"kind"`
	Repeat int    `json:"repeat"`
	// Target is the container the fault was lost on.
	Target EventTarget `json:"target"`
	// LastSeenAt is the last read-back that found the fault in place; DetectedAt the
	// first one that did not. The fault was lost between the two (at most one step).
	LastSeenAt time.Time `json:"last_seen_at"`
	DetectedAt time.Time `json:"detected_at"`
	// Found says what that read-back found instead of the fault.
	Found string `json:"found"`
	// Verification is that read-back, check by check (absent when the target could not
	// be read at all, as when its network namespace is gone).
	Verification *Verification `json:"verification,omitempty"`
	// Reapply is the fault block's reapply attribute. ReappliedAt is when the fault,
	// prepared and applied again, read back as injected; ReapplyError says why it did
	// not (the last attempt's error) when it never did.
	Reapply      bool       `json:"reapply,omitempty"`
	ReappliedAt  *time.Time `json:"reapplied_at,omitempty"`
	ReapplyError string     `json:"reapply_error,omitempty"`
	// Until is the end of the time without the fault: ReappliedAt, or the end of the
	// hold when it was not applied again.
	Until time.Time `json:"until"`
}

// Reapplied reports whether the lost fault was applied again.
func (l LostFault) Reapplied() bool { return l.ReappliedAt != nil }

// NeverInjected is the injections that found their container gone (removed, or
// recreated under the same name) and so never took effect.
func (r *Result) NeverInjected() []Event {
	var out []Event
	for _, ev := range r.Events {
		if ev.Type == EventInject && ev.TargetGone && !ev.Reapply {
			out = append(out, ev)
		}
	}
	return out
}

// Verification is one read-back of a fault from the system.
type Verification struct {
	// At is when the system was read.
	At time.Time `json:"at"`
	// Checks holds one entry per object read back (a container's state, one qdisc, one
	// route).
	Checks []Check `json:"checks"`
}

// Check is one object read back: what was looked at, what was expected, what the
// engine or the kernel reported.
type Check struct {
	What  string `json:"what"`
	Want  string `json:"want"`
	Found string `json:"found"`
	OK    bool   `json:"ok"`
}

// OK reports whether every check found what it expected.
func (v Verification) OK() bool {
	for _, c := range v.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// EventTarget names the container of an event.
type EventTarget struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

// Metric is one metric block with what was observed and what the analysis found.
type Metric struct {
	// Name, Query, Unit and Description are the metric block's.
	Name        string `json:"name"`
	Query       string `json:"query"`
	Unit        string `json:"unit,omitempty"`
	Description string `json:"description,omitempty"`
	// Series holds one entry per label set the query returned.
	Series []Series `json:"series,omitempty"`
	// Gaps are times when the query returned nothing at all, timed out or failed.
	Gaps []Gap `json:"gaps,omitempty"`
	// DroppedSeries counts the series the query returned beyond the most a result
	// keeps (metrics.MaxSeries); they are not in Series. Absent when none were dropped.
	DroppedSeries int `json:"dropped_series,omitempty"`
	// PhaseQuery is the metric's phase_query as written ($__phase unexpanded), and
	// PhaseFigures what it gave at each phase's end: one entry per phase and series.
	// Both absent without a phase_query.
	PhaseQuery   string        `json:"phase_query,omitempty"`
	PhaseFigures []PhaseFigure `json:"phase_figures,omitempty"`
}

// PhaseFigure is a metric's phase_query evaluated once at the end of one phase, over
// the whole phase: a ratio of totals where the per-sample statistics are means of
// per-step values.
type PhaseFigure struct {
	Phase string `json:"phase"`
	// At is the phase's end; Query the expression evaluated there ($__phase replaced
	// by the phase's duration).
	At     time.Time         `json:"at"`
	Query  string            `json:"query"`
	Labels map[string]string `json:"labels,omitempty"`
	// Value is nil when the query gave no number; Gap says why.
	Value *float64 `json:"value,omitempty"`
	Gap   string   `json:"gap,omitempty"`
}

// Series is one labelled time series of a metric.
type Series struct {
	// Labels are the series' labels as Prometheus returned them.
	Labels map[string]string `json:"labels"`
	// Samples are the observed values in time order. Non-finite values (NaN, ±Inf) are
	// not samples: they are recorded as gaps.
	Samples []Sample `json:"samples"`
	// Gaps are times this series had no finite value.
	Gaps []Gap `json:"gaps,omitempty"`
	// Phases holds statistics per phase, in phase order; a phase with no sample is absent.
	Phases []PhaseStats `json:"phases,omitempty"`
	// Band is the baseline band used for time to impact and time to recover; nil without
	// baseline samples.
	Band *Band `json:"band,omitempty"`
	// Impact compares the fault phase with the baseline; nil when either has no sample.
	Impact *Impact `json:"impact,omitempty"`
	// ImpactAt is the first sample at or after the fault start outside the band;
	// TimeToImpactSeconds is its distance from the fault start. Both nil when the
	// series never left the band.
	ImpactAt            *time.Time `json:"impact_at,omitempty"`
	TimeToImpactSeconds *float64   `json:"time_to_impact_seconds,omitempty"`
	// Recovered says whether, after the fault end, the series came back into the band
	// and stayed there until the last sample. RecoveredAt is the first sample of that
	// final stretch; TimeToRecoverSeconds its distance from the fault end (0 when the
	// series was in the band from the fault end on). Both nil when it did not recover.
	Recovered            bool       `json:"recovered"`
	RecoveredAt          *time.Time `json:"recovered_at,omitempty"`
	TimeToRecoverSeconds *float64   `json:"time_to_recover_seconds,omitempty"`
	// TimesFrom is "scrape times" when ImpactAt and RecoveredAt were refined to the
	// raw samples' times (docs/scoring.md); absent: they are on the step grid.
	TimesFrom string `json:"times_from,omitempty"`
}

// Sample is one observed value.
type Sample struct {
	Time  time.Time `json:"t"`
	Value float64   `json:"v"`
}

// Gap is a stretch of time without a value.
type Gap struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Reason is "empty result", "timeout", "error: ...", "not a number" or the like.
	Reason string `json:"reason"`
}

// PhaseStats is the summary of one series in one phase.
type PhaseStats struct {
	// Phase is "baseline", "fault" or "recovery".
	Phase string `json:"phase"`
	Stats
}

// Stats summarises a set of samples. Percentiles interpolate linearly between the
// closest ranks (the same method as numpy's default); Stddev is the sample standard
// deviation (n-1), 0 for a single sample.
type Stats struct {
	Count  int     `json:"count"`
	Mean   float64 `json:"mean"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	P50    float64 `json:"p50"`
	P95    float64 `json:"p95"`
	P99    float64 `json:"p99"`
	Stddev float64 `json:"stddev"`
}

// Band is the steady-state band of a series: Mean ± max(3·Stddev, Tolerance) of the baseline.
type Band struct {
	Low       float64 `json:"low"`
	High      float64 `json:"high"`
	Mean      float64 `json:"mean"`
	Stddev    float64 `json:"stddev"`
	Tolerance float64 `json:"tolerance"`
}

// Impact is the change of the fault phase against the baseline.
type Impact struct {
	// BaselineMean and FaultMean are the phases' means.
	BaselineMean float64 `json:"baseline_mean"`
	FaultMean    float64 `json:"fault_mean"`
	// Absolute is FaultMean - BaselineMean.
	Absolute float64 `json:"absolute"`
	// Relative is Absolute / |BaselineMean|; nil when the baseline mean is 0.
	Relative *float64 `json:"relative,omitempty"`
	// U is the Mann-Whitney U statistic of the fault samples against the baseline
	// samples; PValue its two-sided p-value; Method "exact" or "normal" (normal
	// approximation with tie and continuity correction).
	U      float64 `json:"u"`
	PValue float64 `json:"p_value"`
	Method string  `json:"method"`
	// Significant is PValue < Alpha.
	Significant bool    `json:"significant"`
	Alpha       float64 `json:"alpha"`
}

// CheckResult is the verdict of one check block.
type CheckResult struct {
	// Name is the check block's name; Metric the metric it reads.
	Name   string `json:"name"`
	Metric string `json:"metric"`
	// Condition restates the check in words, e.g. "p99 below 0.5 during fault, recovery".
	Condition string `json:"condition"`
	// Aggregate is what of each phase's samples was compared: "all", "mean", "min",
	// "max", "p50", "p95" or "p99".
	Aggregate string `json:"aggregate"`
	// During lists the phases the check applies to.
	During []string `json:"during"`
	// Low and High are the bounds the values were held to (nil: unbounded on that side).
	// For max_change they are the baseline mean ± the allowed change.
	Low  *float64 `json:"low,omitempty"`
	High *float64 `json:"high,omitempty"`
	// RecoverWithinSeconds is the check's recover_within (0: not checked).
	RecoverWithinSeconds float64 `json:"recover_within_seconds,omitempty"`
	// Verdict is "pass", "fail" or "no_data"; Passed is Verdict == "pass".
	Verdict string `json:"verdict"`
	Passed  bool   `json:"passed"`
	// Reason explains the verdict in one sentence.
	Reason string `json:"reason"`
	// Evaluated is the number of values compared (samples for "all", one aggregate per
	// series and phase otherwise); Violations how many of them were out of bounds.
	Evaluated  int `json:"evaluated"`
	Violations int `json:"violations"`
	// Evidence lists the values that decided the verdict: the violating samples (at most
	// the first 20; Violations has the total) or, on a pass, the worst value seen.
	Evidence []Evidence `json:"evidence,omitempty"`
	// RecoveredAfterSeconds is, for recover_within, how long after the fault end every
	// series was back in bounds for good; nil when it never was.
	RecoveredAfterSeconds *float64 `json:"recovered_after_seconds,omitempty"`
	// Credit is this check's share of the score, in [0,1] (see docs/scoring.md).
	Credit float64 `json:"credit"`
	// FaultLost is set when a fault was lost (see LostFault) during one of the check's
	// phases: the verdict was reached on less than the planned fault, and Reason says so.
	FaultLost bool `json:"fault_lost,omitempty"`
}

// Evidence is one value a check looked at.
type Evidence struct {
	// Time of the sample; for an aggregate, the end of the phase.
	Time time.Time `json:"time"`
	// Value is the sample or aggregate value.
	Value float64 `json:"value"`
	// Phase the value belongs to.
	Phase string `json:"phase"`
	// Series identifies the series by its labels, as {a="b",c="d"}.
	Series string `json:"series,omitempty"`
	// Note says what was wrong ("above 0.5", "not recovered 30s after the fault end").
	Note string `json:"note,omitempty"`
}

// Score is the resilience score, 0 to 100.
type Score struct {
	// Value is the score, rounded to one decimal; nil (JSON null) when the run has no
	// score: it was aborted, interrupted or failed, or it has no checks. Reason says why.
	Value *float64 `json:"value"`
	// Reason says why there is no score; absent when there is one.
	Reason string `json:"reason,omitempty"`
	// Formula is the formula in words, printed in every report.
	Formula string `json:"formula"`
	// Passed and Total count the checks.
	Passed int `json:"passed"`
	Total  int `json:"total"`
}

// Known returns the score's value and whether there is one.
func (s Score) Known() (float64, bool) {
	if s.Value == nil {
		return 0, false
	}
	return *s.Value, true
}

// Withhold takes the value away, saying why: a run that did not complete its plan has
// no score, whatever its checks say.
func (s *Score) Withhold(reason string) {
	s.Value, s.Reason = nil, reason
}

// Text is the score as "75/100", or "none (REASON)".
func (s Score) Text(num func(float64) string) string {
	if v, ok := s.Known(); ok {
		return num(v) + "/100"
	}
	if s.Reason == "" {
		return "none"
	}
	return "none (" + s.Reason + ")"
}
