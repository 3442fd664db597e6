package experiments

import (
	"fmt"
	"math"
	"strings"

	"github.com/faultline/faultline/faults"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// CommonFaultAttributes are the attributes every fault block takes besides its kind's
// parameters.
var CommonFaultAttributes = []string{"target", "start", "duration", "every", "times", "reapply"}

// MaxRepeats bounds times: a plan lists every repeat, and more than this is a mistake.
const MaxRepeats = 10000

// durationOptional reports whether a kind may be given without a duration: kill is
// then a single event, with one it holds the container down (restore) until the end.
func durationOptional(k faults.Kind) bool { return k.Name == "kill" }

func faultSchema(k faults.Kind, known bool) *hcl.BodySchema {
	s := &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "target", Required: true}, {Name: "start"}, {Name: "duration"},
		{Name: "every"}, {Name: "times"}, {Name: "reapply"},
	}}
	if known {
		for _, p := range k.Params {
			s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: p.Name, Required: p.Required})
		}
	}
	return s
}

func (l *loader) decodeFaultBlock(b *hcl.Block, exp *Experiment) (*FaultSpec, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	kindName, name := b.Labels[0], b.Labels[1]
	kind, known := faults.Lookup(kindName)
	if !known {
		diags = append(diags, rangeError(b.LabelRanges[0], "Unknown fault kind",
			fmt.Sprintf("%q is not a fault kind%s. The kinds are %s; run 'faultline faults' to see their parameters.",
				kindName, suggestion(kindName, faults.KindNames()), strings.Join(faults.KindNames(), ", "))))
	}
	if !hclsyntax.ValidIdentifier(name) {
		diags = append(diags, invalidName("fault", name, b.LabelRanges[1]))
	}
	var content *hcl.BodyContent
	var d hcl.Diagnostics
	if known {
		content, d = b.Body.Content(faultSchema(kind, true))
		// HCL says only that a required argument is missing; say what it is for.
		for _, diag := range d {
			if diag.Summary != "Missing required argument" {
				continue
			}
			for _, p := range kind.Params {
				if p.Required && strings.Contains(diag.Detail, fmt.Sprintf("%q", p.Name)) {
					diag.Detail = fmt.Sprintf("A %s fault needs %s (%s): %s.", kind.Name, p.Name, p.Type, p.Doc)
				}
			}
		}
	} else {
		// The kind's parameters are unknown: only the common attributes can be checked.
		content, _, d = b.Body.PartialContent(faultSchema(kind, false))
	}
	diags = append(diags, d...)
	f := &FaultSpec{Kind: kindName, Name: name, Params: faults.Params{}, ParamRanges: map[string]hcl.Range{}, DeclRange: b.DefRange}
	a := content.Attributes
	for _, attr := range a {
		f.ParamRanges[attr.Name] = attr.Expr.Range()
	}

	if attr, ok := a["target"]; ok {
		f.Target, _, diags = l.referenceInto(diags, attr, "target", l.targetNames)
	}
	if attr, ok := a["start"]; ok {
		if v, ok, more := l.duration(attr); ok {
			f.Start = v
		} else {
			diags = append(diags, more...)
		}
	}
	durAttr, hasDuration := a["duration"]
	switch {
	case !known:
	case kind.Instant && hasDuration:
		diags = append(diags, rangeError(durAttr.NameRange, "Duration of an instant fault",
			fmt.Sprintf("A %s fault happens at its start and holds nothing, so it takes no duration; remove it.", kind.Name)))
	case !kind.Instant && !hasDuration && !durationOptional(kind):
		diags = append(diags, rangeError(b.DefRange, "Missing duration",
			fmt.Sprintf("A %s fault holds until it is reverted; say for how long with duration, such as duration = \"60s\".", kind.Name)))
	}
	if hasDuration && (!known || !kind.Instant) {
		if v, ok, more := l.duration(durAttr); ok {
			if v == 0 {
				diags = append(diags, attrError(durAttr, "Zero duration", "duration must be greater than 0, such as \"30s\"."))
			}
			f.Duration = v
		} else {
			diags = append(diags, more...)
		}
	}

	everyAttr, hasEvery := a["every"]
	timesAttr, hasTimes := a["times"]
	if hasEvery {
		if v, ok, more := l.duration(everyAttr); ok {
			if v == 0 {
				diags = append(diags, attrError(everyAttr, "Zero repeat interval", "every is the time between the starts of two repeats and must be greater than 0."))
			}
			f.Every = v
		} else {
			diags = append(diags, more...)
		}
	}
	if hasTimes {
		if n, ok, more := l.integer(timesAttr); ok {
			if n < 1 || n > MaxRepeats {
				diags = append(diags, attrError(timesAttr, "Invalid value for times",
					fmt.Sprintf("times is how often the fault happens: from 1 to %d.", MaxRepeats)))
			} else {
				f.Times = int(n)
			}
		} else {
			diags = append(diags, more...)
		}
	}
	switch {
	case f.Times > 1 && !hasEvery:
		diags = append(diags, rangeError(timesAttr.NameRange, "Repeat without interval",
			fmt.Sprintf("times = %d needs every: the time between the starts of two repeats, such as every = \"2m\".", f.Times)))
	case hasEvery && !hasTimes:
		diags = append(diags, rangeError(everyAttr.NameRange, "Interval without repeat",
			"every needs times: how often the fault happens, such as times = 3."))
	case f.Times > 1 && f.Every > 0 && f.Duration >= f.Every:
		diags = append(diags, rangeError(everyAttr.Expr.Range(), "Overlapping repeats",
			fmt.Sprintf("Each repeat holds for %s but a new one starts every %s, so a repeat would start before the last is reverted; make every longer than duration.", f.Duration, f.Every)))
	}
	// times × every cannot overflow: every is at most MaxDuration and times at most
	// MaxRepeats; checkTimeline bounds the sum with the rest of the run.

	if attr, ok := a["reapply"]; ok {
		if v, ok, more := l.boolean(attr); ok {
			f.Reapply = v
			if v && known && !hasDuration {
				diags = append(diags, attrError(attr, "Nothing to reapply",
					fmt.Sprintf("A %s fault without a duration holds nothing that could be lost during a hold; remove reapply.", kind.Name)))
			}
		} else {
			diags = append(diags, more...)
		}
	}

	if known {
		diags = append(diags, l.decodeParams(kind, a, f, b)...)
	}
	return f, diags
}

// decodeParams reads the kind's parameters into Go values of the types the registry
// documents, fills in defaults, and checks bounds, enums and AtLeastOne.
func (l *loader) decodeParams(kind faults.Kind, attrs hcl.Attributes, f *FaultSpec, b *hcl.Block) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, p := range kind.Params {
		attr, ok := attrs[p.Name]
		if !ok {
			if p.Default != nil {
				f.Params[p.Name] = p.Default
			}
			continue
		}
		v, ok, d := l.param(p, attr, f)
		diags = append(diags, d...)
		if ok {
			f.Params[p.Name] = v
		}
	}
	if len(kind.AtLeastOne) > 0 {
		found := false
		for _, n := range kind.AtLeastOne {
			if _, ok := attrs[n]; ok {
				found = true
			}
		}
		if !found {
			diags = append(diags, rangeError(b.DefRange, "Missing argument",
				fmt.Sprintf("A %s fault needs at least one of %s.", kind.Name, strings.Join(kind.AtLeastOne, ", "))))
		}
	}
	// netem reorders only packets that others wait behind.
	if kind.Name == "netem" {
		if attr, ok := attrs["reorder"]; ok && !f.Params.Has("latency") {
			diags = append(diags, rangeError(attr.NameRange, "reorder without latency",
				"netem reorders packets by sending some at once while the rest wait for the delay; set latency too."))
		}
		if attr, ok := attrs["jitter"]; ok && !hasAny(attrs, "latency") {
			diags = append(diags, rangeError(attr.NameRange, "jitter without latency", "jitter varies the delay; set latency too."))
		}
	}
	if kind.Name == "partition" {
		for _, d := range f.Params.Destinations("to") {
			if d.Target != "" && d.Target == f.Target {
				diags = append(diags, rangeError(attrs["to"].Expr.Range(), "Partition from itself",
					fmt.Sprintf("target.%s is both the target and a destination of this partition; cut it off from other targets or CIDRs.", d.Target)))
			}
		}
	}
	return diags
}

func (l *loader) param(p faults.Param, attr *hcl.Attribute, f *FaultSpec) (any, bool, hcl.Diagnostics) {
	switch p.Type {
	case faults.Destinations:
		return l.destinations(attr)
	case faults.Ports:
		return l.ports(attr)
	}
	val, ok, diags := l.value(attr)
	if !ok {
		return nil, false, diags
	}
	invalid := func(detail string) (any, bool, hcl.Diagnostics) {
		return nil, false, append(diags, attrError(attr, "Invalid value for "+p.Name, detail))
	}
	var out any
	var num float64 // the value compared against Min and Max
	switch p.Type {
	case faults.String:
		if val.Type() != cty.String {
			return invalid(fmt.Sprintf("%s must be a string.", p.Name))
		}
		s := val.AsString()
		if len(p.Enum) > 0 && !contains(p.Enum, s) {
			return invalid(fmt.Sprintf("%q is not allowed%s; use one of %s.", s, suggestion(s, p.Enum), quoteList(p.Enum)))
		}
		return s, true, diags
	case faults.Bool:
		if val.Type() != cty.Bool {
			return invalid(fmt.Sprintf("%s must be true or false.", p.Name))
		}
		return val.True(), true, diags
	case faults.Number, faults.Int:
		if val.Type() != cty.Number {
			return invalid(fmt.Sprintf("%s must be a number.", p.Name))
		}
		bf := val.AsBigFloat()
		num, _ = bf.Float64()
		if math.IsInf(num, 0) {
			return invalid(fmt.Sprintf("%s is too large.", p.Name))
		}
		if p.Type == faults.Int {
			if !bf.IsInt() {
				return invalid(fmt.Sprintf("%s must be a whole number.", p.Name))
			}
			if num > math.MaxInt64/2 || num < math.MinInt64/2 {
				return invalid(fmt.Sprintf("%s is too large.", p.Name))
			}
			i, _ := bf.Int64()
			out = i
		} else {
			out = num
		}
	case faults.Duration:
		d, ok, more := l.duration(attr)
		if !ok {
			return nil, false, more
		}
		out, num = d, d.Seconds()
	case faults.Percent:
		var pct float64
		switch val.Type() {
		case cty.Number:
			pct, _ = val.AsBigFloat().Float64()
		case cty.String:
			v, err := parsePercent(val.AsString())
			if err != nil {
				return invalid(err.Error() + ".")
			}
			pct = v
		default:
			return invalid(fmt.Sprintf("%s must be a percentage such as 30 or \"30%%\".", p.Name))
		}
		out, num = pct, pct
	case faults.ByteSize:
		var n int64
		switch val.Type() {
		case cty.Number:
			bf := val.AsBigFloat()
			i, acc := bf.Int64()
			if !bf.IsInt() || acc.String() != "Exact" {
				return invalid(fmt.Sprintf("%s in bytes must be a whole number; or write a size such as \"64m\".", p.Name))
			}
			n = i
		case cty.String:
			v, err := parseBytes(val.AsString())
			if err != nil {
				return invalid(err.Error() + ".")
			}
			n = v
		default:
			return invalid(fmt.Sprintf("%s must be a size such as \"64m\" or a number of bytes.", p.Name))
		}
		out, num = n, float64(n)
	case faults.BitRate:
		var r uint64
		switch val.Type() {
		case cty.Number:
			bf := val.AsBigFloat()
			u, acc := bf.Uint64()
			if !bf.IsInt() || acc.String() != "Exact" {
				return invalid(fmt.Sprintf("%s in bits per second must be a whole number; or write a rate such as \"1mbit\".", p.Name))
			}
			r = u
		case cty.String:
			v, err := parseRate(val.AsString())
			if err != nil {
				return invalid(err.Error() + ".")
			}
			r = v
		default:
			return invalid(fmt.Sprintf("%s must be a rate such as \"1mbit\".", p.Name))
		}
		out, num = r, float64(r)
	case faults.Signal:
		var s string
		switch val.Type() {
		case cty.Number:
			s = val.AsBigFloat().Text('f', -1)
		case cty.String:
			s = val.AsString()
		default:
			return invalid(fmt.Sprintf("%s must be a signal name such as \"SIGKILL\" or a number.", p.Name))
		}
		sig, err := faults.ParseSignal(s)
		if err != nil {
			return invalid(err.Error() + ".")
		}
		return sig, true, diags
	default:
		return invalid(fmt.Sprintf("the parameter type %q is not supported by this version of faultline.", p.Type))
	}
	if p.Min != nil && num < *p.Min {
		return nil, false, append(diags, attrError(attr, "Value out of range",
			fmt.Sprintf("%s must be at least %s.", p.Name, FormatBound(p.Type, *p.Min))))
	}
	if p.Max != nil && num > *p.Max {
		return nil, false, append(diags, attrError(attr, "Value out of range",
			fmt.Sprintf("%s must be at most %s.", p.Name, FormatBound(p.Type, *p.Max))))
	}
	return out, true, diags
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// elements returns the expressions of a list written in the file, or of a list value
// (from a variable, say) as literal expressions, so that each entry can be either a
// reference such as target.db or a value.
func (l *loader) elements(attr *hcl.Attribute) ([]hcl.Expression, hcl.Diagnostics) {
	if exprs, d := hcl.ExprList(attr.Expr); !d.HasErrors() {
		return exprs, nil
	}
	val, ok, diags := l.value(attr)
	if !ok {
		return nil, diags
	}
	if !val.Type().IsListType() && !val.Type().IsTupleType() && !val.Type().IsSetType() {
		// A single value stands for a list of one.
		return []hcl.Expression{&hclsyntax.LiteralValueExpr{Val: val, SrcRange: attr.Expr.Range()}}, diags
	}
	var out []hcl.Expression
	for _, e := range val.AsValueSlice() {
		out = append(out, &hclsyntax.LiteralValueExpr{Val: e, SrcRange: attr.Expr.Range()})
	}
	return out, diags
}

func (l *loader) destinations(attr *hcl.Attribute) (any, bool, hcl.Diagnostics) {
	exprs, diags := l.elements(attr)
	if diags.HasErrors() {
		return nil, false, diags
	}
	var out []faults.Destination
	ok := true
	for _, e := range exprs {
		if tr, d := hcl.AbsTraversalForExpr(e); !d.HasErrors() && tr.RootName() == "target" {
			name, good, more := l.referenceExpr(e, attr.Name, "target", l.targetNames)
			diags = append(diags, more...)
			if good {
				out = append(out, faults.Destination{Target: name})
			}
			ok = ok && good
			continue
		}
		val, d := e.Value(l.ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			ok = false
			continue
		}
		if val.IsNull() || !val.IsKnown() || val.Type() != cty.String {
			diags = append(diags, rangeError(e.Range(), "Invalid destination",
				fmt.Sprintf("Each entry of %s is a CIDR such as \"10.0.0.0/8\", an IP, or a reference such as target.db.", attr.Name)))
			ok = false
			continue
		}
		cidr, err := parseCIDR(val.AsString())
		if err != nil {
			diags = append(diags, rangeError(e.Range(), "Invalid destination", err.Error()+"."))
			ok = false
			continue
		}
		out = append(out, faults.Destination{CIDR: cidr})
	}
	if ok && len(out) == 0 {
		diags = append(diags, attrError(attr, "Empty destination list",
			fmt.Sprintf("%s lists no destination; leave it out to mean all traffic, or name CIDRs or targets.", attr.Name)))
		ok = false
	}
	return out, ok, diags
}

func (l *loader) ports(attr *hcl.Attribute) (any, bool, hcl.Diagnostics) {
	exprs, diags := l.elements(attr)
	if diags.HasErrors() {
		return nil, false, diags
	}
	var out []faults.PortRange
	ok := true
	for _, e := range exprs {
		val, d := e.Value(l.ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			ok = false
			continue
		}
		var s string
		switch {
		case val.IsNull() || !val.IsKnown():
		case val.Type() == cty.Number:
			s = val.AsBigFloat().Text('f', -1)
		case val.Type() == cty.String:
			s = val.AsString()
		}
		pr, err := parsePorts(s)
		if err != nil {
			diags = append(diags, rangeError(e.Range(), "Invalid port", err.Error()+"."))
			ok = false
			continue
		}
		out = append(out, pr)
	}
	if ok && len(out) == 0 {
		diags = append(diags, attrError(attr, "Empty port list", "ports lists no port; leave it out to mean all ports."))
		ok = false
	}
	return out, ok, diags
}
