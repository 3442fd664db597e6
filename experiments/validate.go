package experiments

import (
	"errors"
	"fmt"
	"strings"

	"github.com/faultline/faultline/faults"
	"github.com/hashicorp/hcl/v2"
)

// validateExperiment checks what no single block can: how blocks fit together and
// into the timeline. It runs on whatever decoded, so it never assumes a block is whole.
func validateExperiment(exp *Experiment, byType map[string][]*hcl.Block, file *hcl.File) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if len(byType["fault"]) == 0 {
		diags = append(diags, rangeError(exp.declOr(file), "No fault",
			"An experiment needs at least one fault \"KIND\" \"NAME\" { ... } block; run 'faultline faults' to see the kinds."))
	}
	if len(byType["metric"]) > 0 && len(byType["prometheus"]) == 0 {
		diags = append(diags, rangeError(byType["metric"][0].DefRange, "Missing prometheus block",
			"Metrics are queried from Prometheus: add a prometheus { url = \"http://127.0.0.1:9090\" } block."))
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

	used := map[string]bool{}
	for _, f := range exp.Faults {
		used[f.Target] = true
		for _, d := range f.Params.Destinations("to") {
			used[d.Target] = true
		}
	}
	for _, t := range exp.Targets {
		if !used[t.Name] {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Unused target",
				Detail:   fmt.Sprintf("No fault refers to target.%s; remove it or add a fault for it.", t.Name),
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

// holdWhat says what a Kind.Holds value means, for diagnostics.
var holdWhat = map[string]string{
	"state":  "change the container's state (running, paused, stopped)",
	"limits": "change the container's CPU and memory limits",
	"qdisc":  "replace the root qdisc of the container's interface",
}

// holdClash is two injections whose faults take over the same thing (Holds) at the
// same time; an instant injection occupies its start.
type holdClash struct {
	A, B  Injection
	Holds string
}

// when says when the clash happens, as offsets into the run.
func (c holdClash) when() string {
	if c.A.End == c.A.Start || c.B.End == c.B.Start {
		return fmt.Sprintf("at %s", c.B.Start)
	}
	return fmt.Sprintf("from %s to %s", c.B.Start, min(c.A.End, c.B.End))
}

func (c holdClash) hint() string {
	if c.Holds == "qdisc" {
		return `start one after the other ends, or combine them in one "netem" fault (latency, loss, duplicate, corrupt, reorder and rate together)`
	}
	return "start one after the other ends"
}

// holdClashes lists each pair of fault blocks whose injections clash, once, for which
// same(a, b) holds.
func holdClashes(plan *Plan, same func(a, b *FaultSpec) bool) []holdClash {
	var out []holdClash
	reported := map[[2]*FaultSpec]bool{}
	ins := plan.Injections // sorted by start
	for i, a := range ins {
		ka, _ := faults.Lookup(a.Fault.Kind)
		if ka.Holds == "" {
			continue
		}
		for _, b := range ins[i+1:] {
			if b.Start > a.End || (b.Start == a.End && a.End > a.Start) {
				break
			}
			kb, _ := faults.Lookup(b.Fault.Kind)
			pair := [2]*FaultSpec{a.Fault, b.Fault}
			if b.Fault == a.Fault || kb.Holds != ka.Holds || reported[pair] || !same(a.Fault, b.Fault) {
				continue
			}
			reported[pair] = true
			out = append(out, holdClash{A: a, B: b, Holds: ka.Holds})
		}
	}
	return out
}

// overlappingHolds reports two faults on the same target block that take over the
// same thing at the same time: the second could not be applied (or its revert would
// undo the first), so the run would stop at it.
func overlappingHolds(plan *Plan) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, c := range holdClashes(plan, func(a, b *FaultSpec) bool { return a.Target == b.Target }) {
		diags = append(diags, rangeError(c.B.Fault.DeclRange, "Overlapping faults on one target",
			fmt.Sprintf("fault %q %q and fault %q %q both %s of target.%s, %s into the run; a target takes one such fault at a time: %s.",
				c.A.Fault.Kind, c.A.Fault.Name, c.B.Fault.Kind, c.B.Fault.Name, holdWhat[c.Holds], c.A.Fault.Target, c.when(), c.hint())))
	}
	return diags
}

// SharedTargetClashes is overlappingHolds for what only the resolved plan shows: two
// target blocks that picked the same container, hit by clashing faults. Call it once
// the targets are resolved, before anything is touched.
func (p *Plan) SharedTargetClashes() error {
	var msgs []string
	for _, c := range holdClashes(p, func(a, b *FaultSpec) bool { return a.Target != b.Target }) {
		for _, x := range p.Targets[c.A.Fault.Target] {
			for _, y := range p.Targets[c.B.Fault.Target] {
				if x.ID != y.ID {
					continue
				}
				msgs = append(msgs, fmt.Sprintf("fault %q %q (target.%s) and fault %q %q (target.%s) both %s of container %s, %s into the run",
					c.A.Fault.Kind, c.A.Fault.Name, c.A.Fault.Target, c.B.Fault.Kind, c.B.Fault.Name, c.B.Fault.Target, holdWhat[c.Holds], x.Name, c.when()))
			}
		}
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
