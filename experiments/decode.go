package experiments

// Decoding follows Terraform's internal/configs: load.go parses and drives the order
// (variables, locals, then the rest), decode.go decodes the body, each block type has
// its own decode_BLOCK.go with its schema and decodeXBlock function, and eval.go holds
// the helpers they share to evaluate one attribute into a Go value.

import (
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Defaults of the experiment block.
const (
	DefaultBaseline  = 30 * time.Second
	DefaultRecovery  = 30 * time.Second
	DefaultStep      = 5 * time.Second
	DefaultTimeout   = 10 * time.Second
	DefaultLossGrace = 30 * time.Second
	// MinStep is the finest sampling interval: Prometheus itself rarely scrapes faster.
	MinStep = time.Second
)

// decodeBody decodes every block after variables and locals, then checks the
// experiment as a whole.
func (l *loader) decodeBody(exp *Experiment, byType map[string][]*hcl.Block, file *hcl.File) hcl.Diagnostics {
	var diags hcl.Diagnostics
	l.targetNames = l.declaredNames("target", byType["target"], &diags)
	l.metricNames = l.declaredNames("metric", byType["metric"], &diags)

	switch blocks := byType["experiment"]; len(blocks) {
	case 0:
		r := file.Body.MissingItemRange()
		diags = append(diags, rangeError(r, "Missing experiment block",
			"An experiment file needs one experiment \"NAME\" { ... } block with its baseline, recovery and step."))
		exp.Baseline, exp.Recovery, exp.Step = DefaultBaseline, DefaultRecovery, DefaultStep
	default:
		diags = append(diags, l.decodeExperimentBlock(exp, blocks[0])...)
		for _, b := range blocks[1:] {
			diags = append(diags, rangeError(b.DefRange, "Duplicate experiment block",
				fmt.Sprintf("A file holds exactly one experiment; the first is at %s. Put each experiment in its own file.", blocks[0].DefRange)))
		}
	}

	if blocks := byType["prometheus"]; len(blocks) > 0 {
		p, d := l.decodePrometheusBlock(blocks[0])
		exp.Prometheus, diags = p, append(diags, d...)
		for _, b := range blocks[1:] {
			diags = append(diags, rangeError(b.DefRange, "Duplicate prometheus block",
				fmt.Sprintf("An experiment watches one Prometheus server, declared at %s.", blocks[0].DefRange)))
		}
	}

	// Targets and metrics are referenced by name, so a name that is no identifier was
	// reported by declaredNames and its block is skipped here.
	exp.Targets = decodeUnique(&diags, byType["target"], "target", 0, true, l.decodeTargetBlock)
	exp.Faults = decodeUnique(&diags, byType["fault"], "fault", 1, false, func(b *hcl.Block) (*FaultSpec, hcl.Diagnostics) {
		return l.decodeFaultBlock(b, exp)
	})
	exp.Metrics = decodeUnique(&diags, byType["metric"], "metric", 0, true, func(b *hcl.Block) (*Metric, hcl.Diagnostics) {
		return l.decodeMetricBlock(b, exp)
	})
	exp.Scrapes = decodeUnique(&diags, byType["scrape"], "scrape", 0, false, func(b *hcl.Block) (*Scrape, hcl.Diagnostics) {
		return l.decodeScrapeBlock(b, exp)
	})
	exp.Probes = decodeUnique(&diags, byType["probe"], "probe", 1, false, func(b *hcl.Block) (*Probe, hcl.Diagnostics) {
		return l.decodeProbeBlock(b, exp)
	})
	exp.Checks = decodeUnique(&diags, byType["check"], "check", 0, false, func(b *hcl.Block) (*Check, hcl.Diagnostics) {
		return l.decodeCheckBlock(b, exp)
	})
	exp.Aborts = decodeUnique(&diags, byType["abort"], "abort", 0, false, l.decodeAbortBlock)

	diags = append(diags, validateExperiment(exp, byType, file)...)
	if !diags.HasErrors() && len(exp.Faults) > 0 {
		// Only a sound timeline can be checked for faults that collide on it.
		diags = append(diags, overlappingHolds(NewPlan(exp))...)
	}
	return diags
}

// decodeUnique decodes the blocks of one type in order, each named by its label at
// index label; a second block of a name is reported, not decoded.
func decodeUnique[T any](diags *hcl.Diagnostics, blocks []*hcl.Block, kind string, label int, identifier bool,
	decode func(*hcl.Block) (*T, hcl.Diagnostics)) []*T {
	var out []*T
	seen := map[string]hcl.Range{}
	for _, b := range blocks {
		name := b.Labels[label]
		if identifier && !hclsyntax.ValidIdentifier(name) {
			continue
		}
		if prev, dup := seen[name]; dup {
			*diags = append(*diags, duplicateBlock(kind, name, b.LabelRanges[label], prev))
			continue
		}
		seen[name] = b.DefRange
		v, d := decode(b)
		*diags = append(*diags, d...)
		if v != nil {
			out = append(out, v)
		}
	}
	return out
}

func (l *loader) declaredNames(kind string, blocks []*hcl.Block, diags *hcl.Diagnostics) map[string]hcl.Range {
	names := map[string]hcl.Range{}
	for _, b := range blocks {
		name := b.Labels[0]
		if !hclsyntax.ValidIdentifier(name) {
			*diags = append(*diags, invalidName(kind, name, b.LabelRanges[0]))
			continue
		}
		if _, dup := names[name]; !dup {
			names[name] = b.DefRange
		}
	}
	return names
}
