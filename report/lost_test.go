package report_test

import (
	"bytes"
	"html"
	"strings"
	"testing"

	"github.com/faultline/faultline/report"
	"github.com/faultline/faultline/result"
)

// TestLostFaultsAreShown: every human format lists the lost faults with when, where,
// what was found and what became of them, flags the checks they overlap, and keeps
// text from the system (a container name, what the kernel reported) inert.
func TestLostFaultsAreShown(t *testing.T) {
	t.Parallel()
	r := fixture(145, 0.01)
	again := at(97.2)
	r.LostFaults = []result.LostFault{
		{Fault: "slow_db", Kind: "delay", Target: result.EventTarget{Name: "shop-db-1<img>", ID: "0123456789abcdef0123"},
			LastSeenAt: at(90), DetectedAt: at(95), Found: "PID 4242 is no longer in network namespace 4026532 (the container restarted) <b>x</b>",
			Reapply: true, ReappliedAt: &again, Until: again},
		{Fault: "slow_db", Kind: "delay", Target: result.EventTarget{Name: "shop-db-2", ID: "fedcba9876543210"},
			LastSeenAt: at(100), DetectedAt: at(105), Found: "eth0 qdisc fa07: found absent, want tbf", Until: at(120)},
	}
	r.Checks[1].FaultLost = true
	r.Checks[1].Reason += " Caution: fault \"slow_db\" was lost."
	r.Events = append(r.Events, result.Event{Type: result.EventInject, Fault: "slow_db", Kind: "delay", Reapply: true,
		Target: result.EventTarget{Name: "shop-db-1", ID: "0123456789abcdef0123"}, Planned: at(97), Actual: again})
	for _, format := range []string{"text", "md", "html"} {
		var buf bytes.Buffer
		if err := report.Render(&buf, format, r); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		plain := out
		if format == "html" {
			plain = html.UnescapeString(out) // html/template writes + as &#43;
		}
		for _, want := range []string{"Lost faults", "+1m35s", "+1m30s", "applied again at +1m37.2s", "not applied again (reapply = false)",
			"no longer in network namespace", "fault lost", "reapply"} {
			if !strings.Contains(plain, want) {
				t.Errorf("%s report lacks %q", format, want)
			}
		}
		if format != "text" && (strings.Contains(out, "<img>") || strings.Contains(out, "<b>x</b>")) {
			t.Errorf("%s report holds raw markup from a container name or a read-back", format)
		}
	}
}
