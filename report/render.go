package report

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/result"
)

// Formats lists the formats Render understands.
var Formats = []string{"text", "json", "md", "html", "junit"}

// ErrUnknownFormat is returned for a format Render does not know.
var ErrUnknownFormat = errors.New("unknown report format")

// Render writes r in a format: text, json, md (markdown), html or junit.
func Render(w io.Writer, format string, r *result.Result) error {
	if r == nil {
		return errors.New("render: no result")
	}
	switch format {
	case "text":
		return renderText(w, r)
	case "json":
		return result.WriteJSON(w, r)
	case "md", "markdown":
		return renderMarkdown(w, r)
	case "html":
		return renderHTML(w, r)
	case "junit":
		return renderJUnit(w, r)
	}
	return fmt.Errorf("%w %q: use one of %s", ErrUnknownFormat, format, strings.Join(Formats, ", "))
}

// Extension is the file name extension of a format's output.
func Extension(format string) string {
	switch format {
	case "text":
		return ".txt"
	case "md", "markdown":
		return ".md"
	case "junit":
		return ".xml"
	}
	return "." + format
}

// seriesName is the label set without __name__, which is the same for every series of a
// typical query and only makes the name long.
func seriesName(labels map[string]string) string {
	l := make(map[string]string, len(labels))
	for k, v := range labels {
		if k != "__name__" {
			l[k] = v
		}
	}
	return result.LabelString(l)
}

// num formats a value compactly: up to 4 significant digits.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func numUnit(v float64, unit string) string {
	if unit == "" {
		return num(v)
	}
	return num(v) + " " + unit
}

func pct(v float64) string { return fmt.Sprintf("%+.1f%%", 100*v) }

func secs(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}

func optSecs(s *float64, none string) string {
	if s == nil {
		return none
	}
	return secs(*s)
}

func pvalue(p float64) string {
	if p < 0.0001 {
		return "p<0.0001"
	}
	return "p=" + strconv.FormatFloat(p, 'g', 3, 64)
}

// offset is the time from the start of the baseline, as +1m5s.
func offset(r *result.Result, t time.Time) string {
	d := t.Sub(r.Timeline.BaselineStart).Round(time.Millisecond)
	if d < 0 {
		return d.String() // before the baseline (a gap rounded to Prometheus's milliseconds): "-1ms", not "+-1ms"
	}
	return "+" + d.String()
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05.000") }

func statusWord(r *result.Result) string { return strings.ToUpper(string(r.Status)) }

// eventType names an event's type, marking the injection that applied a lost fault again.
func eventType(e result.Event) string {
	if e.Reapply {
		return e.Type + " (reapply)"
	}
	return e.Type
}

// lostOutcome says what became of a lost fault: applied again, or not and why.
func lostOutcome(r *result.Result, l result.LostFault) string {
	switch {
	case l.Reapplied():
		return "applied again at " + offset(r, *l.ReappliedAt)
	case l.ReapplyError != "":
		return "not applied again: " + l.ReapplyError
	case l.Reapply:
		return "not applied again before the end of its hold"
	}
	return "not applied again (reapply = false)"
}

type phaseSpan struct {
	Name       string
	Start, End time.Time
}

func phases(r *result.Result) []phaseSpan {
	tl := r.Timeline
	return []phaseSpan{
		{"baseline", tl.BaselineStart, tl.FaultStart},
		{"fault", tl.FaultStart, tl.FaultEnd},
		{"recovery", tl.FaultEnd, tl.RecoveryEnd},
	}
}

func impactText(imp *result.Impact, unit string) string {
	if imp == nil {
		return "no impact measured (no baseline or fault samples)"
	}
	s := fmt.Sprintf("%s → %s (%s", numUnit(imp.BaselineMean, unit), numUnit(imp.FaultMean, unit), signed(imp.Absolute))
	if imp.Relative != nil {
		s += ", " + pct(*imp.Relative)
	}
	sig := "not significant"
	if imp.Significant {
		sig = "significant"
	}
	return s + fmt.Sprintf("); Mann-Whitney U=%s, %s (%s), %s at α=%s", num(imp.U), pvalue(imp.PValue), imp.Method, sig, num(imp.Alpha))
}

func signed(v float64) string {
	if v >= 0 {
		return "+" + num(v)
	}
	return num(v)
}

func recoveryText(s *result.Series) string {
	switch {
	case s.Band == nil:
		return "no baseline band"
	case s.Recovered:
		return "recovered after " + optSecs(s.TimeToRecoverSeconds, "?") + timesFrom(s)
	default:
		return "did not recover"
	}
}

func impactAtText(s *result.Series) string {
	if s.TimeToImpactSeconds == nil {
		return "never left the baseline band"
	}
	return "impact after " + secs(*s.TimeToImpactSeconds) + timesFrom(s)
}

// timesFrom says when times to impact and recover come from raw scrape times rather
// than the step grid.
func timesFrom(s *result.Series) string {
	if s.TimesFrom == "" {
		return ""
	}
	return " (" + s.TimesFrom + ")"
}

func bandText(b *result.Band, unit string) string {
	if b == nil {
		return "-"
	}
	return fmt.Sprintf("[%s, %s]", num(b.Low), numUnit(b.High, unit))
}

// figureRow is one series of a metric's phase figures: the figure of each phase as
// text, "-" where there is none.
type figureRow struct {
	Series                    string
	Baseline, Fault, Recovery string
}

// phaseFigureRows arranges a metric's phase figures by series, in order of appearance.
func phaseFigureRows(m result.Metric) []figureRow {
	var rows []figureRow
	index := map[string]int{}
	for _, f := range m.PhaseFigures {
		id := seriesName(f.Labels)
		i, ok := index[id]
		if !ok {
			i = len(rows)
			index[id] = i
			rows = append(rows, figureRow{Series: id, Baseline: "-", Fault: "-", Recovery: "-"})
		}
		v := "no value (" + f.Gap + ")"
		if f.Value != nil {
			v = num(*f.Value)
		}
		switch f.Phase {
		case result.PhaseBaseline:
			rows[i].Baseline = v
		case result.PhaseFault:
			rows[i].Fault = v
		case result.PhaseRecovery:
			rows[i].Recovery = v
		}
	}
	return rows
}
