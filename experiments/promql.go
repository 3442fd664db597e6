package experiments

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/prometheus/promql/parser"
)

// promql parses queries the way a Prometheus server does, experimental functions
// included, so that `validate` catches a broken query without a server.
var promql = parser.NewParser(parser.Options{EnableExperimentalFunctions: true})

// checkPromQL reports a query that does not parse as PromQL. A function this parser
// does not know is only a warning: a newer Prometheus may have it, and the run's
// preflight evaluates every query on the server anyway.
func checkPromQL(attr *hcl.Attribute, query string) *hcl.Diagnostic {
	expr, err := promql.ParseExpr(query)
	if err == nil {
		// A metric is one value per series at each time: a range vector would bring
		// back samples from before the time asked, and a string no number at all.
		switch expr.Type() {
		case parser.ValueTypeMatrix:
			return attrError(attr, "Not an instant query", "The query returns a range vector (several samples per series); a metric needs one value per series at each time. Drop the range selector ([1m]) or wrap it in a function such as rate(), increase() or avg_over_time().")
		case parser.ValueTypeString:
			return attrError(attr, "Not an instant query", "The query returns a string; a metric needs a number per series at each time.")
		}
		return nil
	}
	msg := err.Error()
	var perrs parser.ParseErrors
	if errors.As(err, &perrs) && len(perrs) > 0 {
		e := perrs[0]
		msg = fmt.Sprintf("at %s of the query: %v", e.PositionRange.StartPosInput(e.Query, 0), e.Err)
	}
	if strings.Contains(msg, "unknown function") {
		return &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Unknown PromQL function",
			Detail:   fmt.Sprintf("The query does not parse here (%s); if your Prometheus has that function, the run's preflight will accept it, else fix the query.", msg),
			Subject:  attr.Expr.Range().Ptr(),
		}
	}
	return attrError(attr, "Invalid PromQL", fmt.Sprintf("The query does not parse: %s. Check it in the Prometheus UI, or with promtool.", msg))
}
