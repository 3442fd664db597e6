package experiments

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

var abortSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "metric", Required: true}, {Name: "above"}, {Name: "below"}, {Name: "for"},
		{Name: "within"}, {Name: "max_change"},
	},
}

func (l *loader) decodeAbortBlock(b *hcl.Block) (*Abort, hcl.Diagnostics) {
	content, diags := b.Body.Content(abortSchema)
	ab := &Abort{Name: b.Labels[0], DeclRange: b.DefRange}
	a := content.Attributes
	for _, name := range []string{"within", "max_change"} {
		if attr, ok := a[name]; ok {
			diags = append(diags, rangeError(attr.NameRange, "Unsupported argument",
				fmt.Sprintf("An abort guard fires on a plain bound: use above or below; %s belongs to check blocks.", name)))
		}
	}
	if attr, ok := a["metric"]; ok {
		ab.Metric, _, diags = l.referenceInto(diags, attr, "metric", l.metricNames)
	}
	if attr, ok := a["above"]; ok {
		if v, ok, d := l.number(attr); ok {
			ab.Above = &v
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["below"]; ok {
		if v, ok, d := l.number(attr); ok {
			ab.Below = &v
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["for"]; ok {
		if d, ok, more := l.duration(attr); ok {
			ab.For = d
		} else {
			diags = append(diags, more...)
		}
	}
	if !hasAny(a, "above", "below") {
		diags = append(diags, rangeError(b.DefRange, "Abort without condition",
			"An abort guard needs above or below: the bound beyond which the run stops harming."))
	}
	if ab.Above != nil && ab.Below != nil && *ab.Below >= *ab.Above {
		diags = append(diags, rangeError(a["below"].NameRange, "Contradicting conditions",
			fmt.Sprintf("Every value is above %g or below %g, so this guard would abort every run at once.", *ab.Above, *ab.Below)))
	}
	return ab, diags
}
