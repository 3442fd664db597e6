package gameday

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

func noEnv(string) string { return "" }

type expectation struct {
	Line    int
	Summary string
}

var announced = regexp.MustCompile(`# ERROR: (.+)$`)

// expectations reads the "# ERROR: summary" comments of a file, one per line.
func expectations(src []byte) []expectation {
	var out []expectation
	sc := bufio.NewScanner(bytes.NewReader(src))
	for line := 1; sc.Scan(); line++ {
		if m := announced.FindStringSubmatch(sc.Text()); m != nil {
			out = append(out, expectation{line, strings.TrimSpace(m[1])})
		}
	}
	return out
}

func sorted(e []expectation) string {
	sort.Slice(e, func(i, j int) bool {
		if e[i].Line != e[j].Line {
			return e[i].Line < e[j].Line
		}
		return e[i].Summary < e[j].Summary
	})
	return fmt.Sprint(e)
}

func diagText(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&b, "  %s: %s: %s\n", d.Subject, d.Summary, d.Detail)
	}
	return b.String()
}

// TestErrorFiles loads every file in testdata/errors and compares its error
// diagnostics, line and summary, with the ones announced in the file.
func TestErrorFiles(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/errors/*.hcl")
	if len(files) < 4 {
		t.Fatalf("testdata/errors holds %d files", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want := expectations(src)
			f, _, diags := Load(path, Options{Getenv: noEnv})
			if f != nil {
				t.Error("a file with errors was returned")
			}
			var got []expectation
			for _, d := range diags {
				if d.Severity != hcl.DiagError {
					continue
				}
				if d.Subject == nil {
					t.Errorf("diagnostic without a position: %s: %s", d.Summary, d.Detail)
					continue
				}
				got = append(got, expectation{d.Subject.Start.Line, d.Summary})
			}
			if sorted(got) != sorted(want) {
				t.Errorf("diagnostics differ\n got: %v\nwant: %v\nall:\n%s", got, want, diagText(diags))
			}
		})
	}
}

func TestValidFile(t *testing.T) {
	t.Parallel()
	f, _, diags := Load("testdata/valid/full.hcl", Options{Getenv: noEnv, CheckExperiments: true})
	if diags.HasErrors() || len(diags) > 0 {
		t.Fatalf("diagnostics:\n%s", diagText(diags))
	}
	if f.Server.Listen != "127.0.0.1:7070" || f.Server.Location.String() != "Europe/Berlin" || f.Server.PublicURL != "https://faultline.example" ||
		f.Server.TokenFile != filepath.Join("testdata", "valid", "token") || f.Server.DataDir != filepath.Join("testdata", "valid", "history") {
		t.Errorf("server %+v", f.Server)
	}
	if len(f.Schedules) != 2 || len(f.Notifiers) != 1 {
		t.Fatalf("%d schedules, %d notifiers", len(f.Schedules), len(f.Notifiers))
	}
	s := f.Schedules[0]
	if s.Experiment != filepath.Join("testdata", "valid", "pause.hcl") || s.Spec.Jitter != 30*time.Minute ||
		s.Spec.Missed != "run_once" || len(s.Spec.Never) != 2 || s.Spec.Only == nil {
		t.Errorf("schedule %+v, spec %+v", s, s.Spec)
	}
	if s.MaxScoreDrop == nil || *s.MaxScoreDrop != 5 || s.MaxRecoveryIncrease == nil || *s.MaxRecoveryIncrease != time.Minute {
		t.Errorf("regression limits %v %v, want 5 points and 1m", s.MaxScoreDrop, s.MaxRecoveryIncrease)
	}
	if n := f.Schedules[1]; n.MaxScoreDrop != nil || n.MaxRecoveryIncrease != nil {
		t.Errorf("a schedule without limits has %v %v, want serve's defaults (nil)", n.MaxScoreDrop, n.MaxRecoveryIncrease)
	}
	if s.ExperimentName != "pause-one" {
		t.Errorf("the experiment's name read at load: %q, want pause-one", s.ExperimentName)
	}
	if got := strings.Join(s.VarFlags(), " "); got != "prometheus_url=http://prom:9090 step=1" {
		t.Errorf("vars %q", got)
	}
	if got := s.Spec.Only.String(); got != "mon-fri 09:00-16:00" {
		t.Errorf("only %q", got)
	}
	// The second blackout is exact times in Berlin, the end excluded.
	b := s.Spec.Never[1]
	if b.From.UTC().Format(time.RFC3339) != "2026-06-01T16:00:00Z" || b.To.UTC().Format(time.RFC3339) != "2026-06-02T04:00:00Z" {
		t.Errorf("blackout %s to %s", b.From.UTC(), b.To.UTC())
	}
	n := f.Notifiers[0]
	if n.URLEnv != "ONCALL_WEBHOOK_URL" || n.SecretEnv != "ONCALL_WEBHOOK_SECRET" || len(n.On) != 4 {
		t.Errorf("notifier %+v", n)
	}
	if f.Schedules[1].Spec.Missed != "skip" || f.Schedules[1].Spec.Location.String() != "Europe/Berlin" {
		t.Errorf("defaults of the second schedule: %+v", f.Schedules[1].Spec)
	}
}

// TestExperimentMistakesAreFound checks that loading with CheckExperiments reports a
// mistake in a schedule's experiment, here a variable that breaks its step.
func TestExperimentMistakesAreFound(t *testing.T) {
	t.Parallel()
	if _, _, diags := Load("testdata/experiment-vars.hcl", Options{Getenv: noEnv}); diags.HasErrors() {
		t.Fatalf("without CheckExperiments: %s", diagText(diags))
	}
	f, sources, diags := Load("testdata/experiment-vars.hcl", Options{Getenv: noEnv, CheckExperiments: true})
	if f != nil || !diags.HasErrors() {
		t.Fatalf("the broken experiment was not found: %s", diagText(diags))
	}
	d := diags[0]
	if !strings.Contains(d.Detail, `schedule "broken-vars"`) || d.Subject == nil || !strings.HasSuffix(d.Subject.Filename, "pause.hcl") {
		t.Errorf("diagnostic %s: %s (%s), want one in pause.hcl naming the schedule", d.Subject, d.Summary, d.Detail)
	}
	if _, ok := sources[d.Subject.Filename]; !ok {
		t.Errorf("the experiment's source is not in the sources, so no snippet can be printed")
	}
}

func TestLooksLikeGameDay(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"server {\n}\n":                      true,
		"schedule \"a\" {\n}\n":              true,
		"experiment \"a\" {\n}\n":            false,
		"server {}\nexperiment \"a\" {\n}\n": false,
		"variable \"a\" {\n}\n":              false,
		"this is { not hcl":                  false,
	}
	for src, want := range tests {
		if got := LooksLikeGameDay([]byte(src), "x.hcl"); got != want {
			t.Errorf("%q: %v, want %v", src, got, want)
		}
	}
}

// TestExample loads the game-day example with its experiments, so that it never rots.
func TestExample(t *testing.T) {
	t.Parallel()
	f, _, diags := Load(filepath.Join("..", "..", "examples", "gameday.hcl"), Options{Getenv: noEnv, CheckExperiments: true})
	if diags.HasErrors() {
		t.Fatalf("examples/gameday.hcl:\n%s", diagText(diags))
	}
	if len(f.Schedules) == 0 {
		t.Error("the example has no schedule")
	}
}

// TestHostileFilesAreRefusedBeforeParsing: a deeply nested or binary file gets the
// language's own bounds, not a stack overflow in HCL's parser.
func TestHostileFilesAreRefusedBeforeParsing(t *testing.T) {
	t.Parallel()
	deep := []byte("server {\n  listen = " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "\n}\n")
	binary := append([]byte("server {\n"), 0, 1, 2, 0xff, '\n', '}')
	for name, src := range map[string][]byte{"deep": deep, "binary": binary} {
		if LooksLikeGameDay(src, name+".hcl") {
			t.Errorf("%s: taken for a game-day file", name)
		}
		_, _, diags := Load(name+".hcl", Options{ReadFile: func(string) ([]byte, error) { return src, nil }, Getenv: noEnv})
		if !diags.HasErrors() || len(diags) != 1 {
			t.Errorf("%s: %d diagnostics, want the one that refuses it:\n%s", name, len(diags), diagText(diags))
		}
	}
}

// TestNotifyDefaultEvents: a notify block without on hears of every run that did not
// pass, also an interrupted one (HALT, or a serve killed during the run).
func TestNotifyDefaultEvents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "gameday.hcl")
	src := `
server {
  token_file = "token"
  data_dir   = "history"
}

notify "webhook" "oncall" {
  url_env = "ONCALL_WEBHOOK_URL"
}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	f, _, diags := Load(path, Options{Getenv: noEnv})
	if diags.HasErrors() {
		t.Fatalf("diagnostics:\n%s", diagText(diags))
	}
	got := strings.Join(f.Notifiers[0].On, " ")
	if want := "failed aborted interrupted error regressed revert_failed"; got != want {
		t.Errorf("default on: %q, want %q", got, want)
	}
}
