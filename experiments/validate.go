package experiments

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/metrics/probe"
	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// validateExperiment checks what no single block can: how blocks fit together and
// into the timeline. It runs on whatever decoded, so it never assumes a block is whole.
func validateExperiment(exp *Experiment, byType map[string][]*hcl.Block, file *hcl.File) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if len(byType["fault"]) == 0 {
		diags = append(diags, rangeError(exp.declOr(file), "No fault",
			"An experiment needs at least one fault \"KIND\" \"NAME\" { ... } block; run 'faultline faults' to see the kinds."))
	}
	localFed := len(byType["scrape"]) > 0 || len(byType["probe"]) > 0 || exp.ScrapeLabelled
	if len(byType["metric"]) > 0 && len(byType["prometheus"]) == 0 && !localFed {
		diags = append(diags, rangeError(byType["metric"][0].DefRange, "Nothing to observe",
			"Metrics are evaluated on the embedded store, which scrapes nothing yet: add a scrape \"JOB\" { targets = [\"127.0.0.1:9100\"] } block (or a probe), or a prometheus { url = \"http://127.0.0.1:9090\" } block to query your own server."))
	}
	if !localFed {
		for _, m := range exp.Metrics {
			if m.Source == SourceLocal && exp.Prometheus != nil {
				diags = append(diags, rangeError(m.DeclRange, "Nothing scraped locally",
					fmt.Sprintf("metric.%s has source = \"local\", but the embedded store scrapes nothing: add a scrape or probe block, or evaluate it on the prometheus block's server.", m.Name)))
			}
		}
	}
	if exp.Prometheus != nil {
		for _, m := range exp.Metrics {
			diags = append(diags, probeSeriesOnServer(m)...)
		}
	}
	for _, c := range exp.Checks {
		if c.Aggregate != AggregatePhase {
			continue
		}
		if m := exp.MetricByName(c.Metric); m != nil && m.PhaseQuery == "" {
			diags = append(diags, rangeError(c.DeclRange, "aggregate = \"phase\" without a phase_query",
				fmt.Sprintf("The check compares metric.%s's phase_query at each phase's end, but the metric has none: add phase_query to it, or pick another aggregate.", c.Metric)))
		}
		if c.RecoverWithin > 0 {
			diags = append(diags, rangeError(c.DeclRange, "recover_within with aggregate = \"phase\"",
				"A phase figure is one value per phase and has no time to recover: check recover_within in its own check over the samples."))
		}
	}
	if exp.Baseline > 0 && exp.Step > exp.Baseline {
		diags = append(diags, rangeError(exp.declOr(file), "Step longer than the baseline",
			fmt.Sprintf("step is %s but the baseline lasts %s, so the baseline would hold no sample; shorten step or lengthen baseline.", exp.Step, exp.Baseline)))
	}
	if exp.Baseline == 0 {
		for _, c := range exp.Checks {
			if c.MaxChange != nil {
				diags = append(diags, rangeError(c.DeclRange, "max_change without a baseline",
					"max_change compares against the baseline mean, but the experiment's baseline is 0s; set baseline, such as \"60s\"."))
			}
			if contains(c.During, PhaseBaseline) {
				diags = append(diags, rangeError(c.DeclRange, "Check during an empty baseline",
					"The check looks at the baseline phase, but the experiment's baseline is 0s."))
			}
		}
	}

	used := exp.Touched()
	for _, sc := range exp.Scrapes {
		used[sc.Target] = true
	}
	for _, t := range exp.Targets {
		if !used[t.Name] {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Unused target",
				Detail:   fmt.Sprintf("No fault or scrape refers to target.%s; remove it or add a fault for it.", t.Name),
				Subject:  t.DeclRange.Ptr(),
			})
		}
		if exp.MaxTargets > 0 && t.Pick == PickCount && t.Count > exp.MaxTargets {
			diags = append(diags, rangeError(t.DeclRange, "Pick larger than max_targets",
				fmt.Sprintf("target.%s picks %d containers but the experiment's max_targets is %d; lower pick or raise max_targets.", t.Name, t.Count, exp.MaxTargets)))
		}
	}

	if diags.HasErrors() || len(exp.Faults) == 0 {
		return diags
	}
	if d := checkTimeline(exp, file); d != nil {
		return append(diags, d)
	}
	plan := NewPlan(exp)
	harm := plan.Total - plan.FaultStart
	for _, a := range exp.Aborts {
		if a.For > harm {
			diags = append(diags, rangeError(a.DeclRange, "Abort guard that cannot fire",
				fmt.Sprintf("for is %s, but the run lasts only %s from the first fault to its end, so this guard could never fire; shorten for.", a.For, harm)))
		}
	}
	return diags
}

// MaxInjections bounds the injections of a plan (each fault once per repeat): the
// plan lists each, and the journal records each.
const MaxInjections = 100_000

// checkTimeline bounds what NewPlan would lay out: the run's length (MaxRun) and its
// number of injections (MaxInjections). Each duration is already at most MaxDuration
// and times at most MaxRepeats, so these sums cannot overflow.
func checkTimeline(exp *Experiment, file *hcl.File) *hcl.Diagnostic {
	end, injections := exp.Baseline, 0
	var last *FaultSpec
	for _, f := range exp.Faults {
		times := max(f.Times, 1)
		injections += times
		if e := exp.Baseline + f.Start + time.Duration(times-1)*f.Every + f.Duration; e > end {
			end, last = e, f
		}
	}
	at := exp.declOr(file)
	if last != nil {
		at = last.DeclRange
	}
	if total := end + exp.Recovery; total > MaxRun {
		detail := fmt.Sprintf("The run would last %s: the baseline of %s, ", formatDuration(total), formatDuration(exp.Baseline))
		if last != nil {
			detail += fmt.Sprintf("faults until %s (the last is fault %q %q), ", formatDuration(end), last.Kind, last.Name)
		}
		detail += fmt.Sprintf("and the recovery of %s. An experiment runs at most %s (7 days); shorten it, or split it into several experiments.",
			formatDuration(exp.Recovery), formatDuration(MaxRun))
		return rangeError(at, "Experiment too long", detail)
	}
	if injections > MaxInjections {
		return rangeError(at, "Too many injections",
			fmt.Sprintf("The faults with their repeats (times) make %d injections; a plan holds at most %d. Repeat less often, or split the experiment.", injections, MaxInjections))
	}
	return nil
}

// holdWhat says what a Kind.Holds value means, for diagnostics.
var holdWhat = map[string]string{
	"state":  "change the container's state (running, paused, stopped)",
	"limits": "change the container's CPU and memory limits",
	"qdisc":  "replace the root qdisc of the container's interface",
}

// holdKey is one thing a fault takes over while it holds: Holds on a target block (or
// a container), and for a partition ("routes") the route to one destination there.
type holdKey struct {
	On    string // "target.db", or a container's name
	Holds string
	To    string // routes: "10.0.0.0/8", "target.api" or a container's name
}

// holdClash is two injections whose faults take over the same thing at the same time;
// an instant injection occupies its start.
type holdClash struct {
	A, B Injection
	Key  holdKey
}

// when says when the clash happens, as offsets into the run.
func (c holdClash) when() string {
	if c.A.End == c.A.Start || c.B.End == c.B.Start {
		return fmt.Sprintf("at %s", c.B.Start)
	}
	return fmt.Sprintf("from %s to %s", c.B.Start, min(c.A.End, c.B.End))
}

// what says what both faults do, for a target block or a container named on.
func (c holdClash) what(on string) string {
	if c.Key.Holds == faults.HoldsRoutes {
		return fmt.Sprintf("cut the route of %s to %s", on, c.Key.To)
	}
	return fmt.Sprintf("%s of %s", holdWhat[c.Key.Holds], on)
}

func (c holdClash) hint() string {
	switch c.Key.Holds {
	case "qdisc":
		return `start one after the other ends, or combine them in one "netem" fault (latency, loss, duplicate, corrupt, reorder and rate together)`
	case faults.HoldsRoutes:
		return fmt.Sprintf("start one after the other ends, or cut %s in only one of them (a two-way partition also cuts the route back)", c.Key.To)
	}
	return "start one after the other ends"
}

// holdsOf lists what one injection of f takes over, with on naming a target block
// (or a container) and dest the destinations of a `to` entry.
func holdsOf(f *FaultSpec, on []string, dest func(faults.Destination) []string) []holdKey {
	k, _ := faults.Lookup(f.Kind)
	if k.Holds == "" {
		return nil
	}
	var out []holdKey
	for _, o := range on {
		if k.Holds != faults.HoldsRoutes {
			out = append(out, holdKey{On: o, Holds: k.Holds})
			continue
		}
		for _, d := range f.Params.Destinations("to") {
			for _, to := range dest(d) {
				out = append(out, holdKey{On: o, Holds: k.Holds, To: to})
				// Both ways: a target destination also gets a route back to this one.
				if d.Target != "" && f.Params.String("direction") != "egress" {
					out = append(out, holdKey{On: to, Holds: k.Holds, To: o})
				}
			}
		}
	}
	return out
}

// holdClashes finds injections of two different faults that take over the same
// thing at the same time. It sorts nothing and compares no pair: per thing held, it
// sweeps the injections in order of start (the plan's order) and compares each with
// the one that holds the longest so far, so n injections cost about n steps. Each
// clashing injection is reported once per thing, and each pair of faults once.
func holdClashes(plan *Plan, holds func(*FaultSpec) []holdKey) []holdClash {
	byFault := map[*FaultSpec][]holdKey{}
	groups := map[holdKey][]int{}
	var order []holdKey
	for i, in := range plan.Injections {
		keys, ok := byFault[in.Fault]
		if !ok {
			keys = holds(in.Fault)
			byFault[in.Fault] = keys
		}
		for _, k := range keys {
			if _, seen := groups[k]; !seen {
				order = append(order, k)
			}
			groups[k] = append(groups[k], i)
		}
	}
	type pair [2]*FaultSpec
	reported := map[pair]bool{}
	var out []holdClash
	for _, key := range order {
		holder := -1 // the injection that holds the longest so far
		for _, i := range groups[key] {
			b := plan.Injections[i]
			if holder >= 0 {
				a := plan.Injections[holder]
				// Back to back is fine; an instant one at the other's start is not.
				clash := b.Start < a.End || (b.Start == a.End && a.Start == a.End)
				p := pair{a.Fault, b.Fault}
				if clash && a.Fault != b.Fault && !reported[p] && !reported[pair{b.Fault, a.Fault}] {
					reported[p] = true
					out = append(out, holdClash{A: a, B: b, Key: key})
				}
			}
			// On equal ends the instant one wins: only it can clash with what
			// starts at that very instant.
			if holder < 0 || b.End > plan.Injections[holder].End || (b.End == plan.Injections[holder].End && b.Start == b.End) {
				holder = i
			}
		}
	}
	return out
}

// overlappingHolds reports two faults on the same target block that take over the
// same thing at the same time: the second could not be applied (or its revert would
// undo the first), so the run would stop at it.
func overlappingHolds(plan *Plan) hcl.Diagnostics {
	var diags hcl.Diagnostics
	holds := func(f *FaultSpec) []holdKey {
		return holdsOf(f, []string{"target." + f.Target}, func(d faults.Destination) []string {
			if d.Target != "" {
				return []string{"target." + d.Target}
			}
			return []string{d.CIDR}
		})
	}
	for _, c := range holdClashes(plan, holds) {
		diags = append(diags, rangeError(c.B.Fault.DeclRange, "Overlapping faults on one target",
			fmt.Sprintf("fault %q %q and fault %q %q both %s, %s into the run; a target takes one such fault at a time: %s.",
				c.A.Fault.Kind, c.A.Fault.Name, c.B.Fault.Kind, c.B.Fault.Name, c.what(c.Key.On), c.when(), c.hint())))
	}
	return diags
}

// SharedTargetClashes is overlappingHolds for what only the resolved plan shows: two
// target blocks that picked the same container, hit by clashing faults. Call it once
// the targets are resolved, before anything is touched.
func (p *Plan) SharedTargetClashes() error {
	containers := func(target string) []string {
		var out []string
		for _, t := range p.Targets[target] {
			out = append(out, "container "+t.Name)
		}
		return out
	}
	holds := func(f *FaultSpec) []holdKey {
		return holdsOf(f, containers(f.Target), func(d faults.Destination) []string {
			if d.Target != "" {
				return containers(d.Target)
			}
			return []string{d.CIDR}
		})
	}
	var msgs []string
	for _, c := range holdClashes(p, holds) {
		msgs = append(msgs, fmt.Sprintf("fault %q %q (target.%s) and fault %q %q (target.%s) both %s, %s into the run",
			c.A.Fault.Kind, c.A.Fault.Name, c.A.Fault.Target, c.B.Fault.Kind, c.B.Fault.Name, c.B.Fault.Target, c.what(c.Key.On), c.when()))
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s; a container takes one such fault at a time: make the target blocks select different containers, or start one fault after the other ends",
		ErrTargetsClash, strings.Join(msgs, "; "))
}

// ErrTargetsClash marks a resolved plan in which one container would get two faults
// that cannot hold at once.
var ErrTargetsClash = errors.New("target blocks share a container")

func (e *Experiment) declOr(file *hcl.File) hcl.Range {
	if e.DeclRange.Filename != "" {
		return e.DeclRange
	}
	return file.Body.MissingItemRange()
}

// probeSeriesOnServer warns of a metric evaluated on the prometheus block's server
// whose query or phase_query selects probe series (faultline_probe_*): probes write
// their outcomes to the embedded store only, so the server has none and the metric
// would get no data, without an error.
func probeSeriesOnServer(m *Metric) hcl.Diagnostics {
	if m.Source == SourceLocal {
		return nil
	}
	var diags hcl.Diagnostics
	for _, q := range []struct {
		attr, query string
		rng         hcl.Range
	}{{"query", m.Query, m.QueryRange}, {"phase_query", strings.ReplaceAll(m.PhaseQuery, PhaseVar, "1m"), m.PhaseQueryRange}} {
		name := probeSeriesIn(q.query)
		if name == "" {
			continue
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Probe series on the Prometheus server",
			Detail: fmt.Sprintf("metric.%s's %s selects %s, but probe series live in the embedded store only, and the metric is evaluated on the prometheus block's server, which has none: it would get no data. Set source = \"local\" on the metric.",
				m.Name, q.attr, name),
			Subject: q.rng.Ptr(),
		})
	}
	return diags
}

// probeSeriesIn is the first probe series (probe.SuccessMetric, ...) a selector of
// the PromQL expression query selects by name, or "" when none does or the query
// does not parse (that is reported where it is decoded).
func probeSeriesIn(query string) string {
	if query == "" {
		return ""
	}
	expr, err := promql.ParseExpr(query)
	if err != nil {
		return ""
	}
	found := ""
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && found == "" {
			found = probeSeriesSelected(vs.LabelMatchers)
		}
		return nil
	})
	return found
}

// probeSeriesSelected is the first probe series whose name the matchers of one
// selector all accept; "" when none does, or when they say nothing of the name.
func probeSeriesSelected(matchers []*labels.Matcher) string {
	for _, series := range probe.SeriesNames {
		named, all := false, true
		for _, lm := range matchers {
			if lm.Name == labels.MetricName {
				named, all = true, all && lm.Matches(series)
			}
		}
		if named && all {
			return series
		}
	}
	return ""
}
