package report_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline/faultline/report"
	"github.com/faultline/faultline/result"
)

var update = flag.Bool("update", false, "rewrite the golden files and the stored results in testdata/")

// goldenResults are the results every format is rendered from; testdata/*.json is also
// what the cmd tests read.
var goldenResults = map[string]func() *result.Result{
	"result":           func() *result.Result { return fixture(145, 0.01) },
	"result-regressed": func() *result.Result { return fixture(165, 0.08) },
}

func TestGolden(t *testing.T) {
	for name, build := range goldenResults {
		r := build()
		for _, format := range report.Formats {
			t.Run(name+"/"+format, func(t *testing.T) {
				var buf bytes.Buffer
				if err := report.Render(&buf, format, r); err != nil {
					t.Fatalf("Render(%s): %v", format, err)
				}
				path := filepath.Join("testdata", name+report.Extension(format))
				if *update {
					if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./report -update to create it)", err)
				}
				if !bytes.Equal(buf.Bytes(), want) {
					t.Errorf("%s differs from %s; if the change is intended, run go test ./report -update and review the diff\n%s",
						format, path, firstDiff(buf.String(), string(want)))
				}
			})
		}
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + gl + "\nwant: " + wl
		}
	}
	return ""
}

func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	r := fixture(145, 0.01)
	var buf bytes.Buffer
	if err := result.WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := result.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := result.WriteJSON(&again, back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("a result read back does not write the same JSON")
	}
	var generic map[string]any
	if err := json.Unmarshal(buf.Bytes(), &generic); err != nil || generic["schema_version"] != float64(result.SchemaVersion) {
		t.Errorf("schema_version missing from the JSON: %v %v", generic["schema_version"], err)
	}
}

func TestReadFileRejects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct{ name, content, want string }{
		{"not json", "hello", "is not a faultline result"},
		{"no schema", `{"status":"passed"}`, "has no schema_version"},
		{"newer schema", `{"schema_version": 99}`, "upgrade faultline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(dir, tt.name+".json")
			os.WriteFile(p, []byte(tt.content), 0o644)
			if _, err := result.ReadFile(p); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ReadFile error %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := result.ReadFile(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
}

func TestRenderUnknownFormat(t *testing.T) {
	t.Parallel()
	err := report.Render(&bytes.Buffer{}, "pdf", fixture(145, 0.01))
	if !errors.Is(err, report.ErrUnknownFormat) || !strings.Contains(err.Error(), "text, json, md, html, junit") {
		t.Errorf("Render(pdf) = %v", err)
	}
}

// Markup from labels and from the experiment must be inert in every format.
func TestRenderEscapes(t *testing.T) {
	t.Parallel()
	r := fixture(145, 0.01)
	for _, format := range []string{"html", "md", "junit"} {
		var buf bytes.Buffer
		if err := report.Render(&buf, format, r); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, raw := range []string{"<script>", "<b>checkout</b>", "<i>while</i>", "<its revert"} {
			if strings.Contains(out, raw) {
				t.Errorf("%s output contains raw markup %q", format, raw)
			}
		}
	}
	var html bytes.Buffer
	report.Render(&html, "html", r)
	if !strings.Contains(html.String(), "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the script label should be shown as text")
	}
}

func TestHTMLIsSelfContained(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := report.Render(&buf, "html", fixture(165, 0.08)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`) {
		t.Error("no CSP meta tag forbidding requests")
	}
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?\s*(https?:)?//`).FindString(out); m != "" {
		t.Errorf("the report loads a resource: %s", m)
	}
	if strings.Contains(strings.ToLower(out), "<script") || strings.Contains(out, "@import") {
		t.Error("the report has a script or an imported stylesheet")
	}
	if n := strings.Count(out, "<svg"); n != 2 {
		t.Errorf("want one chart per metric (2), got %d", n)
	}
	for _, want := range []string{`fill="#d62728" fill-opacity="0.12"`, `stroke-dasharray="6 4"`, `>baseline</text>`, `>fault</text>`, `>recovery</text>`, "latency_recovers ≤ 0.5"} {
		if !strings.Contains(out, want) {
			t.Errorf("chart lacks %q (fault windows, thresholds, phase labels)", want)
		}
	}
}

func TestJUnitParses(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := report.Render(&buf, "junit", fixture(165, 0.08)); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suite    struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("junit is not XML: %v", err)
	}
	if doc.Tests != 3 || doc.Failures != 3 || len(doc.Suite.Cases) != 3 {
		t.Errorf("want 3 cases, all failing in the regressed fixture; got tests=%d failures=%d cases=%d", doc.Tests, doc.Failures, len(doc.Suite.Cases))
	}
}
