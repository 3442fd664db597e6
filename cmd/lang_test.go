package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/result"
)

// langRun runs the command line in memory and returns the exit code and both streams.
func langRun(t *testing.T, tty bool, getenv map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := &Env{
		Stdin:     strings.NewReader(""),
		Stdout:    &stdout,
		Stderr:    &stderr,
		StdoutTTY: tty,
		StderrTTY: tty,
		Getenv: func(k string) string {
			if v, ok := getenv[k]; ok {
				return v
			}
			// No Docker Engine for these tests: plan shows selectors.
			if k == "DOCKER_HOST" {
				return "unix:///nonexistent/faultline-test-docker.sock"
			}
			return ""
		},
		Context: context.Background(),
	}
	code := MainArgs(env, args)
	return code, stdout.String(), stderr.String()
}

func TestLanguageVerbsExitCodes(t *testing.T) {
	t.Parallel()
	const example = "../examples/slow-database.hcl"
	const broken = "../experiments/testdata/errors/checks.hcl"
	tests := []struct {
		name       string
		args       []string
		want       int
		wantStdout string
		wantStderr string
	}{
		{"valid file", []string{"validate", example}, result.ExitPassed, "valid: experiment \"checkout-survives-slow-db\"", ""},
		{"several files", []string{"validate", example, "../examples/partition.hcl"}, result.ExitPassed, "partition.hcl: valid", ""},
		{"one invalid among valid", []string{"validate", example, broken}, result.ExitInvalid, "checks.hcl: invalid: 18 errors", "Contradicting conditions"},
		{"snippet and line", []string{"validate", broken}, result.ExitInvalid, "", "line 64"},
		{"no file", []string{"validate"}, result.ExitInvalid, "", "requires at least 1 arg"},
		{"missing file", []string{"validate", "faultline-test-nothing.hcl"}, result.ExitInvalid, "", "Cannot read experiment file"},
		{"unknown flag", []string{"validate", "--colour", example}, result.ExitInvalid, "", "unknown flag"},
		{"undeclared var", []string{"validate", "--var", "latncy=1s", example}, result.ExitInvalid, "", `did you mean "latency"?`},
		{"var flag", []string{"validate", "--var", "latency=5 minutes", example}, result.ExitInvalid, "", `write "5m"`},
		{"plan", []string{"plan", example}, result.ExitPassed, "injection\tslow_db\t0\tdelay\tdb\t1m\t2m", ""},
		{"plan invalid", []string{"plan", broken}, result.ExitInvalid, "", "Empty band"},
		{"plan two files", []string{"plan", example, example}, result.ExitInvalid, "", "accepts 1 arg"},
		{"plan negative cap", []string{"plan", "--max-targets", "-1", example}, result.ExitInvalid, "", "--max-targets"},
		{"faults", []string{"faults"}, result.ExitPassed, "partition\tnetwork\tdirection\tstring\tfalse\t\"both\"\tone of both, egress", ""},
		{"one kind", []string{"faults", "delay"}, result.ExitPassed, "delay\tnetwork\tlatency\tduration\ttrue", ""},
		{"unknown kind", []string{"faults", "dleay"}, result.ExitInvalid, "", `did you mean "delay"?`},
		{"two kinds", []string{"faults", "delay", "loss"}, result.ExitInvalid, "", "accepts at most 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := langRun(t, false, nil, tt.args...)
			if code != tt.want {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.want, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantStdout, stdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, stderr)
			}
		})
	}
}

func TestValidateJSON(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := langRun(t, false, nil, "validate", "--json", "../experiments/testdata/errors/aborts.hcl", "../examples/cpu-squeeze.hcl")
	if code != result.ExitInvalid {
		t.Fatalf("exit code %d, want %d; stderr: %s", code, result.ExitInvalid, stderr)
	}
	if stderr != "" {
		t.Errorf("--json wrote to stderr: %s", stderr)
	}
	var results []validateFileResult
	if err := json.Unmarshal([]byte(stdout), &results); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if len(results) != 2 || results[0].Valid || !results[1].Valid {
		t.Fatalf("results = %+v", results)
	}
	if results[0].Errors != 5 || len(results[0].Diagnostics) != 5 {
		t.Errorf("aborts.hcl: %d errors, want 5", results[0].Errors)
	}
	first := results[0].Diagnostics[0]
	if first.Range == nil || first.Range.Start.Line == 0 || first.Snippet == "" || first.Severity != "error" {
		t.Errorf("first diagnostic lacks its position or snippet: %+v", first)
	}
	if !strings.Contains(first.Snippet, "abort") {
		t.Errorf("snippet %q is not the offending source line", first.Snippet)
	}
}

func TestValidateReadsEnvironmentVariables(t *testing.T) {
	t.Parallel()
	code, _, stderr := langRun(t, false, map[string]string{"FAULTLINE_VAR_latency": "5 minutes"}, "validate", "../examples/slow-database.hcl")
	if code != result.ExitInvalid || !strings.Contains(stderr, `write "5m"`) {
		t.Errorf("FAULTLINE_VAR_latency was not applied: code %d, stderr %s", code, stderr)
	}
}

func TestPlanTerminalAndPipe(t *testing.T) {
	t.Parallel()
	const example = "../examples/killed-replica.hcl"
	code, table, stderr := langRun(t, true, nil, "plan", example)
	if code != result.ExitPassed {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"TIMELINE", "backend_frozen #3", "instant",
		"Gantt (one column = ", "|", "*", "Targets", `name =~ "^shop-backend-[0-9]+$"`, "pick 1", "note: targets not resolved",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("terminal plan lacks %q:\n%s", want, table)
		}
	}
	if !regexp.MustCompile(`frontend_bounce\s+restart\s+frontend\s+2m30s\s+2m30s\s+instant`).MatchString(table) {
		t.Errorf("the restart is not an aligned instant row:\n%s", table)
	}
	// Every Gantt bar has the same width, so the chart lines up.
	var widths []int
	for _, line := range strings.Split(table, "\n") {
		if strings.Count(line, "|") == 2 {
			widths = append(widths, strings.LastIndex(line, "|")-strings.Index(line, "|"))
		}
	}
	if len(widths) < 5 {
		t.Fatalf("no Gantt chart:\n%s", table)
	}
	for _, w := range widths {
		if w != ganttWidth+1 {
			t.Errorf("Gantt bar width %d, want %d:\n%s", w, ganttWidth+1, table)
		}
	}

	code, lines, _ := langRun(t, false, nil, "plan", example)
	if code != result.ExitPassed {
		t.Fatalf("exit %d", code)
	}
	for _, line := range strings.Split(strings.TrimSpace(lines), "\n") {
		if !strings.Contains(line, "\t") {
			t.Errorf("pipe output line without tabs: %q", line)
		}
	}
	if n := strings.Count(lines, "injection\tbackend_frozen\t"); n != 3 {
		t.Errorf("%d repeats of backend_frozen, want 3:\n%s", n, lines)
	}
}

func TestPlanJSON(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := langRun(t, false, nil, "plan", "--json", "../examples/slow-database.hcl")
	if code != result.ExitPassed {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var p jsonPlan
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if p.TotalSeconds != 270 || len(p.Injections) != 2 || len(p.Phases) != 3 || p.Resolved {
		t.Errorf("plan = %+v", p)
	}
	if in := p.Injections[1]; in.Fault != "db_crash" || in.StartSeconds != 150 || in.EndSeconds != 150 {
		t.Errorf("kill injection = %+v", in)
	}
}

func TestFaultsListsTheRegistry(t *testing.T) {
	t.Parallel()
	code, stdout, _ := langRun(t, false, nil, "faults", "--json")
	if code != result.ExitPassed {
		t.Fatalf("exit %d", code)
	}
	var kinds []jsonKind
	if err := json.Unmarshal([]byte(stdout), &kinds); err != nil {
		t.Fatal(err)
	}
	if len(kinds) != len(faults.KindNames()) {
		t.Fatalf("%d kinds listed, registry has %d", len(kinds), len(faults.KindNames()))
	}
	for _, k := range kinds {
		rk, _ := faults.Lookup(k.Name)
		if len(k.Params) != len(rk.Params) {
			t.Errorf("%s: %d params listed, registry has %d", k.Name, len(k.Params), len(rk.Params))
		}
	}

	code, stdout, _ = langRun(t, true, nil, "faults", "stop")
	if code != result.ExitPassed {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"stop (container)", "PARAMETER", "grace", "10s", ">= 0s, <= 1h0m0s", "Every fault block also takes: target, start"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("faults stop lacks %q:\n%s", want, stdout)
		}
	}
}

func TestLanguageVerbsHaveExamples(t *testing.T) {
	t.Parallel()
	for _, verb := range []string{"validate", "plan", "faults"} {
		code, stdout, _ := langRun(t, false, nil, verb, "--help")
		if code != result.ExitPassed || !strings.Contains(stdout, "Examples:") || !strings.Contains(stdout, "faultline "+verb) {
			t.Errorf("%s --help (exit %d) lacks examples:\n%s", verb, code, stdout)
		}
	}
}

// TestPlanListsResolvedContainers checks the rendering of resolved targets; the
// resolution against a real Docker Engine is tested with resolvePlanTargets.
func TestPlanListsResolvedContainers(t *testing.T) {
	t.Parallel()
	exp, _, diags := experiments.Load("../examples/slow-database.hcl", experiments.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p := experiments.NewPlan(exp)
	p.Seed = 42
	p.Targets = map[string][]faults.Target{"db": {{
		ID: "0123456789abcdef0123", Name: "faultline-test-db-1", Image: "postgres:16", State: "running",
	}}}
	var table, lines bytes.Buffer
	printPlanTable(&table, p, "")
	printPlanLines(&lines, p, "")
	if !regexp.MustCompile(`faultline-test-db-1\s+0123456789ab\s+postgres:16\s+running`).MatchString(table.String()) {
		t.Errorf("table lacks the container row:\n%s", table.String())
	}
	if !strings.Contains(table.String(), "seed 42") || strings.Contains(table.String(), "note:") {
		t.Errorf("table header wrong:\n%s", table.String())
	}
	if !strings.Contains(lines.String(), "container\tdb\tfaultline-test-db-1\t0123456789ab\tpostgres:16\trunning\n") {
		t.Errorf("lines lack the container record:\n%s", lines.String())
	}
	js := planJSON(p, "")
	if !js.Resolved || len(js.Targets) != 1 || len(js.Targets[0].Containers) != 1 {
		t.Errorf("JSON targets = %+v", js.Targets)
	}
}
