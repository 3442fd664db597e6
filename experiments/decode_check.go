package experiments

import (
	"fmt"
	"math"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// AggregatePhase compares a metric's phase_query, one figure per phase.
const AggregatePhase = "phase"

var Aggregates = []string{"all", "mean", "min", "max", "p50", "p95", "p99", AggregatePhase}

var checkSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "metric", Required: true},
		{Name: "below"}, {Name: "above"}, {Name: "within"}, {Name: "max_change"},
		{Name: "aggregate"}, {Name: "during"}, {Name: "recover_within"},
		{Name: "for"},
	},
}

func (l *loader) decodeCheckBlock(b *hcl.Block, exp *Experiment) (*Check, hcl.Diagnostics) {
	content, diags := b.Body.Content(checkSchema)
	c := &Check{Name: b.Labels[0], Aggregate: "all", During: []string{PhaseFault, PhaseRecovery}, DeclRange: b.DefRange}
	a := content.Attributes
	if attr, ok := a["for"]; ok {
		diags = append(diags, rangeError(attr.NameRange, "Unsupported argument",
			"for belongs to abort blocks; a check looks at whole phases (during) and can require recovery in time (recover_within)."))
	}
	if attr, ok := a["metric"]; ok {
		c.Metric, _, diags = l.referenceInto(diags, attr, "metric", l.metricNames)
	}
	if attr, ok := a["below"]; ok {
		if v, ok, d := l.number(attr); ok {
			c.Below = &v
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["above"]; ok {
		if v, ok, d := l.number(attr); ok {
			c.Above = &v
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["within"]; ok {
		v, ok, d := l.typed(attr, cty.Tuple([]cty.Type{cty.Number, cty.Number}), "a band of two numbers, [low, high]")
		diags = append(diags, d...)
		if ok {
			lo, _ := v.Index(cty.NumberIntVal(0)).AsBigFloat().Float64()
			hi, _ := v.Index(cty.NumberIntVal(1)).AsBigFloat().Float64()
			switch {
			case math.IsInf(lo, 0) || math.IsInf(hi, 0):
				diags = append(diags, attrError(attr, "Invalid value for within", "within is a band of two finite numbers, [low, high]."))
			case lo > hi:
				diags = append(diags, attrError(attr, "Empty band",
					fmt.Sprintf("within = [%g, %g] has its low bound above its high bound; write [%g, %g].", lo, hi, hi, lo)))
			default:
				c.Within = &[2]float64{lo, hi}
			}
		}
	}
	if attr, ok := a["max_change"]; ok {
		val, ok, d := l.value(attr)
		diags = append(diags, d...)
		if ok {
			var pct float64
			var err error
			switch val.Type() {
			case cty.String:
				pct, err = parsePercent(val.AsString())
			case cty.Number:
				pct, _ = val.AsBigFloat().Float64()
			default:
				err = fmt.Errorf("not a percentage")
			}
			switch {
			case err != nil:
				diags = append(diags, attrError(attr, "Invalid value for max_change",
					"max_change is the largest change allowed against the baseline mean, as a percentage such as \"50%\"."))
			case pct <= 0 || math.IsInf(pct, 0) || math.IsNaN(pct):
				diags = append(diags, attrError(attr, "Invalid value for max_change",
					fmt.Sprintf("max_change must be more than 0%%, such as \"50%%\"; %g%% would fail on any noise.", pct)))
			default:
				frac := pct / 100
				c.MaxChange = &frac
			}
		}
	}
	if attr, ok := a["aggregate"]; ok {
		if s, ok, d := l.str(attr); ok {
			if !contains(Aggregates, s) {
				diags = append(diags, attrError(attr, "Invalid aggregate",
					fmt.Sprintf("aggregate %q is unknown%s; use one of %s.", s, suggestion(s, Aggregates), strings.Join(Aggregates, ", "))))
			} else {
				c.Aggregate = s
			}
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["during"]; ok {
		if phases, ok, d := l.stringList(attr); ok {
			c.During = nil
			seen := map[string]bool{}
			for _, ph := range phases {
				switch {
				case !contains(Phases, ph):
					diags = append(diags, attrError(attr, "Unknown phase",
						fmt.Sprintf("%q is not a phase%s; the phases are %s.", ph, suggestion(ph, Phases), strings.Join(Phases, ", "))))
				case seen[ph]:
					diags = append(diags, attrError(attr, "Duplicate phase", fmt.Sprintf("%q is listed twice in during.", ph)))
				default:
					seen[ph] = true
					c.During = append(c.During, ph)
				}
			}
			if len(phases) == 0 {
				diags = append(diags, attrError(attr, "No phase", "during lists the phases the check looks at, such as [\"fault\", \"recovery\"]; an empty list checks nothing."))
			}
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["recover_within"]; ok {
		if d, ok, more := l.duration(attr); ok {
			if d == 0 {
				diags = append(diags, attrError(attr, "Invalid recover_within", "recover_within must be greater than 0; leave it out to not check recovery time."))
			}
			c.RecoverWithin = d
		} else {
			diags = append(diags, more...)
		}
	}

	// Meaning: the operators must say something, and not contradict each other.
	if c.Below == nil && c.Above == nil && c.Within == nil && c.MaxChange == nil && !hasAny(a, "below", "above", "within", "max_change") {
		diags = append(diags, rangeError(b.DefRange, "Check without condition",
			"A check needs at least one of below, above, within or max_change to decide pass or fail."))
	}
	if c.Within != nil && (c.Below != nil || c.Above != nil) {
		diags = append(diags, rangeError(a["within"].NameRange, "Conflicting conditions",
			"within already sets both bounds; use either within or below/above."))
	}
	if c.Below != nil && c.Above != nil && *c.Below <= *c.Above {
		diags = append(diags, rangeError(a["below"].NameRange, "Contradicting conditions",
			fmt.Sprintf("No value is below %g and above %g at once, so the check could never pass. Did you mean within = [%g, %g]?", *c.Below, *c.Above, *c.Below, *c.Above)))
	}
	if c.MaxChange != nil && contains(c.During, PhaseBaseline) {
		diags = append(diags, rangeError(a["max_change"].NameRange, "max_change during the baseline",
			"max_change compares against the baseline mean, so it cannot also look at the baseline; remove \"baseline\" from during."))
	}
	if c.RecoverWithin > 0 && !contains(c.During, PhaseRecovery) {
		diags = append(diags, rangeError(a["recover_within"].NameRange, "recover_within without the recovery phase",
			"recover_within is judged in the recovery phase; add \"recovery\" to during."))
	}
	if c.RecoverWithin > 0 && exp.Recovery > 0 && c.RecoverWithin > exp.Recovery {
		diags = append(diags, rangeError(a["recover_within"].Expr.Range(), "recover_within longer than the recovery phase",
			fmt.Sprintf("recover_within is %s but the recovery phase lasts only %s, so recovery could never be seen; lengthen the experiment's recovery.", c.RecoverWithin, exp.Recovery)))
	}
	return c, diags
}
