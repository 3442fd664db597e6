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
	"github.com/faultline/faultline/metrics/probe"
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

	// ScrapeLabelled adds the resolved target containers labelled
	// prometheus.io/scrape=true to the embedded store's scrapes.
	ScrapeLabelled bool

	// Prometheus is the external server; nil when the metrics come from the embedded
	// store (scrape blocks, probes, labelled containers).
	Prometheus *Prometheus
	Scrapes    []*Scrape
	Probes     []*Probe
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

// Sources of a metric: where its queries are evaluated.
const (
	// SourceLocal is the embedded store: scrape blocks, probes, labelled containers.
	SourceLocal = "local"
	// SourcePrometheus is the server of the prometheus block.
	SourcePrometheus = "prometheus"
)

// PhaseVar stands for a phase's duration in a metric's phase_query.
const PhaseVar = "$__phase"

// Scrape is one `scrape "JOB"` block of the embedded store: static addresses, or the
// containers of a target block at a port.
type Scrape struct {
	Job string
	// Addresses are host:port; set when the block lists targets.
	Addresses []string
	// Target names a target block whose containers are scraped at Port, at their
	// address on Network (their first network with an address when empty).
	Target   string
	Port     int
	Network  string
	Path     string
	Interval time.Duration
	// Timeout bounds one scrape; 0: the interval, at most 10s.
	Timeout   time.Duration
	DeclRange hcl.Range
}

// Probe kinds.
const (
	ProbeHTTP = "http"
	ProbeTCP  = "tcp"
)

// Probe is one `probe "KIND" "NAME"` block, validated at load by building it.
type Probe struct {
	Kind string
	Name string
	// HTTP or TCP is set, by Kind.
	HTTP      *probe.HTTPSpec
	TCP       *probe.TCPSpec
	DeclRange hcl.Range
}

// Build makes the runnable probe; it was built once at load, so an error now means a
// file it reads (tls.ca_file) changed since.
func (p *Probe) Build() (*probe.Probe, error) {
	if p.HTTP != nil {
		return probe.NewHTTP(*p.HTTP)
	}
	return probe.NewTCP(*p.TCP)
}

// Metric is one watched PromQL query.
type Metric struct {
	Name        string
	Query       string
	Unit        string
	Description string
	// Source is SourceLocal or SourcePrometheus.
	Source string
	// PhaseQuery, when set, is evaluated once at the end of each phase with PhaseVar
	// replaced by the phase's duration: one figure per phase (a ratio of totals).
	PhaseQuery      string
	PhaseQueryRange hcl.Range
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
	// hold, the default), "mean", "min", "max", "p50", "p95" or "p99"; or "phase", the
	// metric's phase_query at the phase's end.
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

// UsesLocal says whether the run needs the embedded store: a metric evaluated there,
// or a probe (probes always write to it).
func (e *Experiment) UsesLocal() bool {
	if len(e.Probes) > 0 {
		return true
	}
	for _, m := range e.Metrics {
		if m.Source == SourceLocal {
			return true
		}
	}
	return false
}

// Touched names the target blocks whose containers faults act on (or route to): the
// containers the run claims and max_targets counts. A target only scraped is not.
func (e *Experiment) Touched() map[string]bool {
	used := map[string]bool{}
	for _, f := range e.Faults {
		used[f.Target] = true
		for _, d := range f.Params.Destinations("to") {
			used[d.Target] = true
		}
	}
	return used
}

// ObservedOnly names the target blocks that only scrape blocks use: their containers
// are observed, never touched, so the run does not claim them and max_targets does
// not count them.
func (e *Experiment) ObservedOnly() map[string]bool {
	touched := e.Touched()
	out := map[string]bool{}
	for _, s := range e.Scrapes {
		if s.Target != "" && !touched[s.Target] {
			out[s.Target] = true
		}
	}
	return out
}
