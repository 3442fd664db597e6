package experiments

import (
	"fmt"
	"math"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var metricSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "query", Required: true}, {Name: "unit"}, {Name: "description"}, {Name: "tolerance"},
		{Name: "source"}, {Name: "phase_query"},
	},
}

// MetricSources are the values of a metric's source.
var MetricSources = []string{SourceLocal, SourcePrometheus}

func (l *loader) decodeMetricBlock(b *hcl.Block, exp *Experiment) (*Metric, hcl.Diagnostics) {
	content, diags := b.Body.Content(metricSchema)
	m := &Metric{Name: b.Labels[0], DeclRange: b.DefRange, Source: SourceLocal}
	if exp.Prometheus != nil {
		m.Source = SourcePrometheus
	}
	if attr, ok := content.Attributes["query"]; ok {
		m.QueryRange = attr.Expr.Range()
		if s, ok, d := l.str(attr); ok {
			if strings.TrimSpace(s) == "" {
				diags = append(diags, attrError(attr, "Empty query", "query is a PromQL expression, such as \"sum(rate(http_requests_total[1m]))\"."))
			} else if d := checkPromQL(attr, s); d != nil {
				diags = append(diags, d)
			}
			m.Query = s
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := content.Attributes["unit"]; ok {
		m.Unit = l.strInto(&diags, attr)
	}
	if attr, ok := content.Attributes["description"]; ok {
		m.Description = l.strInto(&diags, attr)
	}
	if attr, ok := content.Attributes["tolerance"]; ok {
		l.decodeTolerance(&diags, attr, m)
	}
	if attr, ok := content.Attributes["source"]; ok {
		if s, ok, d := l.str(attr); ok {
			switch {
			case !contains(MetricSources, s):
				diags = append(diags, attrError(attr, "Invalid source",
					fmt.Sprintf("source %q is neither \"local\" (the embedded store: scrape blocks and probes) nor \"prometheus\" (the prometheus block's server)%s.", s, suggestion(s, MetricSources))))
			case s == SourcePrometheus && exp.Prometheus == nil:
				diags = append(diags, attrError(attr, "No Prometheus server",
					"source = \"prometheus\" needs a prometheus { url = \"...\" } block; without one, metrics are evaluated on the embedded store (source = \"local\")."))
			default:
				m.Source = s
			}
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := content.Attributes["phase_query"]; ok {
		m.PhaseQueryRange = attr.Expr.Range()
		if s, ok, d := l.str(attr); ok {
			switch {
			case !strings.Contains(s, PhaseVar):
				diags = append(diags, attrError(attr, "phase_query without "+PhaseVar,
					fmt.Sprintf("phase_query is evaluated once at each phase's end with %s standing for the phase's duration, such as \"sum(increase(errors_total[%s])) / sum(increase(requests_total[%s]))\"; without it every phase would give the same window.", PhaseVar, PhaseVar, PhaseVar)))
			default:
				// Parsed as it will be evaluated, with a duration in place of PhaseVar.
				if d := checkPromQL(attr, strings.ReplaceAll(s, PhaseVar, "1m")); d != nil {
					diags = append(diags, d)
				}
			}
			m.PhaseQuery = s
		} else {
			diags = append(diags, d...)
		}
	}
	return m, diags
}

// decodeTolerance reads a metric's tolerance: a number in the metric's unit, or a
// percentage of the baseline mean such as "20%".
func (l *loader) decodeTolerance(diags *hcl.Diagnostics, attr *hcl.Attribute, m *Metric) {
	val, ok, d := l.value(attr)
	*diags = append(*diags, d...)
	if !ok {
		return
	}
	const how = `tolerance is how far from the baseline mean a value may stray before it counts as a change: a number in the metric's unit (0.05) or a share of the baseline mean ("20%").`
	switch val.Type() {
	case cty.Number:
		v, _ := val.AsBigFloat().Float64()
		if v <= 0 || math.IsInf(v, 0) {
			*diags = append(*diags, attrError(attr, "Invalid value for tolerance", fmt.Sprintf("%g is not more than 0; %s", v, how)))
			return
		}
		m.ToleranceAbs = v
	case cty.String:
		s := val.AsString()
		pct, err := parsePercent(s)
		if err != nil || !strings.HasSuffix(strings.TrimSpace(s), "%") || pct <= 0 || math.IsInf(pct, 0) || math.IsNaN(pct) {
			*diags = append(*diags, attrError(attr, "Invalid value for tolerance", fmt.Sprintf("%q is not a percentage more than 0%%; %s", s, how)))
			return
		}
		m.ToleranceRel = pct / 100
	default:
		*diags = append(*diags, attrError(attr, "Invalid value for tolerance", how))
	}
}
