package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/faultline/faultline/result"
)

// mdEscape makes text from the experiment or from labels inert in Markdown (GitHub's
// job summaries included): no HTML, no links, no emphasis, no table breaks.
var mdEscape = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;", "|", `\|`, `\`, `\\`, "`", "\\`",
	"*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "#", `\#`,
	"\r\n", " ", "\n", " ", "\r", " ",
)

func md(s string) string { return mdEscape.Replace(SafeText(s)) }

var verdictIcon = map[string]string{result.VerdictPass: "✅ pass", result.VerdictFail: "❌ fail", result.VerdictNoData: "⚠️ no data"}

func renderMarkdown(out io.Writer, r *result.Result) error {
	w := &errWriter{w: out}
	w.printf("## faultline: %s: %s, score %s\n\n", md(r.Experiment.Name), statusWord(r), md(r.Score.Text(num)))
	if r.Experiment.Description != "" {
		w.printf("%s\n\n", md(r.Experiment.Description))
	}
	w.printf("File %s · seed %d · faultline %s · %s → %s (%s)\n\n", md(r.Experiment.File), r.Seed, md(r.FaultlineVersion),
		r.StartedAt.UTC().Format("2006-01-02 15:04:05Z"), r.EndedAt.UTC().Format("15:04:05Z"), r.EndedAt.Sub(r.StartedAt).Round(1e6))
	if r.Reason != "" {
		w.printf("**Reason:** %s\n\n", md(r.Reason))
	}

	w.printf("### Checks\n\n")
	if len(r.Checks) == 0 {
		w.printf("No checks.\n\n")
	} else {
		w.printf("| check | verdict | condition | result | first evidence |\n|---|---|---|---|---|\n")
		for _, c := range r.Checks {
			ev := ""
			if len(c.Evidence) > 0 {
				e := c.Evidence[0]
				ev = fmt.Sprintf("%s %s %s %s", offset(r, e.Time), num(e.Value), md(e.Series), md(e.Note))
			}
			res := md(c.Reason)
			if c.RecoverWithinSeconds > 0 {
				res += "; back after " + optSecs(c.RecoveredAfterSeconds, "never")
			}
			verdict := verdictIcon[c.Verdict]
			if c.FaultLost {
				verdict += ", ⚠️ fault lost"
			}
			w.printf("| %s | %s | %s | %s | %s |\n", md(c.Name), verdict, md(c.Condition), res, ev)
		}
		w.printf("\n")
	}

	if len(r.LostFaults) > 0 {
		w.printf("### Lost faults\n\nRead back during their hold and not found:\n\n| detected | fault | target | last seen | found | outcome |\n|---|---|---|---|---|---|\n")
		for _, l := range r.LostFaults {
			w.printf("| %s | %s (%s) | %s | %s | %s | %s |\n", offset(r, l.DetectedAt), md(l.Fault), md(l.Kind), md(l.Target.Name),
				offset(r, l.LastSeenAt), md(l.Found), md(lostOutcome(r, l)))
		}
		w.printf("\n")
	}

	w.printf("### Impact and recovery\n\n")
	w.printf("| metric | series | baseline mean | fault mean | change | significance | time to impact | time to recover |\n|---|---|---|---|---|---|---|---|\n")
	for _, m := range r.Metrics {
		if len(m.Series) == 0 {
			w.printf("| %s | no data | | | | | | |\n", md(m.Name))
		}
		for i := range m.Series {
			s := &m.Series[i]
			row := []string{md(m.Name), md(seriesName(s.Labels)), "-", "-", "-", "-",
				optSecs(s.TimeToImpactSeconds, "none"), "did not recover"}
			if s.TimeToImpactSeconds != nil {
				row[6] += md(timesFrom(s))
			}
			if s.Recovered {
				row[7] = optSecs(s.TimeToRecoverSeconds, "?") + md(timesFrom(s))
			}
			if imp := s.Impact; imp != nil {
				row[2], row[3] = numUnit(imp.BaselineMean, md(m.Unit)), numUnit(imp.FaultMean, md(m.Unit))
				row[4] = signed(imp.Absolute)
				if imp.Relative != nil {
					row[4] += " (" + pct(*imp.Relative) + ")"
				}
				row[5] = pvalue(imp.PValue)
				if imp.Significant {
					row[5] = "**significant**, " + row[5]
				}
			}
			w.printf("| %s |\n", strings.Join(row, " | "))
		}
	}
	w.printf("\n")

	figures := false
	for _, m := range r.Metrics {
		for i, row := range phaseFigureRows(m) {
			if !figures {
				w.printf("### Over each whole phase\n\nEach metric's `phase_query`, evaluated once at each phase's end over the whole phase.\n\n| metric | series | baseline | fault | recovery |\n|---|---|---|---|---|\n")
				figures = true
			}
			name := md(m.Name)
			if i > 0 {
				name = ""
			}
			w.printf("| %s | %s | %s | %s | %s |\n", name, md(row.Series), md(row.Baseline), md(row.Fault), md(row.Recovery))
		}
	}
	if figures {
		w.printf("\n")
	}

	w.printf("### Timeline\n\n| phase | from | to |\n|---|---|---|\n")
	for _, p := range phases(r) {
		w.printf("| %s | %s | %s |\n", p.Name, offset(r, p.Start), offset(r, p.End))
	}
	w.printf("\n")
	if len(r.Events) > 0 {
		w.printf("| at | event | fault | target | planned | status |\n|---|---|---|---|---|---|\n")
		for _, e := range r.Events {
			status := "ok"
			switch {
			case e.TargetGone:
				status = "target gone"
			case e.Error != "":
				status = "error: " + md(e.Error)
			}
			w.printf("| %s | %s | %s (%s) | %s | %s | %s |\n", offset(r, e.Actual), eventType(e), md(e.Fault), md(e.Kind), md(e.Target.Name), offset(r, e.Planned), status)
		}
		w.printf("\n")
	}
	if len(r.Warnings) > 0 {
		w.printf("### Warnings\n\n")
		for _, x := range r.Warnings {
			w.printf("- %s\n", md(x))
		}
		w.printf("\n")
	}
	w.printf("**Score %s** (%d of %d checks passed): %s\n", md(r.Score.Text(num)), r.Score.Passed, r.Score.Total, md(r.Score.Formula))
	return w.err
}
