package serve

import (
	"embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/serve/history"
)

//go:embed templates/*.tmpl
var templateFiles embed.FS

func (s *Service) templates() *template.Template {
	loc := s.file.Server.Location
	funcs := template.FuncMap{
		"zone": func() string { return loc.String() },
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "–"
			}
			return t.In(loc).Format("2006-01-02 15:04:05 MST")
		},
		"score": func(v *float64) string {
			if v == nil {
				return "–"
			}
			return fmt.Sprintf("%.1f", *v)
		},
		"duration": func(r history.Run) string {
			d := r.Duration()
			if d <= 0 {
				return "–"
			}
			return d.Round(time.Second).String()
		},
		"short": func(h string) string {
			if h == "" {
				return "none"
			}
			return h[:min(12, len(h))]
		},
		"join": strings.Join,
	}
	return template.Must(template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/*.tmpl"))
}

// page is what every page's layout reads.
type page map[string]any

func (s *Service) render(w http.ResponseWriter, r *http.Request, name string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	id, loggedIn := s.auth.session(r)
	data["LoggedIn"] = loggedIn
	data["CSRF"] = ""
	if loggedIn {
		data["CSRF"] = s.auth.csrf(id)
	}
	data["Halted"] = s.Halted()
	if _, ok := data["Title"]; !ok {
		data["Title"] = name
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.tmpl.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error("render a page", "page", name, "err", err)
	}
}

type runningView struct {
	ID, Experiment, Schedule string
	Started                  time.Time
	Faults                   string
}

func (s *Service) runningViews() []runningView {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []runningView
	for _, run := range s.running {
		var fs []string
		for _, ev := range run.faults {
			fs = append(fs, fmt.Sprintf("%s %s on %s", ev.Kind, ev.Fault, ev.Target.Name))
		}
		sort.Strings(fs)
		out = append(out, runningView{ID: run.id, Experiment: run.experiment, Schedule: run.schedule, Started: run.started, Faults: strings.Join(fs, ", ")})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *Service) pageRuns(w http.ResponseWriter, r *http.Request) {
	exp := r.URL.Query().Get("experiment")
	runs, err := s.store.List(history.Filter{Experiment: exp})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	names, _ := s.store.Experiments()
	s.render(w, r, "runs", page{"Title": "Runs", "Runs": runs, "Experiments": names, "Experiment": exp, "Running": s.runningViews()})
}

func (s *Service) pageRun(w http.ResponseWriter, r *http.Request) {
	run, err := s.store.Get(r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), statusOf(err))
		return
	}
	s.render(w, r, "run", page{"Title": "Run " + run.ID, "Run": run})
}

func (s *Service) pageExperiment(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	runs, err := s.store.List(history.Filter{Experiment: name, Limit: 500})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var scores, recoveries []point
	for i := len(runs) - 1; i >= 0; i-- { // oldest first
		run := runs[i]
		if run.Score != nil {
			scores = append(scores, point{run.Started, *run.Score, run.ID, run.Status})
		}
		if run.TimeToRecover != nil {
			recoveries = append(recoveries, point{run.Started, *run.TimeToRecover, run.ID, run.Status})
		}
	}
	loc := s.file.Server.Location
	s.render(w, r, "experiment", page{"Title": "Experiment " + name, "Name": name, "Runs": runs,
		"ScoreChart":    trendChart(scores, "score", 100, loc),
		"RecoveryChart": trendChart(recoveries, "s", 0, loc)})
}

func (s *Service) pageSchedules(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "schedules", page{"Title": "Schedules", "Schedules": s.Schedules(), "Started": r.URL.Query().Get("started")})
}

func (s *Service) pageLogin(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "login", page{"Title": "Log in", "Next": safeNext(r.URL.Query().Get("next"))})
}

type point struct {
	t      time.Time
	v      float64
	run    string
	status string
}

// trendChart draws values over time as an inline SVG line with a dot per run (a
// title on each names the run). fixedMax > 0 fixes the top of the axis.
func trendChart(pts []point, unit string, fixedMax float64, loc *time.Location) template.HTML {
	if len(pts) == 0 {
		return template.HTML(`<p class="muted">No run has a value yet.</p>`)
	}
	const w, h, left, right, top, bottom = 900.0, 220.0, 50.0, 20.0, 15.0, 30.0
	maxV := fixedMax
	if maxV <= 0 {
		for _, p := range pts {
			maxV = math.Max(maxV, p.v)
		}
		maxV = niceCeil(maxV)
	}
	t0, t1 := pts[0].t, pts[len(pts)-1].t
	span := t1.Sub(t0).Seconds()
	x := func(i int, t time.Time) float64 {
		if span <= 0 {
			if len(pts) == 1 {
				return left + (w-left-right)/2
			}
			return left + float64(i)/float64(len(pts)-1)*(w-left-right)
		}
		return left + t.Sub(t0).Seconds()/span*(w-left-right)
	}
	y := func(v float64) float64 { return top + (1-v/maxV)*(h-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" width="100%%" role="img" aria-label="trend of %s" xmlns="http://www.w3.org/2000/svg">`, w, h, template.HTMLEscapeString(unit))
	for i := 0; i <= 4; i++ {
		v := maxV * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e3e6eb"/><text x="%.1f" y="%.1f" font-size="11" text-anchor="end" fill="#5b6473">%s</text>`,
			left, w-right, y(v), y(v), left-6, y(v)+4, template.HTMLEscapeString(trimNum(v)))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="#5b6473">%s</text>`, left, h-8, template.HTMLEscapeString(t0.In(loc).Format("2006-01-02 15:04")))
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="end" fill="#5b6473">%s</text>`, w-right, h-8, template.HTMLEscapeString(t1.In(loc).Format("2006-01-02 15:04")))
	var path strings.Builder
	for i, p := range pts {
		cmd := "L"
		if i == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, x(i, p.t), y(p.v))
	}
	fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="#2f5dab" stroke-width="2"/>`, strings.TrimSpace(path.String()))
	for i, p := range pts {
		colour := "#2f5dab"
		if p.status != "passed" {
			colour = "#b3261e"
		}
		fmt.Fprintf(&b, `<a href="/runs/%s"><circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s: %s %s (%s)</title></circle></a>`,
			template.HTMLEscapeString(p.run), x(i, p.t), y(p.v), colour, template.HTMLEscapeString(p.run),
			template.HTMLEscapeString(trimNum(p.v)), template.HTMLEscapeString(unit), template.HTMLEscapeString(p.status))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every outside string above is escaped
}

func trimNum(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}
