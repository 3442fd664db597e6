package cmd

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/experiments/runner"
	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/report"
	"github.com/faultline/faultline/result"
)

// liveView draws the state of a run on a terminal and redraws it in place: phase and
// time left, active faults, the latest value of every metric with the status of its
// checks so far, and the last few things that happened.
type liveView struct {
	mu     sync.Mutex
	w      io.Writer
	exp    *experiments.Experiment
	lines  int // lines drawn last time, to move back over them
	last   runner.Update
	values map[string]string
	checks map[string]result.CheckResult
	recent []string
}

// viewRecent is how many recent events the view keeps.
const viewRecent = 6

// viewWidth is the widest line the view draws.
const viewWidth = 100

func newLiveView(w io.Writer, exp *experiments.Experiment) *liveView {
	return &liveView{w: w, exp: exp, values: map[string]string{}, checks: map[string]result.CheckResult{}}
}

func (v *liveView) update(u runner.Update) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.last = u
	for _, o := range u.Observations {
		v.values[o.Metric] = observationText(o.Gap, o.Series)
	}
	for _, c := range u.Checks {
		v.checks[c.Name] = c
	}
	if u.Event != nil {
		v.note(u.Time, eventText(u.Event))
	}
	if u.Message != "" {
		v.note(u.Time, u.Message)
	}
	v.draw()
}

func (v *liveView) note(at time.Time, s string) {
	v.recent = append(v.recent, at.Format("15:04:05")+"  "+strings.Join(strings.Fields(s), " "))
	if len(v.recent) > viewRecent {
		v.recent = v.recent[len(v.recent)-viewRecent:]
	}
}

func (v *liveView) draw() {
	var b strings.Builder
	u := v.last
	left := max(u.Total-u.Elapsed, 0)
	fmt.Fprintf(&b, "%s  phase %-8s  %s / %s  (%s left)\n", v.exp.Name, u.Phase,
		fmtClock(u.Elapsed), fmtClock(u.Total), fmtClock(left))
	if len(u.Active) == 0 {
		b.WriteString("  active faults: none\n")
	} else {
		fmt.Fprintf(&b, "  active faults: %s\n", strings.Join(u.Active, ", "))
	}
	for _, m := range v.exp.Metrics {
		val, ok := v.values[m.Name]
		if !ok {
			val = "(no sample yet)"
		}
		fmt.Fprintf(&b, "  %-22s %s%s%s\n", m.Name, val, unitSuffix(m.Unit), v.checkText(m.Name))
	}
	for _, r := range v.recent {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	// Names, units and messages come from outside: none of their control characters
	// reaches the terminal (only the view's own cursor movement does). A line wider
	// than the terminal would wrap and break the redraw: keep them short.
	var out strings.Builder
	if v.lines > 0 {
		fmt.Fprintf(&out, "\x1b[%dF\x1b[J", v.lines) // back to the first line drawn, clear below
	}
	lines := 0
	for _, l := range strings.SplitAfter(report.SafeText(strings.ReplaceAll(b.String(), "\t", " ")), "\n") {
		if l == "" {
			continue
		}
		if r := []rune(strings.TrimSuffix(l, "\n")); len(r) > viewWidth {
			l = string(r[:viewWidth-1]) + "…\n"
		}
		out.WriteString(l)
		lines++
	}
	v.lines = lines
	io.WriteString(v.w, out.String())
}

// checkText lists the checks on a metric with their verdict so far.
func (v *liveView) checkText(metric string) string {
	var parts []string
	for _, c := range v.exp.Checks {
		if c.Metric != metric {
			continue
		}
		verdict := "waiting"
		if r, ok := v.checks[c.Name]; ok && r.Verdict != result.VerdictNoData {
			verdict = "ok"
			if !r.Passed {
				verdict = "FAILING"
			}
		}
		parts = append(parts, c.Name+": "+verdict)
	}
	if len(parts) == 0 {
		return ""
	}
	return "   [" + strings.Join(parts, ", ") + "]"
}

// close leaves the last drawing on the screen and moves below it.
func (v *liveView) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.lines > 0 {
		io.WriteString(v.w, "\n")
	}
	v.lines = 0
}

// observationText is the latest value of a metric: one number, or the range over
// its series.
func observationText(gap string, series []metrics.Series) string {
	if gap != "" {
		return "gap: " + gap
	}
	var vals []float64
	for _, s := range series {
		if n := len(s.Samples); n > 0 {
			vals = append(vals, s.Samples[n-1].Value)
		}
	}
	if len(vals) == 0 {
		return "(empty)"
	}
	if len(vals) == 1 {
		return fmt.Sprintf("%.4g", vals[0])
	}
	sort.Float64s(vals)
	return fmt.Sprintf("%.4g..%.4g over %d series", vals[0], vals[len(vals)-1], len(vals))
}

func eventText(ev *result.Event) string {
	verb := "injected"
	if ev.Type == result.EventRevert {
		verb = "reverted"
	}
	s := fmt.Sprintf("%s %s (%s) on %s", verb, ev.Fault, ev.Kind, ev.Target.Name)
	switch {
	case ev.TargetGone:
		s += ": target gone"
	case ev.Error != "":
		s += ": ERROR " + ev.Error
	default:
		s += fmt.Sprintf(", %s after plan", ev.Actual.Sub(ev.Planned).Round(time.Millisecond))
	}
	return s
}

func unitSuffix(unit string) string {
	if unit == "" {
		return ""
	}
	return " " + unit
}

func fmtClock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}
