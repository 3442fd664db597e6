package experiments

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// decodeLocals evaluates locals in dependency order: a local may use variables and
// other locals; what cannot be settled is a cycle or an unknown name.
func (l *loader) decodeLocals(blocks []*hcl.Block) hcl.Diagnostics {
	var diags hcl.Diagnostics
	pending := map[string]*hcl.Attribute{}
	for _, b := range blocks {
		attrs, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		for _, attr := range sortedAttributes(attrs) {
			if prev, dup := pending[attr.Name]; dup {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate local value",
					Detail:   fmt.Sprintf("The local %q was already defined at %s; give each local its own name.", attr.Name, prev.NameRange),
					Subject:  attr.NameRange.Ptr(),
				})
				continue
			}
			pending[attr.Name] = attr
		}
	}
	locals := map[string]cty.Value{}
	l.ctx.Variables["local"] = cty.ObjectVal(locals)
	for len(pending) > 0 {
		progress := false
		for _, attr := range sortedAttributes(pending) {
			if !localsReady(attr.Expr, locals) {
				continue
			}
			val, d := attr.Expr.Value(l.ctx)
			diags = append(diags, d...)
			if d.HasErrors() {
				val = cty.DynamicVal
			}
			locals[attr.Name] = val
			l.ctx.Variables["local"] = cty.ObjectVal(locals)
			delete(pending, attr.Name)
			progress = true
		}
		if progress {
			continue
		}
		for _, attr := range sortedAttributes(pending) {
			var missing []string
			for _, tr := range attr.Expr.Variables() {
				if tr.RootName() != "local" || len(tr) < 2 {
					continue
				}
				if ga, ok := tr[1].(hcl.TraverseAttr); ok {
					if _, done := locals[ga.Name]; !done {
						missing = append(missing, "local."+ga.Name)
					}
				}
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unresolvable local value",
				Detail:   fmt.Sprintf("The local %q depends on %s, which is undefined or depends on it in turn; define each local once, without cycles.", attr.Name, strings.Join(missing, ", ")),
				Subject:  attr.Expr.Range().Ptr(),
			})
		}
		break
	}
	return diags
}

// localsReady reports whether every local the expression uses has a value.
func localsReady(expr hcl.Expression, locals map[string]cty.Value) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() != "local" || len(tr) < 2 {
			continue
		}
		ga, ok := tr[1].(hcl.TraverseAttr)
		if !ok {
			continue
		}
		if _, done := locals[ga.Name]; !done {
			return false
		}
	}
	return true
}
