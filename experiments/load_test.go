package experiments

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/hashicorp/hcl/v2"
)

// expectation is one diagnostic a testdata file announces on its offending line with
// "# ERROR: summary" or "# WARNING: summary".
type expectation struct {
	Severity string
	Line     int
	Summary  string
}

// Several may share a line: "# ERROR: one # ERROR: two".
var expectComment = regexp.MustCompile(`#\s*(ERROR|WARNING):\s*([^#]+?)\s*(?:$|#)`)

func expectations(t *testing.T, src []byte) []expectation {
	t.Helper()
	var out []expectation
	sc := bufio.NewScanner(bytes.NewReader(src))
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		for {
			loc := expectComment.FindStringSubmatchIndex(text)
			if loc == nil {
				break
			}
			out = append(out, expectation{Severity: text[loc[2]:loc[3]], Line: line, Summary: text[loc[4]:loc[5]]})
			text = text[loc[5]:]
		}
	}
	return out
}

func gotExpectations(t *testing.T, diags hcl.Diagnostics) []expectation {
	t.Helper()
	var out []expectation
	for _, d := range diags {
		if d.Subject == nil {
			t.Errorf("diagnostic without a source range: %s: %s", d.Summary, d.Detail)
			continue
		}
		sev := "ERROR"
		if d.Severity == hcl.DiagWarning {
			sev = "WARNING"
		}
		out = append(out, expectation{Severity: sev, Line: d.Subject.Start.Line, Summary: d.Summary})
	}
	return out
}

func sortExpectations(e []expectation) {
	sort.Slice(e, func(i, j int) bool {
		if e[i].Line != e[j].Line {
			return e[i].Line < e[j].Line
		}
		return e[i].Summary < e[j].Summary
	})
}

func testdataFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no testdata in testdata/%s", dir)
	}
	return files
}

// noEnv keeps the developer's FAULTLINE_VAR_* variables out of the tests.
func noEnv(string) string { return "" }

// TestErrorFiles loads every file in testdata/errors and compares its diagnostics,
// line and summary, with the ones announced in the file.
func TestErrorFiles(t *testing.T) {
	t.Parallel()
	distinct := map[string]bool{}
	for _, path := range testdataFiles(t, "errors") {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := expectations(t, src)
		if len(want) == 0 {
			t.Fatalf("%s announces no diagnostic", path)
		}
		for _, w := range want {
			distinct[fmt.Sprintf("%s:%d", path, w.Line)] = true
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			exp, _, diags := LoadSource(path, src, LoadOptions{Getenv: noEnv})
			if want[0].Severity == "ERROR" && exp != nil {
				t.Errorf("an experiment with errors was returned")
			}
			got := gotExpectations(t, diags)
			sortExpectations(want)
			sortExpectations(got)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("diagnostics differ\n got: %v\nwant: %v\nall:\n%s", got, want, diagText(diags))
			}
		})
	}
	// Each announced diagnostic is a distinct mistake on its own line.
	if len(distinct) < 40 {
		t.Errorf("testdata/errors covers %d mistakes; keep at least 40", len(distinct))
	}
}

func diagText(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&b, "  %s: %s: %s\n", d.Subject, d.Summary, d.Detail)
	}
	return b.String()
}

// TestValidFiles loads every file in testdata/valid: no diagnostic at all.
func TestValidFiles(t *testing.T) {
	t.Parallel()
	for _, path := range testdataFiles(t, "valid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			exp, _, diags := Load(path, LoadOptions{Getenv: noEnv})
			if len(diags) > 0 {
				t.Fatalf("unexpected diagnostics:\n%s", diagText(diags))
			}
			if exp == nil || exp.Name == "" || len(exp.Faults) == 0 {
				t.Fatalf("loaded experiment is incomplete: %+v", exp)
			}
		})
	}
}

// TestInvalidFiles loads every file in testdata/invalid, which are too broken to say
// where each mistake is: each must give at least one error, and never an experiment.
func TestInvalidFiles(t *testing.T) {
	t.Parallel()
	for _, path := range testdataFiles(t, "invalid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			exp, _, diags := Load(path, LoadOptions{Getenv: noEnv})
			if !diags.HasErrors() {
				t.Fatalf("no error for an invalid file")
			}
			if exp != nil {
				t.Fatalf("an experiment was returned for an invalid file")
			}
		})
	}
}

// TestExamples loads every experiment under examples/, so that examples never rot.
func TestExamples(t *testing.T) {
	t.Parallel()
	var files []string
	err := filepath.WalkDir(filepath.Join("..", "examples"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, "gameday.hcl") {
			return nil // a game-day file, not an experiment: serve/gameday loads it
		}
		if !d.IsDir() && strings.HasSuffix(path, ".hcl") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 6 {
		t.Fatalf("examples/ holds %d experiments; it should hold at least six", len(files))
	}
	kinds := map[string]bool{}
	blocks := map[string]bool{}
	for _, path := range files {
		exp, _, _ := Load(path, LoadOptions{Getenv: noEnv})
		if exp == nil {
			continue // reported below
		}
		for _, f := range exp.Faults {
			kinds[f.Kind] = true
		}
		src, _ := os.ReadFile(path)
		for _, b := range []string{"variable", "locals", "experiment", "prometheus", "target", "fault", "metric", "check", "abort", "basic_auth", "tls"} {
			if regexp.MustCompile(`(?m)^\s*` + b + `\b[^=]*\{`).Match(src) {
				blocks[b] = true
			}
		}
	}
	for _, k := range faults.KindNames() {
		if !kinds[k] {
			t.Errorf("no example uses the fault kind %q", k)
		}
	}
	for _, b := range []string{"variable", "locals", "experiment", "prometheus", "target", "fault", "metric", "check", "abort", "basic_auth", "tls"} {
		if !blocks[b] {
			t.Errorf("no example uses a %s block", b)
		}
	}
	for _, path := range files {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			exp, _, diags := Load(path, LoadOptions{Getenv: noEnv})
			if len(diags) > 0 {
				t.Fatalf("diagnostics:\n%s", diagText(diags))
			}
			src, _ := os.ReadFile(path)
			if !bytes.HasPrefix(src, []byte("#")) {
				t.Errorf("an example starts with a comment saying what it demonstrates")
			}
			if exp.Description == "" {
				t.Errorf("experiment %q has no description", exp.Name)
			}
		})
	}
}

// TestUnknownPromQLFunctionIsAWarning: a function this parser does not know may exist
// on a newer server; preflight decides, so loading only warns.
func TestUnknownPromQLFunctionIsAWarning(t *testing.T) {
	src := `experiment "x" {}
prometheus { url = "http://127.0.0.1:9090" }
target "a" { name = "^a$" }
fault "pause" "p" {
  target   = target.a
  duration = "10s"
}
metric "m" { query = "frobnicate(up)" }
`
	exp, _, diags := LoadSource("x.hcl", []byte(src), LoadOptions{})
	if diags.HasErrors() || exp == nil {
		t.Fatalf("errors for an unknown function: %s", diags.Error())
	}
	if len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || !strings.Contains(diags[0].Detail, `"frobnicate"`) {
		t.Fatalf("diagnostics %v, want one warning naming the function", diags)
	}
}

// TestSharedTargetClashes: two target blocks that picked the same container cannot
// both pause it at once; picking different containers, or one after the other, can.
func TestSharedTargetClashes(t *testing.T) {
	src := `experiment "x" {
  baseline = "10s"
  recovery = "10s"
}
target "web" { name = "^web" }
target "any" { name = "." }
fault "pause" "freeze_web" {
  target   = target.web
  duration = "20s"
}
fault "pause" "freeze_any" {
  target   = target.any
  start    = "10s"
  duration = "20s"
}
fault "delay" "slow_any" {
  target   = target.any
  duration = "20s"
  latency  = "10ms"
}
`
	exp, _, diags := LoadSource("x.hcl", []byte(src), LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	web1 := faults.Target{ID: "id-web-1", Name: "web-1"}
	db := faults.Target{ID: "id-db", Name: "db"}
	p := NewPlan(exp)
	p.Targets = map[string][]faults.Target{"web": {web1}, "any": {db}}
	if err := p.SharedTargetClashes(); err != nil {
		t.Fatalf("different containers: %v", err)
	}
	p.Targets["any"] = []faults.Target{db, web1}
	err := p.SharedTargetClashes()
	if !errors.Is(err, ErrTargetsClash) || !strings.Contains(err.Error(), "container web-1") ||
		!strings.Contains(err.Error(), `"freeze_web"`) || strings.Contains(err.Error(), "slow_any") {
		t.Fatalf("err = %v, want a clash of the two pauses on web-1 only", err)
	}
	exp.Faults[1].Start = 20 * time.Second // now after freeze_web ends
	p = NewPlan(exp)
	p.Targets = map[string][]faults.Target{"web": {web1}, "any": {db, web1}}
	if err := p.SharedTargetClashes(); err != nil {
		t.Fatalf("one after the other: %v", err)
	}
}

// TestOverlapCheckIsLinear: many faults that all overlap on one target get one
// diagnostic each, not one per pair (500 faults made 124,750 errors and 86 MB of
// JSON), and a load of them reports the first MaxDiagnostics.
func TestOverlapCheckIsLinear(t *testing.T) {
	t.Parallel()
	const n = 2000
	exp := &Experiment{Baseline: time.Minute, Recovery: time.Minute, Step: 5 * time.Second}
	for i := 0; i < n; i++ {
		exp.Faults = append(exp.Faults, &FaultSpec{Kind: "pause", Name: fmt.Sprintf("p%d", i), Target: "a",
			Start: time.Duration(i) * time.Millisecond, Duration: time.Minute,
			DeclRange: hcl.Range{Filename: "x.hcl", Start: hcl.Pos{Line: i + 1}}})
	}
	diags := overlappingHolds(NewPlan(exp))
	if len(diags) != n-1 {
		t.Fatalf("%d diagnostics for %d overlapping faults, want %d: one for each but the first", len(diags), n, n-1)
	}
	seen := map[hcl.Range]bool{}
	for _, d := range diags {
		seen[*d.Subject] = true
	}
	if len(seen) != n-1 {
		t.Errorf("%d faults named, want %d", len(seen), n-1)
	}

	var b strings.Builder
	b.WriteString("experiment \"x\" {}\ntarget \"a\" { name = \"^a$\" }\n")
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&b, "fault \"pause\" \"p%d\" {\n  target   = target.a\n  start    = \"%dms\"\n  duration = \"10s\"\n}\n", i, i)
	}
	_, _, ld := LoadSource("x.hcl", []byte(b.String()), LoadOptions{Getenv: noEnv})
	if len(ld) != MaxDiagnostics+1 || !strings.Contains(ld[MaxDiagnostics].Detail, "399 errors") {
		t.Fatalf("%d diagnostics, want %d ending with a count of 399 more errors: %v", len(ld), MaxDiagnostics+1, ld[len(ld)-1])
	}
}

// TestSharedTargetPartitionClashes: two partitions of one target to two target blocks
// that picked the same container would add the same route twice; only the resolved
// plan shows it.
func TestSharedTargetPartitionClashes(t *testing.T) {
	t.Parallel()
	src := `experiment "x" {}
target "web" { name = "^web" }
target "db" { name = "^db" }
target "replica" { name = "db" }
fault "partition" "from_db" {
  target   = target.web
  duration = "20s"
  to       = [target.db]
}
fault "partition" "from_replica" {
  target   = target.web
  start    = "10s"
  duration = "20s"
  to       = [target.replica]
}
`
	exp, _, diags := LoadSource("x.hcl", []byte(src), LoadOptions{Getenv: noEnv})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	web := faults.Target{ID: "id-web", Name: "web"}
	db := faults.Target{ID: "id-db", Name: "db"}
	replica := faults.Target{ID: "id-replica", Name: "replica-db"}
	p := NewPlan(exp)
	p.Targets = map[string][]faults.Target{"web": {web}, "db": {db}, "replica": {replica}}
	if err := p.SharedTargetClashes(); err != nil {
		t.Fatalf("different containers: %v", err)
	}
	p.Targets["replica"] = []faults.Target{replica, db}
	err := p.SharedTargetClashes()
	if !errors.Is(err, ErrTargetsClash) || !strings.Contains(err.Error(), "cut the route of container web to container db") {
		t.Fatalf("err = %v, want the route from web to db cut twice", err)
	}
}

// TestObservationDefaults: without a prometheus block a metric is evaluated on the
// embedded store, with one on the server, wherever the block is in the file; source
// says otherwise. Scrapes and probes without an interval run every step.
func TestObservationDefaults(t *testing.T) {
	t.Parallel()
	exp, _, diags := Load("testdata/valid/embedded.hcl", LoadOptions{Getenv: noEnv})
	if len(diags) > 0 || exp == nil {
		t.Fatalf("embedded.hcl: %s", diagText(diags))
	}
	if exp.Prometheus != nil || exp.Step != time.Second || exp.Step == DefaultStep {
		t.Fatalf("embedded.hcl should have no prometheus block and a step of 1s, not the default: %+v", exp)
	}
	for _, m := range exp.Metrics {
		if m.Source != SourceLocal {
			t.Errorf("metric.%s source = %q without a prometheus block, want %q", m.Name, m.Source, SourceLocal)
		}
	}
	intervals := map[string]time.Duration{}
	for _, s := range exp.Scrapes {
		intervals["scrape "+s.Job] = s.Interval
	}
	for _, p := range exp.Probes {
		built, err := p.Build()
		if err != nil {
			t.Fatalf("probe %s: %v", p.Name, err)
		}
		intervals["probe "+p.Name] = built.Interval()
	}
	want := map[string]time.Duration{
		"scrape node": 2 * time.Second, "scrape shop": exp.Step, // interval = "2s"; none
		"probe checkout": 2 * time.Second, "probe db": exp.Step,
	}
	if fmt.Sprint(intervals) != fmt.Sprint(want) {
		t.Errorf("intervals %v, want %v", intervals, want)
	}

	src := `experiment "x" { step = "2s" }
target "api" { image = "shop:dev" }
fault "restart" "bounce" { target = target.api }
scrape "node" { targets = ["127.0.0.1:9100"] }
metric "before" { query = "up" }
metric "local" {
  query  = "up"
  source = "local"
}
prometheus { url = "http://127.0.0.1:9090" }
metric "after" { query = "up" }
`
	exp, _, diags = LoadSource("x.hcl", []byte(src), LoadOptions{Getenv: noEnv})
	if len(diags) > 0 || exp == nil {
		t.Fatalf("diagnostics:\n%s", diagText(diags))
	}
	sources := map[string]string{}
	for _, m := range exp.Metrics {
		sources[m.Name] = m.Source
	}
	if want := map[string]string{"before": SourcePrometheus, "local": SourceLocal, "after": SourcePrometheus}; fmt.Sprint(sources) != fmt.Sprint(want) {
		t.Errorf("sources with a prometheus block %v, want %v", sources, want)
	}
	if len(exp.Scrapes) != 1 || exp.Scrapes[0].Interval != 2*time.Second {
		t.Errorf("scrape interval %+v, want the step (2s)", exp.Scrapes)
	}
}
