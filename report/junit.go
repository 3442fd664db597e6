package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/faultline/faultline/result"
)

// JUnit XML as CI systems read it: one suite per result, one test case per check, one
// per fault lost during its hold or never injected (its container gone), and a "run"
// case that errors when the run itself did not complete.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func renderJUnit(w io.Writer, r *result.Result) error {
	dur := fmt.Sprintf("%.3f", r.EndedAt.Sub(r.StartedAt).Seconds())
	suite := junitSuite{
		Name: r.Experiment.Name, Time: dur, Timestamp: r.StartedAt.UTC().Format("2006-01-02T15:04:05"),
		Properties: []junitProperty{
			{"status", string(r.Status)}, {"score", scoreValue(r.Score)}, {"score_formula", r.Score.Formula},
			{"seed", fmt.Sprint(r.Seed)}, {"file", r.Experiment.File}, {"faultline_version", r.FaultlineVersion},
		},
	}
	class := "faultline." + r.Experiment.Name
	if r.Status == result.StatusAborted || r.Status == result.StatusInterrupted || r.Status == result.StatusError {
		suite.Cases = append(suite.Cases, junitCase{Name: "run", Classname: class, Time: dur,
			Error: &junitProblem{Message: r.Reason, Type: string(r.Status), Text: "the run did not complete: " + r.Reason}})
		suite.Errors++
	}
	for _, c := range r.Checks {
		tc := junitCase{Name: c.Name, Classname: class, Time: "0", SystemOut: c.Condition + "\n" + c.Reason}
		if !c.Passed {
			var b strings.Builder
			fmt.Fprintf(&b, "%s\n%s\n", c.Condition, c.Reason)
			for _, e := range c.Evidence {
				fmt.Fprintf(&b, "%s %s %s %s %s\n", offset(r, e.Time), num(e.Value), e.Phase, e.Series, e.Note)
			}
			tc.Failure = &junitProblem{Message: c.Reason, Type: c.Verdict, Text: b.String()}
			tc.SystemOut = ""
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, tc)
	}
	// A fault lost during its hold is a case of its own: one not applied again fails
	// the run (the checks saw less than the planned fault), so it fails here too, even
	// when every check passed.
	for _, l := range r.LostFaults {
		tc := junitCase{Name: fmt.Sprintf("fault %s on %s", l.Fault, l.Target.Name), Classname: class + ".faults", Time: "0"}
		what := fmt.Sprintf("fault %q (%s) on %s was lost between %s and %s: %s", l.Fault, l.Kind, l.Target.Name,
			offset(r, l.LastSeenAt), offset(r, l.DetectedAt), l.Found)
		if l.Reapplied() {
			tc.SystemOut = what + "; applied again at " + offset(r, *l.ReappliedAt)
		} else {
			why := "not applied again (reapply = false)"
			if l.Reapply {
				why = "not applied again: " + l.ReapplyError
			}
			tc.Failure = &junitProblem{Message: "fault lost and " + why, Type: "fault_lost", Text: what + "\n" + why}
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, tc)
	}
	// So is an injection that found its container gone and never took effect.
	for _, ev := range r.NeverInjected() {
		what := fmt.Sprintf("fault %q (%s) was never injected on %s at %s: the container was gone (%s)", ev.Fault, ev.Kind, ev.Target.Name, offset(r, ev.Planned), ev.Error)
		suite.Cases = append(suite.Cases, junitCase{Name: fmt.Sprintf("fault %s on %s", ev.Fault, ev.Target.Name), Classname: class + ".faults", Time: "0",
			Failure: &junitProblem{Message: "fault never injected: the container was gone", Type: "not_injected", Text: what}})
		suite.Failures++
	}
	suite.Tests = len(suite.Cases)
	if len(r.Warnings) > 0 {
		suite.SystemOut = "warnings:\n" + strings.Join(r.Warnings, "\n")
	}
	doc := junitSuites{Name: "faultline", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Time: dur, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// scoreValue is the score's number, or "none" and why.
func scoreValue(s result.Score) string {
	if v, ok := s.Known(); ok {
		return num(v)
	}
	return s.Text(num)
}
