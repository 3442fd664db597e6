package experiments

import (
	"fmt"
	"math"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

var experimentSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "description"}, {Name: "labels"},
		{Name: "baseline"}, {Name: "recovery"}, {Name: "step"},
		{Name: "max_targets"}, {Name: "scrape_labelled"},
	},
}

func (l *loader) decodeExperimentBlock(exp *Experiment, b *hcl.Block) hcl.Diagnostics {
	content, diags := b.Body.Content(experimentSchema)
	exp.Name = b.Labels[0]
	exp.DeclRange = b.DefRange
	exp.Baseline, exp.Recovery, exp.Step = DefaultBaseline, DefaultRecovery, DefaultStep
	if strings.TrimSpace(exp.Name) == "" {
		diags = append(diags, rangeError(b.LabelRanges[0], "Empty experiment name",
			"The experiment's name labels its reports and history; give it one, such as \"checkout-survives-slow-db\"."))
	}
	a := content.Attributes
	if attr, ok := a["description"]; ok {
		exp.Description = l.strInto(&diags, attr)
	}
	if attr, ok := a["labels"]; ok {
		exp.Labels, _, diags = l.stringMapInto(diags, attr)
	}
	if attr, ok := a["baseline"]; ok {
		if d, ok, more := l.duration(attr); ok {
			exp.Baseline = d
		} else {
			diags = append(diags, more...)
		}
	}
	if attr, ok := a["recovery"]; ok {
		if d, ok, more := l.duration(attr); ok {
			exp.Recovery = d
		} else {
			diags = append(diags, more...)
		}
	}
	if attr, ok := a["step"]; ok {
		if d, ok, more := l.duration(attr); ok {
			exp.Step = d
			if d < MinStep {
				diags = append(diags, attrError(attr, "Step too small",
					fmt.Sprintf("step is the sampling interval and must be at least %s; Prometheus cannot answer finer than it scrapes.", MinStep)))
			}
		} else {
			diags = append(diags, more...)
		}
	}
	if attr, ok := a["max_targets"]; ok {
		if n, ok, more := l.integer(attr); ok {
			if n < 0 || n > math.MaxInt32 {
				diags = append(diags, attrError(attr, "Invalid value for max_targets",
					"max_targets caps how many containers the experiment may touch: 0 (no cap) or a positive number."))
			} else {
				exp.MaxTargets = int(n)
			}
		} else {
			diags = append(diags, more...)
		}
	}
	if attr, ok := a["scrape_labelled"]; ok {
		v, _, d := l.boolean(attr)
		exp.ScrapeLabelled, diags = v, append(diags, d...)
	}
	return diags
}
