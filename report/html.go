package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"

	"github.com/faultline/faultline/result"
)

//go:embed report.html.tmpl
var htmlTemplateText string

// The HTML report is one self-contained file: no scripts, inline styles only, inline
// SVG charts, and a Content-Security-Policy that forbids every request. Everything from
// the experiment or from labels goes through html/template's escaping.
var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"num":       num,
	"scoreText": func(s result.Score) string { return s.Text(num) },
	"scoreNum": func(s result.Score) string {
		if v, ok := s.Known(); ok {
			return num(v)
		}
		return "–"
	},
	"numUnit":  numUnit,
	"signed":   signed,
	"pct":      pct,
	"pvalue":   pvalue,
	"secs":     secs,
	"optSecs":  optSecs,
	"series":   seriesName,
	"impact":   impactText,
	"recovery": recoveryText,
	"impactAt": impactAtText,
	"figures":  phaseFigureRows,
	"band":     bandText,
	"status":   statusWord,
	"evType":   eventType,
	"lost":     lostOutcome,
	"utc":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"dur":      func(a, b time.Time) string { return b.Sub(a).Round(time.Millisecond).String() },
}).Parse(htmlTemplateText))

type htmlView struct {
	*result.Result
	Off    func(time.Time) string
	Charts map[string]chart
	Phases []phaseSpan
}

func renderHTML(w io.Writer, r *result.Result) error {
	v := htmlView{Result: r, Off: func(t time.Time) string { return offset(r, t) }, Charts: map[string]chart{}, Phases: phases(r)}
	for i := range r.Metrics {
		v.Charts[r.Metrics[i].Name] = buildChart(r, &r.Metrics[i])
	}
	if err := htmlTemplate.Execute(w, v); err != nil {
		return fmt.Errorf("render html: %w", err)
	}
	return nil
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH                       = 860.0, 280.0
	padLeft, padRight, padTop, padBottom = 64.0, 30.0, 26.0, 34.0
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"}

type chart struct {
	W, H       float64
	Left, Top  float64
	PlotW      float64
	PlotH      float64
	Bottom     float64
	Right      float64
	MidX, MidY float64
	Windows    []chartRect
	Phases     []chartRect
	Gaps       []chartRect
	Lines      []chartLine
	Thresholds []chartThreshold
	XTicks     []chartTick
	YTicks     []chartTick
	Empty      bool
}

type chartRect struct {
	X, W   float64
	Label  string
	LabelX float64
}

type chartLine struct {
	D     string // SVG path data; a gap starts a new segment
	Color string
	Name  string
	Dots  []chartTick // single points (a series with one sample shows as a dot)
}

type chartThreshold struct {
	Y     float64
	Label string
}

type chartTick struct {
	X, Y  float64
	Label string
}

// threshold is a bound drawn on a chart, with the checks that set it.
type threshold struct {
	v     float64
	label string
}

// checkThresholds are the bounds of the checks on metric, one line per bound and
// direction even when several checks share it ("a, b ≤ 1").
func checkThresholds(checks []result.CheckResult, metric string) []threshold {
	var out []threshold
	var names [][]string
	at := map[string]int{} // op and value -> index in out
	add := func(op string, v float64, name string) {
		key := op + " " + num(v)
		i, ok := at[key]
		if !ok {
			i = len(out)
			at[key] = i
			out = append(out, threshold{v: v, label: key})
			names = append(names, nil)
		}
		names[i] = append(names[i], name)
	}
	for _, ch := range checks {
		if ch.Metric != metric {
			continue
		}
		if ch.High != nil {
			add("≤", *ch.High, ch.Name)
		}
		if ch.Low != nil {
			add("≥", *ch.Low, ch.Name)
		}
	}
	for i := range out {
		out[i].label = strings.Join(names[i], ", ") + " " + out[i].label
	}
	return out
}

// niceRange widens [lo, hi] a little and to multiples of a round tick (1, 2 or 5
// times a power of ten), about four ticks apart; it does not go below 0 for values
// that do not.
func niceRange(lo, hi float64) (float64, float64, float64) {
	raw := (hi - lo) / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	tick := mag * 10
	for _, m := range []float64{1, 2, 5} {
		if raw <= m*mag {
			tick = m * mag
			break
		}
	}
	nlo, nhi := math.Floor(lo/tick)*tick, math.Ceil(hi/tick)*tick
	if nlo == lo && lo != 0 {
		nlo -= tick // room under the lowest value
	}
	if lo >= 0 && nlo < 0 {
		nlo = 0
	}
	if nhi == hi {
		nhi += tick
	}
	return nlo, nhi, tick
}

func buildChart(r *result.Result, m *result.Metric) chart {
	c := chart{W: chartW, H: chartH, Left: padLeft, Top: padTop, PlotW: chartW - padLeft - padRight, PlotH: chartH - padTop - padBottom}
	c.Bottom, c.Right = c.Top+c.PlotH, c.Left+c.PlotW
	c.MidX, c.MidY = c.Left+c.PlotW/2, c.Top+c.PlotH/2
	t0, t1 := r.Timeline.BaselineStart, r.Timeline.RecoveryEnd
	lo, hi := math.Inf(1), math.Inf(-1)
	samples := 0
	for _, s := range m.Series {
		for _, p := range s.Samples {
			samples++
			if !math.IsInf(p.Value, 0) { // ±Inf is drawn on the edge, not scaled to
				lo, hi = math.Min(lo, p.Value), math.Max(hi, p.Value)
			}
			if p.Time.Before(t0) {
				t0 = p.Time
			}
			if p.Time.After(t1) {
				t1 = p.Time
			}
		}
	}
	thresholds := checkThresholds(r.Checks, m.Name)
	for _, th := range thresholds {
		lo, hi = math.Min(lo, th.v), math.Max(hi, th.v)
	}
	if math.IsInf(lo, 1) {
		c.Empty = samples == 0
		lo, hi = 0, 1
	}
	if hi == lo {
		d := math.Max(math.Abs(hi)*0.1, 1)
		lo, hi = lo-d, hi+d
		if lo < 0 && hi-d >= 0 {
			lo = 0 // a flat non-negative series: no negative axis
		}
	}
	lo, hi, tick := niceRange(lo, hi)
	if !t1.After(t0) {
		t1 = t0.Add(time.Second)
	}
	span := t1.Sub(t0).Seconds()
	x := func(t time.Time) float64 { return c.Left + c.PlotW*t.Sub(t0).Seconds()/span }
	y := func(v float64) float64 {
		switch {
		case math.IsInf(v, 1):
			return c.Top // off the scale: on the top edge
		case math.IsInf(v, -1):
			return c.Bottom
		}
		return c.Top + c.PlotH*(1-(v-lo)/(hi-lo))
	}
	rect := func(a, b time.Time, label string) chartRect {
		xa, xb := x(a), x(b)
		if xb-xa < 2 {
			xb = xa + 2 // an instant fault still shows
		}
		return chartRect{X: xa, W: xb - xa, Label: label, LabelX: (xa + xb) / 2}
	}

	for _, p := range phases(r) {
		c.Phases = append(c.Phases, rect(p.Start, p.End, p.Name))
	}
	for _, in := range r.Timeline.Injections {
		c.Windows = append(c.Windows, rect(in.Start, in.End, in.Fault))
	}
	if len(c.Windows) == 0 && r.Timeline.FaultEnd.After(r.Timeline.FaultStart) {
		c.Windows = append(c.Windows, rect(r.Timeline.FaultStart, r.Timeline.FaultEnd, "fault"))
	}
	for _, g := range m.Gaps {
		c.Gaps = append(c.Gaps, rect(g.Start, g.End, g.Reason))
	}
	for i, s := range m.Series {
		ln := chartLine{Color: palette[i%len(palette)], Name: seriesName(s.Labels)}
		// A gap breaks the line: consecutive samples further apart than twice the step are
		// not joined.
		step := time.Duration(r.Experiment.StepSeconds * float64(time.Second))
		var seg []chartTick
		flush := func() {
			if len(seg) == 1 {
				ln.Dots = append(ln.Dots, seg[0])
			} else {
				for j, p := range seg {
					op := " L"
					if j == 0 {
						op = " M"
					}
					ln.D += fmt.Sprintf("%s%.1f,%.1f", op, p.X, p.Y)
				}
			}
			seg = nil
		}
		for j, p := range s.Samples {
			if j > 0 && step > 0 && p.Time.Sub(s.Samples[j-1].Time) > 2*step {
				flush()
			}
			seg = append(seg, chartTick{X: x(p.Time), Y: y(p.Value)})
		}
		flush()
		c.Lines = append(c.Lines, ln)
	}
	for _, th := range thresholds {
		c.Thresholds = append(c.Thresholds, chartThreshold{Y: y(th.v), Label: th.label})
	}
	for k := 0.0; lo+k*tick <= hi+tick/2; k++ {
		v := math.Round((lo+k*tick)/tick) * tick // no 0.30000000000000004
		c.YTicks = append(c.YTicks, chartTick{X: c.Left - 6, Y: math.Round(y(v)*10) / 10, Label: num(v)})
	}
	for i := 0; i <= 6; i++ {
		t := t0.Add(time.Duration(float64(t1.Sub(t0)) * float64(i) / 6))
		c.XTicks = append(c.XTicks, chartTick{X: x(t), Y: c.Bottom + 16, Label: "+" + t.Sub(r.Timeline.BaselineStart).Round(time.Second).String()})
	}
	return c
}
