// Package experiments holds the experiment language and its model: loading HCL into an
// Experiment (all mistakes at once, as hcl.Diagnostics) and planning its timeline.
//
// The model is plain data. Ranges are kept so that a mistake found later (a target
// that resolves to nothing, a query Prometheus rejects) can still point at its line.
package experiments

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/result"
	"github.com/hashicorp/hcl/v2"
)

// Phase names, as used by checks' `during`: the result's own (package result).
const (
	PhaseBaseline = result.PhaseBaseline
	PhaseFault    = result.PhaseFault
	PhaseRecovery = result.PhaseRecovery
)

// Phases lists the phases in the order they happen.
var Phases = result.Phases

// Experiment is one loaded, validated experiment file.
type Experiment struct {
	Name        string
	Description string
	Labels      map[string]string
	Baseline    time.Duration // steady state observed before the first fault
	Recovery    time.Duration // observation after the last fault ends
	Step        time.Duration // sampling interval
	// MaxTargets caps the number of containers the whole experiment may touch (0: no cap).
	MaxTargets int

	Prometheus *Prometheus // nil when the experiment watches no metric
	Targets    []*Target
	Faults     []*FaultSpec
	Metrics    []*Metric
	Checks     []*Check
	Aborts     []*Abort

	// Variables holds the final value of every variable, for the report.
	Variables map[string]string
	// SensitiveValues are the values of the variables marked sensitive, as text: they
	// are redacted from everything faultline writes (the result, logs, errors).
	SensitiveValues []string
	// Filename is the path the experiment was loaded from.
	Filename  string
	DeclRange hcl.Range
}

// Prometheus says how to reach the Prometheus server that watches the experiment.
// Secrets are never held here: only where to read them from.
type Prometheus struct {
	URL             string
	BearerTokenFile string
	BearerTokenEnv  string // name of an environment variable holding the token
	BasicAuth       *BasicAuth
	TLS             *TLS
	Headers         map[string]string
	Timeout         time.Duration // per query
	// LossGrace is how long observation may fail before the run stops harming and aborts.
	LossGrace time.Duration
	DeclRange hcl.Range
}

type BasicAuth struct {
	Username     string
	PasswordFile string
}

type TLS struct {
	CAFile             string
	CertFile           string
	KeyFile            string
	ServerName         string
	InsecureSkipVerify bool
}

// Pick modes of a target.
const (
	PickAll     = "all"
	PickOne     = "one"
	PickCount   = "count"
	PickPercent = "percent"
)

// Target selects containers. All given selectors must match.
type Target struct {
	Name           string
	NameRegex      string            // regular expression on the container name (without the leading /)
	Labels         map[string]string // all must match
	Image          string            // image reference as shown by docker ps, e.g. "shop:dev"
	ComposeProject string            // com.docker.compose.project label
	ComposeService string            // com.docker.compose.service label
	State          string            // container state to select; default "running"
	Pick           string            // PickAll, PickOne, PickCount or PickPercent
	Count          int               // with PickCount
	Percent        float64           // with PickPercent: (0,100], rounded up, at least one
	AllowEmpty     bool              // an empty selection is not an error
	DeclRange      hcl.Range
}

// Selectors describes the target's selectors in one line, labels in name order:
// name =~ "re", label k=v, image i, compose project p, compose service s.
func (t *Target) Selectors() string {
	var parts []string
	if t.NameRegex != "" {
		parts = append(parts, fmt.Sprintf("name =~ %q", t.NameRegex))
	}
	keys := make([]string, 0, len(t.Labels))
	for k := range t.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("label %s=%s", k, t.Labels[k]))
	}
	if t.Image != "" {
		parts = append(parts, "image "+t.Image)
	}
	if t.ComposeProject != "" {
		parts = append(parts, "compose project "+t.ComposeProject)
	}
	if t.ComposeService != "" {
		parts = append(parts, "compose service "+t.ComposeService)
	}
	return strings.Join(parts, ", ")
}

// FaultSpec is one `fault "KIND" "NAME"` block.
type FaultSpec struct {
	Kind   string
	Name   string
	Target string // name of the target block
	// Start is the offset from the end of the baseline.
	Start time.Duration
	// Duration is how long the fault holds (0 for instant kinds).
	Duration time.Duration
	// Every and Times repeat the fault: Times injections, one every Every, each holding
	// for Duration. Times 0 means once (no repeat).
	Every time.Duration
	Times int
	// Reapply makes the runner prepare and apply the fault again when it is lost
	// during its hold (its read-back no longer finds it); false only reports the loss.
	Reapply bool
	Params  faults.Params
	// ParamRanges points at each parameter's attribute, for errors found later.
	ParamRanges map[string]hcl.Range
	DeclRange   hcl.Range
}

// Metric is one watched PromQL query.
type Metric struct {
	Name        string
	Query       string
	Unit        string
	Description string
	// ToleranceAbs (in the metric's unit) or ToleranceRel (a share of the baseline
	// mean) is how far from the baseline mean a value may stray before it counts as a
	// change, when the baseline's own noise is smaller; both 0: the analysis default.
	ToleranceAbs float64
	ToleranceRel float64
	QueryRange   hcl.Range
	DeclRange    hcl.Range
}

// Check is a pass/fail verdict on a metric.
type Check struct {
	Name   string
	Metric string
	// Exactly the operators that were set are non-nil.
	Below  *float64
	Above  *float64
	Within *[2]float64 // inclusive band [low, high]
	// MaxChange is the largest allowed change relative to the baseline mean, as a
	// fraction (0.5 for "50%"); nil when not set.
	MaxChange *float64
	// Aggregate says what of the phase's samples is compared: "all" (every sample must
	// hold, the default), "mean", "min", "max", "p50", "p95" or "p99".
	Aggregate string
	During    []string // phases; default fault and recovery
	// RecoverWithin: after the last fault ends, the metric must be back in bounds within
	// this time and stay there (0: not checked).
	RecoverWithin time.Duration
	DeclRange     hcl.Range
}

// Abort stops harming when a metric goes too far: every fault is reverted at once.
type Abort struct {
	Name   string
	Metric string
	Above  *float64
	Below  *float64
	// For is how long the metric must stay beyond the bound before the run aborts.
	For       time.Duration
	DeclRange hcl.Range
}

// TargetByName returns the target block with the given name.
func (e *Experiment) TargetByName(name string) *Target {
	for _, t := range e.Targets {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// MetricByName returns the metric block with the given name.
func (e *Experiment) MetricByName(name string) *Metric {
	for _, m := range e.Metrics {
		if m.Name == name {
			return m
		}
	}
	return nil
}
