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
	_, err := promql.ParseExpr(query)
	if err == nil {
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
