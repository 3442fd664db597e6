package experiments

import (
	"fmt"
	"strings"
	"time"

	"github.com/faultline/faultline/metrics/probe"
	"github.com/hashicorp/hcl/v2"
)

// ProbeKinds are the kinds of probe blocks.
var ProbeKinds = []string{ProbeHTTP, ProbeTCP}

var httpProbeSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "url", Required: true}, {Name: "method"}, {Name: "headers"}, {Name: "body"},
		{Name: "expect_status"}, {Name: "expect_body"}, {Name: "timeout"}, {Name: "interval"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "tls"}},
}

var probeTLSSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "ca_file"}, {Name: "insecure"}},
}

var tcpProbeSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "address", Required: true}, {Name: "timeout"}, {Name: "interval"},
	},
}

// decodeProbeBlock reads a probe "KIND" "NAME" block and builds it, so that a bad URL,
// status range, body expression or CA file is a diagnostic at load.
func (l *loader) decodeProbeBlock(b *hcl.Block, exp *Experiment) (*Probe, hcl.Diagnostics) {
	kind, name := b.Labels[0], b.Labels[1]
	p := &Probe{Kind: kind, Name: name, DeclRange: b.DefRange}
	var diags hcl.Diagnostics
	if strings.TrimSpace(name) == "" {
		diags = append(diags, rangeError(b.LabelRanges[1], "Empty probe name",
			"The name is the probe label of its series (faultline_probe_success{probe=\"NAME\"}); give it one."))
	}
	switch kind {
	case ProbeHTTP:
		spec, d := l.decodeHTTPProbe(b, name, exp)
		p.HTTP, diags = spec, append(diags, d...)
	case ProbeTCP:
		spec, d := l.decodeTCPProbe(b, name, exp)
		p.TCP, diags = spec, append(diags, d...)
	default:
		return nil, append(diags, rangeError(b.LabelRanges[0], "Unknown probe kind",
			fmt.Sprintf("%q is not a probe kind%s; use %s.", kind, suggestion(kind, ProbeKinds), strings.Join(ProbeKinds, " or "))))
	}
	if diags.HasErrors() {
		return p, diags
	}
	if _, err := p.Build(); err != nil {
		diags = append(diags, rangeError(b.DefRange, "Invalid probe", err.Error()+"."))
	}
	return p, diags
}

func (l *loader) decodeHTTPProbe(b *hcl.Block, name string, exp *Experiment) (*probe.HTTPSpec, hcl.Diagnostics) {
	content, diags := b.Body.Content(httpProbeSchema)
	spec := &probe.HTTPSpec{Name: name, Interval: exp.Step}
	a := content.Attributes
	if attr, ok := a["url"]; ok {
		spec.URL = l.strInto(&diags, attr)
	}
	if attr, ok := a["method"]; ok {
		spec.Method = l.strInto(&diags, attr)
	}
	if attr, ok := a["headers"]; ok {
		spec.Headers, _, diags = l.stringMapInto(diags, attr)
	}
	if attr, ok := a["body"]; ok {
		spec.Body = l.strInto(&diags, attr)
	}
	if attr, ok := a["expect_status"]; ok {
		if list, ok, d := l.stringList(attr); ok {
			if _, err := probe.ParseStatusRanges(list); err != nil {
				diags = append(diags, attrError(attr, "Invalid expect_status", err.Error()+"."))
			}
			spec.ExpectStatus = list
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["expect_body"]; ok {
		spec.ExpectBody = l.strInto(&diags, attr)
	}
	diags = append(diags, l.probeTiming(a, &spec.Timeout, &spec.Interval)...)
	for _, blk := range content.Blocks {
		if spec.TLS != nil {
			diags = append(diags, rangeError(blk.DefRange, "Duplicate tls block", "Give one tls block."))
			continue
		}
		tc, d := blk.Body.Content(probeTLSSchema)
		diags = append(diags, d...)
		spec.TLS = &probe.TLSSpec{}
		if attr, ok := tc.Attributes["ca_file"]; ok {
			spec.TLS.CAFile = l.strInto(&diags, attr)
		}
		if attr, ok := tc.Attributes["insecure"]; ok {
			v, _, d := l.boolean(attr)
			spec.TLS.Insecure, diags = v, append(diags, d...)
		}
	}
	return spec, diags
}

func (l *loader) decodeTCPProbe(b *hcl.Block, name string, exp *Experiment) (*probe.TCPSpec, hcl.Diagnostics) {
	content, diags := b.Body.Content(tcpProbeSchema)
	spec := &probe.TCPSpec{Name: name, Interval: exp.Step}
	if attr, ok := content.Attributes["address"]; ok {
		spec.Address = l.strInto(&diags, attr)
	}
	diags = append(diags, l.probeTiming(content.Attributes, &spec.Timeout, &spec.Interval)...)
	return spec, diags
}

func (l *loader) probeTiming(a hcl.Attributes, timeout, interval *time.Duration) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for name, dst := range map[string]*time.Duration{"timeout": timeout, "interval": interval} {
		if attr, ok := a[name]; ok {
			if d, ok, more := l.duration(attr); ok {
				if d <= 0 {
					diags = append(diags, attrError(attr, "Invalid "+name, name+" must be more than 0, such as \"1s\"."))
				}
				*dst = d
			} else {
				diags = append(diags, more...)
			}
		}
	}
	return diags
}
