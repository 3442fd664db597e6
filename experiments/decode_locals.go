package experiments

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// decodeLocals evaluates locals in dependency order (Kahn's algorithm): a local may
// use variables and other locals; what cannot be settled is a cycle or an unknown
// name. Each local is evaluated with only the locals it names in its context, so a
// file of n locals costs about n evaluations, not n² (rebuilding an object of every
// local settled so far for each would).
func (l *loader) decodeLocals(blocks []*hcl.Block) hcl.Diagnostics {
	var diags hcl.Diagnostics
	declared := map[string]*hcl.Attribute{}
	var order []*hcl.Attribute
	for _, b := range blocks {
		attrs, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		for _, attr := range sortedAttributes(attrs) {
			if prev, dup := declared[attr.Name]; dup {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate local value",
					Detail:   fmt.Sprintf("The local %q was already defined at %s; give each local its own name.", attr.Name, prev.NameRange),
					Subject:  attr.NameRange.Ptr(),
				})
				continue
			}
			declared[attr.Name] = attr
			order = append(order, attr)
		}
	}

	deps := make(map[string][]string, len(order))       // the locals each one names, once each
	dependents := make(map[string][]string, len(order)) // the reverse
	waiting := make(map[string]int, len(order))         // deps not yet settled
	var ready []*hcl.Attribute
	for _, attr := range order {
		names, d := localRefs(attr.Expr)
		diags = append(diags, d...)
		deps[attr.Name] = names
		for _, n := range names {
			dependents[n] = append(dependents[n], attr.Name)
		}
		waiting[attr.Name] = len(names)
		if len(names) == 0 {
			ready = append(ready, attr)
		}
	}

	locals := make(map[string]cty.Value, len(order))
	for len(ready) > 0 {
		attr := ready[0]
		ready = ready[1:]
		scope := make(map[string]cty.Value, len(deps[attr.Name]))
		for _, n := range deps[attr.Name] {
			scope[n] = locals[n]
		}
		// A context of its own rather than a child of l.ctx: HCL suggests a function
		// for a misspelt name only from the context it evaluates in.
		ctx := &hcl.EvalContext{
			Variables: map[string]cty.Value{"var": l.ctx.Variables["var"], "local": cty.ObjectVal(scope)},
			Functions: l.ctx.Functions,
		}
		val, d := attr.Expr.Value(ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			val = cty.DynamicVal
		}
		locals[attr.Name] = val
		for _, n := range dependents[attr.Name] {
			if waiting[n]--; waiting[n] == 0 {
				ready = append(ready, declared[n])
			}
		}
	}
	for _, attr := range order {
		if _, done := locals[attr.Name]; done {
			continue
		}
		var missing []string
		for _, n := range deps[attr.Name] {
			if _, done := locals[n]; !done {
				missing = append(missing, "local."+n)
			}
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unresolvable local value",
			Detail:   fmt.Sprintf("The local %q depends on %s, which is undefined or depends on it in turn; define each local once, without cycles.", attr.Name, strings.Join(missing, ", ")),
			Subject:  attr.Expr.Range().Ptr(),
		})
	}
	l.ctx.Variables["local"] = cty.ObjectVal(locals)
	return diags
}

// localRefs lists the locals an expression names (local.NAME), each once, in order.
// The object of all locals cannot be used whole inside a local (local["x"], local):
// its dependencies would be unknown.
func localRefs(expr hcl.Expression) ([]string, hcl.Diagnostics) {
	var names []string
	var diags hcl.Diagnostics
	seen := map[string]bool{}
	for _, tr := range expr.Variables() {
		if tr.RootName() != "local" {
			continue
		}
		var ga hcl.TraverseAttr
		ok := len(tr) >= 2
		if ok {
			ga, ok = tr[1].(hcl.TraverseAttr)
		}
		if !ok {
			diags = append(diags, rangeError(tr.SourceRange(), "Invalid reference to local values",
				"A local refers to another one by name, as local.NAME; the object of all locals cannot be used whole here."))
			continue
		}
		if !seen[ga.Name] {
			seen[ga.Name] = true
			names = append(names, ga.Name)
		}
	}
	return names, diags
}
