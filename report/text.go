package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/faultline/faultline/result"
)

// errWriter remembers the first write error so renderers can write freely and check
// once. Everything written through it passes SafeText: a text or Markdown report can
// hold no control character, whatever field of a (possibly hand-edited) result it
// came from.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	_, err := io.WriteString(e.w, SafeText(string(p)))
	e.err = err
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }

// oneLine keeps text from the experiment or from labels on one line, so it cannot forge
// lines of the report, and without control characters (SafeText).
func oneLine(s string) string {
	return SafeText(lineBreaks.Replace(s))
}

var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ")

func renderText(out io.Writer, r *result.Result) error {
	w := &errWriter{w: out}
	w.printf("%s: %s (score %s)\n", oneLine(r.Experiment.Name), statusWord(r), oneLine(r.Score.Text(num)))
	if r.Experiment.Description != "" {
		w.printf("  %s\n", oneLine(r.Experiment.Description))
	}
	w.printf("  file %s · seed %d · faultline %s\n", oneLine(r.Experiment.File), r.Seed, oneLine(r.FaultlineVersion))
	w.printf("  ran %s → %s (%s)\n", r.StartedAt.UTC().Format("2006-01-02 15:04:05Z"), r.EndedAt.UTC().Format("15:04:05Z"), r.EndedAt.Sub(r.StartedAt).Round(1e6))
	if r.Reason != "" {
		w.printf("  reason: %s\n", oneLine(r.Reason))
	}

	w.printf("\nTimeline\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range phases(r) {
		fmt.Fprintf(tw, "  %s\t%s\t→ %s\t%s\n", p.Name, offset(r, p.Start), offset(r, p.End), p.End.Sub(p.Start))
	}
	tw.Flush()

	if len(r.Events) > 0 {
		w.printf("\nEvents\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, e := range r.Events {
			status := "ok"
			switch {
			case e.TargetGone:
				status = "target gone: " + oneLine(e.Error)
			case e.Error != "":
				status = "ERROR: " + oneLine(e.Error)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s (%s)\t%s %s\tplanned %s, late %s\t%s\n",
				offset(r, e.Actual), eventType(e), oneLine(e.Fault), e.Kind, oneLine(e.Target.Name), shortID(e.Target.ID),
				offset(r, e.Planned), e.Actual.Sub(e.Planned).Round(1e6), status)
		}
		tw.Flush()
	}

	if len(r.LostFaults) > 0 {
		w.printf("\nLost faults (read back during the hold and not found)\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, l := range r.LostFaults {
			fmt.Fprintf(tw, "  %s\t%s (%s)\t%s %s\tlast seen %s\t%s\n", offset(r, l.DetectedAt), oneLine(l.Fault), oneLine(l.Kind),
				oneLine(l.Target.Name), shortID(l.Target.ID), offset(r, l.LastSeenAt), oneLine(lostOutcome(r, l)))
			fmt.Fprintf(tw, "  \tfound: %s\n", oneLine(l.Found))
		}
		tw.Flush()
	}

	w.printf("\nChecks\n")
	if len(r.Checks) == 0 {
		w.printf("  (none)\n")
	}
	for _, c := range r.Checks {
		lost := ""
		if c.FaultLost {
			lost = " [fault lost]"
		}
		w.printf("  %s%s  %s: %s\n", strings.ToUpper(c.Verdict), lost, oneLine(c.Name), oneLine(c.Condition))
		w.printf("        %s", oneLine(c.Reason))
		if c.RecoverWithinSeconds > 0 {
			w.printf("; back in bounds after %s", optSecs(c.RecoveredAfterSeconds, "never"))
		}
		w.printf("\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, e := range c.Evidence {
			fmt.Fprintf(tw, "        %s\t%s\t%s\t%s\t%s\n", offset(r, e.Time), num(e.Value), e.Phase, oneLine(e.Series), oneLine(e.Note))
		}
		tw.Flush()
		if c.Violations > len(c.Evidence) && c.Verdict == result.VerdictFail {
			w.printf("        … %d more\n", c.Violations-len(c.Evidence))
		}
	}

	w.printf("\nMetrics\n")
	for _, m := range r.Metrics {
		unit := ""
		if m.Unit != "" {
			unit = " (" + oneLine(m.Unit) + ")"
		}
		w.printf("  %s%s: %s\n", oneLine(m.Name), unit, oneLine(m.Query))
		for _, g := range m.Gaps {
			w.printf("    gap %s → %s: %s\n", offset(r, g.Start), offset(r, g.End), oneLine(g.Reason))
		}
		if len(m.Series) == 0 {
			w.printf("    no data\n")
		}
		for i := range m.Series {
			s := &m.Series[i]
			w.printf("    %s\n", oneLine(seriesName(s.Labels)))
			tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "      phase\tcount\tmean\tmin\tmax\tp50\tp95\tp99\tstddev\t\n")
			for _, p := range s.Phases {
				fmt.Fprintf(tw, "      %s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", p.Phase, p.Count,
					num(p.Mean), num(p.Min), num(p.Max), num(p.P50), num(p.P95), num(p.P99), num(p.Stddev))
			}
			tw.Flush()
			w.printf("      impact: %s\n", impactText(s.Impact, m.Unit))
			w.printf("      band %s: %s; %s\n", bandText(s.Band, m.Unit), impactAtText(s), recoveryText(s))
			if len(s.Gaps) > 0 {
				w.printf("      %d gap(s), first %s → %s: %s\n", len(s.Gaps), offset(r, s.Gaps[0].Start), offset(r, s.Gaps[0].End), oneLine(s.Gaps[0].Reason))
			}
		}
		if rows := phaseFigureRows(m); len(rows) > 0 {
			w.printf("    over each whole phase (phase_query %s)\n", oneLine(m.PhaseQuery))
			tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "      series\tbaseline\tfault\trecovery\t\n")
			for _, row := range rows {
				fmt.Fprintf(tw, "      %s\t%s\t%s\t%s\t\n", oneLine(row.Series), oneLine(row.Baseline), oneLine(row.Fault), oneLine(row.Recovery))
			}
			tw.Flush()
		}
	}

	w.printf("\nScore %s (%d of %d checks passed)\n  %s\n", oneLine(r.Score.Text(num)), r.Score.Passed, r.Score.Total, oneLine(r.Score.Formula))
	if len(r.Warnings) > 0 {
		w.printf("\nWarnings\n")
		for _, x := range r.Warnings {
			w.printf("  - %s\n", oneLine(x))
		}
	}
	return w.err
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
