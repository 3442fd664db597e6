package report_test

import (
	"bytes"
	"encoding/xml"
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

// TestJUnitFailsOnALostFault: a run whose checks all passed but whose fault was lost
// and not applied again, or never injected for want of its container, failed (exit 1);
// its JUnit must not read as all green.
func TestJUnitFailsOnALostFault(t *testing.T) {
	t.Parallel()
	r := fixture(145, 0.01)
	for i := range r.Checks {
		r.Checks[i].Passed, r.Checks[i].Verdict = true, "pass"
	}
	again := at(97.2)
	r.LostFaults = []result.LostFault{
		{Fault: "slow_db", Kind: "delay", Target: result.EventTarget{Name: "shop-db-1", ID: "0123456789abcdef0123"},
			LastSeenAt: at(90), DetectedAt: at(95), Found: "the container restarted", Reapply: true, ReappliedAt: &again, Until: again},
		{Fault: "slow_db", Kind: "delay", Target: result.EventTarget{Name: "shop-db-2<x>", ID: "fedcba9876543210"},
			LastSeenAt: at(100), DetectedAt: at(105), Found: "eth0 qdisc fa07: found absent, want tbf", Until: at(120)},
	}
	r.Events = append(r.Events, result.Event{Type: result.EventInject, Fault: "freeze", Kind: "pause", TargetGone: true,
		Target: result.EventTarget{Name: "shop-backend-3", ID: "abc"}, Planned: at(70), Actual: at(70), Error: "no such container"})
	r.Status = result.StatusFailed
	var buf bytes.Buffer
	if err := report.Render(&buf, "junit", r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Type string `xml:"type,attr"`
					Text string `xml:",chardata"`
				} `xml:"failure"`
				SystemOut string `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("junit is not XML: %v\n%s", err, buf.String())
	}
	if doc.Failures != 2 {
		t.Errorf("failures=%d, want 2 (the fault lost and not applied again, the one never injected)\n%s", doc.Failures, buf.String())
	}
	found := map[string]bool{}
	for _, c := range doc.Suites[0].Cases {
		switch c.Name {
		case "fault slow_db on shop-db-1":
			found[c.Name] = true
			if c.Failure != nil || !strings.Contains(c.SystemOut, "applied again at +1m37.2s") {
				t.Errorf("the reapplied fault's case: %+v", c)
			}
		case "fault freeze on shop-backend-3":
			found[c.Name] = true
			if c.Failure == nil || c.Failure.Type != "not_injected" || !strings.Contains(c.Failure.Text, "no such container") {
				t.Errorf("the never injected fault's case: %+v", c)
			}
		case "fault slow_db on shop-db-2<x>":
			found[c.Name] = true
			if c.Failure == nil || c.Failure.Type != "fault_lost" || !strings.Contains(c.Failure.Text, "found absent, want tbf") {
				t.Errorf("the lost fault's case: %+v", c)
			}
		}
	}
	if len(found) != 3 {
		t.Errorf("cases %+v, want one per lost or never injected fault", doc.Suites[0].Cases)
	}
}
