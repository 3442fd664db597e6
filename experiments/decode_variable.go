package experiments

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"},
		{Name: "default"},
		{Name: "description"},
		{Name: "sensitive"},
	},
}

// variable is one declared `variable` block while its value is being settled.
type variable struct {
	name      string
	typ       cty.Type
	value     cty.Value // cty.NilVal until some source sets it
	broken    bool      // its block has errors, already reported
	sensitive bool
	declRange hcl.Range
}

// decodeVariables settles every variable's value: default, then FAULTLINE_VAR_name,
// then --var-file, then --var, the later overriding the earlier, as in Terraform.
// It returns the values for the report, the values for evaluation, and diagnostics.
func (l *loader) decodeVariables(blocks []*hcl.Block) (map[string]string, map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	declared := map[string]*variable{}
	var order []string
	for _, b := range blocks {
		v, d := decodeVariableBlock(b)
		diags = append(diags, d...)
		if v == nil {
			continue
		}
		if prev, dup := declared[v.name]; dup {
			diags = append(diags, duplicateBlock("variable", v.name, b.LabelRanges[0], prev.declRange))
			continue
		}
		declared[v.name] = v
		order = append(order, v.name)
	}

	if l.opts.Getenv != nil {
		for _, name := range order {
			raw := l.opts.Getenv(EnvVarPrefix + name)
			if raw == "" {
				continue
			}
			diags = append(diags, declared[name].setRaw(raw, "environment variable "+EnvVarPrefix+name)...)
		}
	}
	for _, path := range l.opts.VarFiles {
		diags = append(diags, l.applyVarFile(path, declared)...)
	}
	for _, opt := range l.opts.Vars {
		name, raw, ok := strings.Cut(opt, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid --var option",
				Detail:   fmt.Sprintf("The option %q is not of the form name=value; write it as --var 'name=value'.", opt),
			})
			continue
		}
		v, found := declared[name]
		if !found {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("The option --var %q sets a variable that the experiment does not declare%s. Declare it with a variable %q block, or remove the option.", opt, suggestion(name, order), name),
			})
			continue
		}
		diags = append(diags, v.setRaw(raw, "--var "+name)...)
	}

	report := map[string]string{}
	values := map[string]cty.Value{}
	for _, name := range order {
		v := declared[name]
		if v.value == cty.NilVal {
			if v.broken {
				continue
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "No value for required variable",
				Detail:   fmt.Sprintf("The variable %q has no default. Set it with --var '%s=...', in a --var-file, or in the environment variable %s%s.", name, name, EnvVarPrefix, name),
				Subject:  v.declRange.Ptr(),
			})
			continue
		}
		values[name] = v.value
		if v.sensitive {
			report[name] = "(sensitive)"
			if s := displayValue(v.value); s != "" && !v.value.IsNull() {
				l.sensitive = append(l.sensitive, s)
			}
		} else {
			report[name] = displayValue(v.value)
		}
	}
	return report, values, diags
}

func decodeVariableBlock(b *hcl.Block) (*variable, hcl.Diagnostics) {
	content, diags := b.Body.Content(variableSchema)
	name := b.Labels[0]
	if !hclsyntax.ValidIdentifier(name) {
		return nil, append(diags, invalidName("variable", name, b.LabelRanges[0]))
	}
	v := &variable{name: name, typ: cty.DynamicPseudoType, declRange: b.DefRange}
	if attr, ok := content.Attributes["type"]; ok {
		ty, d := typeexpr.TypeConstraint(attr.Expr)
		diags = append(diags, d...)
		if !d.HasErrors() {
			v.typ = ty
		}
	}
	if attr, ok := content.Attributes["sensitive"]; ok {
		val, d := attr.Expr.Value(nil)
		diags = append(diags, d...)
		if !d.HasErrors() {
			if b, err := convert.Convert(val, cty.Bool); err != nil || b.IsNull() {
				diags = append(diags, attrError(attr, "Invalid value for sensitive", "sensitive is true or false."))
			} else {
				v.sensitive = b.True()
			}
		}
	}
	if attr, ok := content.Attributes["description"]; ok {
		_, d := attr.Expr.Value(nil)
		diags = append(diags, d...)
	}
	if attr, ok := content.Attributes["default"]; ok {
		// A default is a constant: it cannot depend on other variables.
		val, d := attr.Expr.Value(nil)
		diags = append(diags, d...)
		if !d.HasErrors() {
			conv, err := convert.Convert(val, v.typ)
			if err != nil {
				diags = append(diags, attrError(attr, "Invalid default value for variable",
					fmt.Sprintf("The default does not match the variable's type %s: %s.", typeexpr.TypeString(v.typ), err)))
			} else {
				v.value = conv
			}
		}
	}
	v.broken = diags.HasErrors()
	return v, diags
}

// setRaw sets the variable from a string given outside the file. Like Terraform, a
// value for a primitive (or untyped) variable is taken literally; for a collection
// it is parsed as an HCL expression, such as ["a", "b"].
func (v *variable) setRaw(raw, source string) hcl.Diagnostics {
	var val cty.Value
	if v.typ.IsPrimitiveType() || v.typ == cty.DynamicPseudoType {
		val = cty.StringVal(raw)
		if outOfRange(val) {
			return hcl.Diagnostics{numberOutOfRange(v.declRange)}
		}
	} else {
		name := "<value for var." + v.name + ">"
		if diags := checkExpressionNesting([]byte(raw), name); diags.HasErrors() {
			return diags
		}
		expr, diags := hclsyntax.ParseExpression([]byte(raw), name, hcl.InitialPos)
		if diags.HasErrors() {
			return diags
		}
		if diags := checkNumberLiterals(&hclsyntax.Body{Attributes: hclsyntax.Attributes{"value": {Name: "value", Expr: expr}}}); diags.HasErrors() {
			return diags
		}
		var d hcl.Diagnostics
		val, d = expr.Value(nil)
		if d.HasErrors() {
			return d
		}
	}
	conv, err := convert.Convert(val, v.typ)
	if err != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail:   fmt.Sprintf("The value from %s does not match the type %s of variable %q: %s.", source, typeexpr.TypeString(v.typ), v.name, err),
			Subject:  v.declRange.Ptr(),
		}}
	}
	v.value = conv
	return nil
}

func (l *loader) applyVarFile(path string, declared map[string]*variable) hcl.Diagnostics {
	src, err := l.opts.ReadFile(path)
	if big := (*tooLargeError)(nil); errors.As(err, &big) {
		return hcl.Diagnostics{tooLarge(path, "variables file", big.size)}
	}
	if err != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read variables file",
			Detail:   fmt.Sprintf("%v. Check the --var-file path.", err),
		}}
	}
	if diags := CheckSource(path, "variables file", src); diags.HasErrors() {
		return diags
	}
	file, diags := l.parser.ParseHCL(src, path)
	if diags.HasErrors() {
		return diags
	}
	if diags = append(diags, checkNumberLiterals(file.Body)...); diags.HasErrors() {
		return diags
	}
	attrs, d := file.Body.JustAttributes()
	diags = append(diags, d...)
	names := make([]string, 0, len(declared))
	for n := range declared {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, attr := range sortedAttributes(attrs) {
		v, ok := declared[attr.Name]
		if !ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("The experiment declares no variable %q%s; this value is ignored.", attr.Name, suggestion(attr.Name, names)),
				Subject:  attr.NameRange.Ptr(),
			})
			continue
		}
		val, d := attr.Expr.Value(nil)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		conv, err := convert.Convert(val, v.typ)
		if err != nil {
			diags = append(diags, attrError(attr, "Invalid value for variable",
				fmt.Sprintf("The value does not match the type %s of variable %q: %s.", typeexpr.TypeString(v.typ), v.name, err)))
			continue
		}
		v.value = conv
	}
	return diags
}

// displayValue renders a variable's value for the report: strings as they are,
// anything else as JSON.
func displayValue(v cty.Value) string {
	if v.IsNull() {
		return "null"
	}
	if v.Type() == cty.String {
		return v.AsString()
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return v.GoString()
	}
	return string(b)
}
