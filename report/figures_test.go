package report_test

import (
	"bytes"
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/faultline/faultline/report"
	"github.com/faultline/faultline/result"
)

// TestPhaseFiguresAndScrapeTimesAreShown: every human format shows a metric's phase
// figures as a table (a figure per phase and series, the reason where there is none)
// and says when times to impact and recover come from scrape times. A metric name,
// labels and a gap's reason are text from outside: inert in html and Markdown.
func TestPhaseFiguresAndScrapeTimesAreShown(t *testing.T) {
	t.Parallel()
	r := fixture(145, 0.01)
	checkout := &r.Metrics[0].Series[0]
	if checkout.TimeToImpactSeconds == nil || !checkout.Recovered {
		t.Fatalf("the fixture's checkout series should have an impact and a recovery: %+v", checkout)
	}
	checkout.TimesFrom = "scrape times"

	m := &r.Metrics[1]
	m.Name = `error_ratio<img src=x onerror=alert(1)>`
	m.PhaseQuery = `sum(increase(http_requests_total{code=~"5.."}[$__phase])) / sum(increase(http_requests_total[$__phase]))`
	v := func(x float64) *float64 { return &x }
	hostile := map[string]string{"route": "<b>/pay</b>"}
	m.PhaseFigures = []result.PhaseFigure{
		{Phase: result.PhaseBaseline, At: at(60), Query: "q", Value: v(0.0013)},
		{Phase: result.PhaseBaseline, At: at(60), Query: "q", Labels: hostile, Value: v(0.25)},
		{Phase: result.PhaseFault, At: at(120), Query: "q", Value: v(0.0871)},
		{Phase: result.PhaseFault, At: at(120), Query: "q", Labels: hostile, Gap: "empty result <i>none</i>"},
		{Phase: result.PhaseRecovery, At: at(180), Query: "q", Value: v(0.0021)},
	}

	for _, format := range []string{"text", "md", "html"} {
		var buf bytes.Buffer
		if err := report.Render(&buf, format, r); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		plain := out
		if format != "text" {
			plain = html.UnescapeString(out) // html/template and md() write < as &lt;
		}
		for _, want := range []string{"0.0013", "0.0871", "0.0021", "0.25", "no value (empty result <i>none</i>)", "(scrape times)"} {
			if !strings.Contains(plain, want) {
				t.Errorf("%s report lacks %q", format, want)
			}
		}
		// Series without a figure in a phase show "-"; the table keeps one row per
		// series, the hostile one's recovery column empty.
		var table, row, note *regexp.Regexp
		switch format {
		case "text":
			table = regexp.MustCompile(`over each whole phase \(phase_query sum\(increase\(http_requests_total\{code=~"5\.\."\}\[\$__phase\]\)\)`)
			row = regexp.MustCompile(`\{route="<b>/pay</b>"\}\s+0\.25\s+no value \(empty result <i>none</i>\)\s+-\n`)
			note = regexp.MustCompile(`impact after [^;\n]+ \(scrape times\); recovered after [^\n]+ \(scrape times\)\n`)
		case "md":
			table = regexp.MustCompile("### Over each whole phase\n\n[^\n]*\n\n\\| metric \\| series \\| baseline \\| fault \\| recovery \\|\n\\|---\\|---\\|---\\|---\\|---\\|\n" +
				`\| error\\_ratio&lt;img src=x onerror=alert\(1\)&gt; \| \{\} \| 0\.0013 \| 0\.0871 \| 0\.0021 \|` + "\n")
			row = regexp.MustCompile(`\|  \| \{route="&lt;b&gt;/pay&lt;/b&gt;"\} \| 0\.25 \| no value \(empty result &lt;i&gt;none&lt;/i&gt;\) \| - \|` + "\n")
			note = regexp.MustCompile(`\| p99\\_latency \| \{route="/checkout"\} \|[^\n]*\| [0-9.ms]+ \(scrape times\) \| [0-9.ms]+ \(scrape times\) \|` + "\n")
		case "html":
			table = regexp.MustCompile(`<h3>Over each whole phase</h3>\s*<p class="meta"><code>sum\(increase\(http_requests_total\{code=~&#34;5\.\.&#34;\}\[\$__phase\]\)\) / `)
			row = regexp.MustCompile(`<tr><td><code>\{route=&#34;&lt;b&gt;/pay&lt;/b&gt;&#34;\}</code></td><td class="n">0\.25</td><td class="n">no value \(empty result &lt;i&gt;none&lt;/i&gt;\)</td><td class="n">-</td></tr>`)
			note = regexp.MustCompile(`impact after [^;<]+ \(scrape times\); recovered after [^.<]+(\.\d+)?s \(scrape times\)\.`)
		}
		for what, re := range map[string]*regexp.Regexp{"phase figures table": table, "hostile series row with its gap": row, "scrape times note": note} {
			if !re.MatchString(out) {
				t.Errorf("%s report lacks the %s (%s)\n%s", format, what, re, out)
			}
		}
		// Only the series refined to scrape times says so.
		if n := strings.Count(out, "(scrape times)"); n != 2 {
			t.Errorf("%s report says (scrape times) %d times, want 2 (impact and recovery of one series)", format, n)
		}
		if format != "text" {
			for _, raw := range []string{"<img src=x", "<b>/pay</b>", "<i>none</i>"} {
				if strings.Contains(out, raw) {
					t.Errorf("%s report holds raw markup %q", format, raw)
				}
			}
		}
	}
}
