package experiments

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Helpers that evaluate one attribute into a Go value. Each returns ok=false with a
// diagnostic when the value cannot be used; callers go on with the next attribute so
// that every mistake is reported.

func attrError(attr *hcl.Attribute, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity:    hcl.DiagError,
		Summary:     summary,
		Detail:      detail,
		Subject:     attr.Expr.Range().Ptr(),
		Context:     attr.Range.Ptr(),
		Expression:  attr.Expr,
		EvalContext: nil,
	}
}

func rangeError(r hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: r.Ptr()}
}

func duplicateBlock(kind, name string, at, prev hcl.Range) *hcl.Diagnostic {
	return rangeError(at, fmt.Sprintf("Duplicate %s block", kind),
		fmt.Sprintf("A %s named %q was already declared at %s; give each one its own name.", kind, name, prev))
}

func invalidName(kind, name string, at hcl.Range) *hcl.Diagnostic {
	return rangeError(at, fmt.Sprintf("Invalid %s name", kind),
		fmt.Sprintf("The name %q cannot be used in a reference: a name starts with a letter or underscore and holds only letters, digits, underscores and dashes.", name))
}

// value evaluates attr and rejects null and unknown values.
func (l *loader) value(attr *hcl.Attribute) (cty.Value, bool, hcl.Diagnostics) {
	val, diags := attr.Expr.Value(l.ctx)
	if diags.HasErrors() {
		return cty.NilVal, false, diags
	}
	if val.IsNull() {
		return cty.NilVal, false, append(diags, attrError(attr, fmt.Sprintf("Missing value for %s", attr.Name),
			fmt.Sprintf("%s is null; give it a value or remove the argument.", attr.Name)))
	}
	if !val.IsWhollyKnown() {
		return cty.NilVal, false, append(diags, attrError(attr, fmt.Sprintf("Unknown value for %s", attr.Name),
			"The value cannot be known when the experiment is loaded."))
	}
	val, _ = val.Unmark()
	return val, true, diags
}

func (l *loader) typed(attr *hcl.Attribute, want cty.Type, what string) (cty.Value, bool, hcl.Diagnostics) {
	val, ok, diags := l.value(attr)
	if !ok {
		return val, false, diags
	}
	conv, err := convert.Convert(val, want)
	if err != nil {
		return cty.NilVal, false, append(diags, attrError(attr, fmt.Sprintf("Invalid value for %s", attr.Name),
			fmt.Sprintf("%s must be %s: %s.", attr.Name, what, err)))
	}
	if conv.IsNull() || !conv.IsWhollyKnown() {
		return cty.NilVal, false, append(diags, attrError(attr, fmt.Sprintf("Invalid value for %s", attr.Name),
			fmt.Sprintf("%s must be %s.", attr.Name, what)))
	}
	return conv, true, diags
}

func (l *loader) str(attr *hcl.Attribute) (string, bool, hcl.Diagnostics) {
	v, ok, diags := l.typed(attr, cty.String, "a string")
	if !ok {
		return "", false, diags
	}
	return v.AsString(), true, diags
}

func (l *loader) boolean(attr *hcl.Attribute) (bool, bool, hcl.Diagnostics) {
	v, ok, diags := l.typed(attr, cty.Bool, "true or false")
	if !ok {
		return false, false, diags
	}
	return v.True(), true, diags
}

func (l *loader) number(attr *hcl.Attribute) (float64, bool, hcl.Diagnostics) {
	v, ok, diags := l.typed(attr, cty.Number, "a number")
	if !ok {
		return 0, false, diags
	}
	f, _ := v.AsBigFloat().Float64()
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false, append(diags, attrError(attr, fmt.Sprintf("Invalid value for %s", attr.Name),
			fmt.Sprintf("%s must be a finite number.", attr.Name)))
	}
	return f, true, diags
}

func (l *loader) integer(attr *hcl.Attribute) (int64, bool, hcl.Diagnostics) {
	v, ok, diags := l.typed(attr, cty.Number, "a whole number")
	if !ok {
		return 0, false, diags
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		return 0, false, append(diags, attrError(attr, fmt.Sprintf("Invalid value for %s", attr.Name),
			fmt.Sprintf("%s must be a whole number, not %s.", attr.Name, bf.Text('g', 10))))
	}
	i, acc := bf.Int64()
	if acc != big.Exact {
		return 0, false, append(diags, attrError(attr, fmt.Sprintf("Invalid value for %s", attr.Name),
			fmt.Sprintf("%s is too large.", attr.Name)))
	}
	return i, true, diags
}

func (l *loader) stringMap(attr *hcl.Attribute) (map[string]string, bool, hcl.Diagnostics) {
	v, ok, diags := l.typed(attr, cty.Map(cty.String), "a map of strings, such as { app = \"shop\" }")
	if !ok {
		return nil, false, diags
	}
	out := map[string]string{}
	for k, e := range v.AsValueMap() {
		if e.IsNull() {
			return nil, false, append(diags, attrError(attr, fmt.Sprintf("Invalid value for %s", attr.Name),
				fmt.Sprintf("The entry %q of %s is null; give it a string.", k, attr.Name)))
		}
		out[k] = e.AsString()
	}
	return out, true, diags
}

func (l *loader) stringList(attr *hcl.Attribute) ([]string, bool, hcl.Diagnostics) {
	v, ok, diags := l.typed(attr, cty.List(cty.String), "a list of strings, such as [\"a\", \"b\"]")
	if !ok {
		return nil, false, diags
	}
	var out []string
	for _, e := range v.AsValueSlice() {
		if e.IsNull() {
			return nil, false, append(diags, attrError(attr, fmt.Sprintf("Invalid value for %s", attr.Name),
				fmt.Sprintf("%s holds a null; every entry must be a string.", attr.Name)))
		}
		out = append(out, e.AsString())
	}
	return out, true, diags
}

// duration reads a Go duration string. A bare number is rejected with a hint, because
// "60" could mean seconds or milliseconds.
func (l *loader) duration(attr *hcl.Attribute) (time.Duration, bool, hcl.Diagnostics) {
	val, ok, diags := l.value(attr)
	if !ok {
		return 0, false, diags
	}
	if val.Type() == cty.Number {
		f, _ := val.AsBigFloat().Float64()
		n := fmt.Sprintf("%g", f)
		return 0, false, append(diags, attrError(attr, "Invalid duration",
			fmt.Sprintf("%s needs a unit: write \"%ss\" for %s seconds, or \"%sms\" for milliseconds.", attr.Name, n, n, n)))
	}
	if val.Type() != cty.String {
		return 0, false, append(diags, attrError(attr, "Invalid duration",
			fmt.Sprintf("%s must be a duration string such as \"30s\" or \"1m30s\".", attr.Name)))
	}
	d, err := parseDuration(val.AsString())
	if err != nil {
		return 0, false, append(diags, attrError(attr, "Invalid duration", err.Error()+"."))
	}
	return d, true, diags
}

// reference reads an attribute that must be a reference such as target.db, checks
// that it names a declared block of that kind, and returns the name.
func (l *loader) reference(attr *hcl.Attribute, kind string, declared map[string]hcl.Range) (string, bool, hcl.Diagnostics) {
	return l.referenceExpr(attr.Expr, attr.Name, kind, declared)
}

func (l *loader) referenceExpr(expr hcl.Expression, attrName, kind string, declared map[string]hcl.Range) (string, bool, hcl.Diagnostics) {
	tr, d := hcl.AbsTraversalForExpr(expr)
	if d.HasErrors() {
		hint := ""
		if val, vd := expr.Value(l.ctx); !vd.HasErrors() && val.Type() == cty.String && val.IsKnown() && !val.IsNull() {
			hint = fmt.Sprintf(" Write %s.%s rather than the string %q.", kind, val.AsString(), val.AsString())
		}
		return "", false, hcl.Diagnostics{rangeError(expr.Range(), "Invalid reference",
			fmt.Sprintf("%s must refer to a %s block, such as %s.NAME.%s", attrName, kind, kind, hint))}
	}
	root := tr.RootName()
	if root != kind {
		what := root
		switch root {
		case "target", "metric", "fault", "check", "abort":
			what = "a " + root
		case "var":
			what = "a variable"
		case "local":
			what = "a local value"
		}
		return "", false, hcl.Diagnostics{rangeError(expr.Range(), "Invalid reference",
			fmt.Sprintf("%s must refer to a %s block, such as %s.NAME, but this refers to %s.", attrName, kind, kind, what))}
	}
	if len(tr) != 2 {
		return "", false, hcl.Diagnostics{rangeError(expr.Range(), "Invalid reference",
			fmt.Sprintf("A reference to a %s is %s.NAME, with nothing before or after it.", kind, kind))}
	}
	step, ok := tr[1].(hcl.TraverseAttr)
	if !ok {
		return "", false, hcl.Diagnostics{rangeError(expr.Range(), "Invalid reference",
			fmt.Sprintf("A reference to a %s is %s.NAME.", kind, kind))}
	}
	if _, ok := declared[step.Name]; !ok {
		names := make([]string, 0, len(declared))
		for n := range declared {
			names = append(names, n)
		}
		sort.Strings(names)
		return "", false, hcl.Diagnostics{rangeError(expr.Range(), fmt.Sprintf("Reference to undeclared %s", kind),
			fmt.Sprintf("No %s block named %q is declared%s.", kind, step.Name, suggestionOrList(step.Name, names)))}
	}
	return step.Name, true, nil
}

// suggestion returns ` (did you mean "x"?)` when a known name is close to the given one.
func suggestion(given string, known []string) string {
	if s := Nearest(given, known); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

func suggestionOrList(given string, known []string) string {
	if s := Nearest(given, known); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	if len(known) == 0 {
		return ""
	}
	return " (declared: " + strings.Join(known, ", ") + ")"
}

// Nearest returns the known name closest to given, if it is close enough to be a
// typo (at most two edits, ignoring case), or "". Names whose lengths differ by more
// are not compared at all, so a long name (from a hostile file, say) costs nothing.
func Nearest(given string, known []string) string {
	best, bestDist := "", 3
	g := strings.ToLower(given)
	gLen := utf8.RuneCountInString(g)
	for _, k := range known {
		k2 := strings.ToLower(k)
		if diff := gLen - utf8.RuneCountInString(k2); diff >= bestDist || -diff >= bestDist {
			continue // the distance is at least the difference in length
		}
		// No MaxCost: levenshtein v1.2.1 can index out of range with one.
		if d := levenshtein.Distance(g, k2, nil); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// strInto reads a string attribute, adding its diagnostics to diags.
func (l *loader) strInto(diags *hcl.Diagnostics, attr *hcl.Attribute) string {
	s, _, d := l.str(attr)
	*diags = append(*diags, d...)
	return s
}

func (l *loader) stringMapInto(diags hcl.Diagnostics, attr *hcl.Attribute) (map[string]string, bool, hcl.Diagnostics) {
	m, ok, d := l.stringMap(attr)
	return m, ok, append(diags, d...)
}

func (l *loader) referenceInto(diags hcl.Diagnostics, attr *hcl.Attribute, kind string, declared map[string]hcl.Range) (string, bool, hcl.Diagnostics) {
	s, ok, d := l.reference(attr, kind, declared)
	return s, ok, append(diags, d...)
}

func hasAny(attrs hcl.Attributes, names ...string) bool {
	for _, n := range names {
		if _, ok := attrs[n]; ok {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// sortedAttributes orders attributes as written in the file, for stable diagnostics.
func sortedAttributes(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].NameRange, out[j].NameRange
		if a.Start.Byte != b.Start.Byte {
			return a.Start.Byte < b.Start.Byte
		}
		return out[i].Name < out[j].Name
	})
	return out
}
