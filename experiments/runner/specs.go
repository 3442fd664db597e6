package runner

import (
	"fmt"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/metrics/analysis"
)

// The stages below the runner take their own small types; these translate the
// experiment's model into them, once.

// Queries are the experiment's metric blocks as metrics queries.
func Queries(e *experiments.Experiment) []metrics.Query {
	out := make([]metrics.Query, len(e.Metrics))
	for i, m := range e.Metrics {
		out[i] = metrics.Query{Name: m.Name, Expr: m.Query, Unit: m.Unit, Description: m.Description, Where: whereOf(m),
			Source: m.Source, PhaseExpr: m.PhaseQuery}
	}
	return out
}

// whereOf is where a metric's query was written, as file:line.
func whereOf(m *experiments.Metric) string {
	r := m.QueryRange
	if r.Filename == "" {
		r = m.DeclRange
	}
	if r.Filename == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line)
}

// ClientConfig is the experiment's prometheus block as a metrics client configuration;
// nil without one.
func ClientConfig(p *experiments.Prometheus) *metrics.ClientConfig {
	if p == nil {
		return nil
	}
	cfg := &metrics.ClientConfig{
		URL: p.URL, BearerTokenFile: p.BearerTokenFile, BearerTokenEnv: p.BearerTokenEnv,
		Headers: p.Headers, Timeout: p.Timeout,
	}
	if p.BasicAuth != nil {
		cfg.BasicAuth = &metrics.BasicAuth{Username: p.BasicAuth.Username, PasswordFile: p.BasicAuth.PasswordFile}
	}
	if t := p.TLS; t != nil {
		cfg.TLS = &metrics.TLSConfig{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
			ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	}
	return cfg
}

func metricSpecs(e *experiments.Experiment) []analysis.MetricSpec {
	out := make([]analysis.MetricSpec, len(e.Metrics))
	for i, m := range e.Metrics {
		out[i] = analysis.MetricSpec{Name: m.Name, ToleranceAbs: m.ToleranceAbs, ToleranceRel: m.ToleranceRel}
	}
	return out
}

func checkSpecs(e *experiments.Experiment) []analysis.CheckSpec {
	out := make([]analysis.CheckSpec, len(e.Checks))
	for i, c := range e.Checks {
		out[i] = analysis.CheckSpec{
			Name: c.Name, Metric: c.Metric, Below: c.Below, Above: c.Above, Within: c.Within,
			MaxChange: c.MaxChange, Aggregate: c.Aggregate, During: c.During, RecoverWithin: c.RecoverWithin,
		}
	}
	return out
}

func abortSpec(a *experiments.Abort) analysis.AbortSpec {
	return analysis.AbortSpec{Name: a.Name, Metric: a.Metric, Above: a.Above, Below: a.Below, For: a.For}
}

// QueriesFrom are the experiment's metrics evaluated on one source
// (experiments.SourceLocal or SourcePrometheus).
func QueriesFrom(e *experiments.Experiment, source string) []metrics.Query {
	var out []metrics.Query
	for _, q := range Queries(e) {
		if q.Source == source {
			out = append(out, q)
		}
	}
	return out
}
