package cmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/result"
)

// Stored results written by the report package's golden test (go test ./report -update).
const (
	goodResult      = "../report/testdata/result.json"
	regressedResult = "../report/testdata/result-regressed.json"
)

// memRun runs the command line in memory and returns the exit code and both streams.
func memRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(string) string { return "" }, Context: context.Background()}
	code := MainArgs(env, args)
	return code, stdout.String(), stderr.String()
}

func TestReportVerb(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "notes.txt")
	os.WriteFile(notJSON, []byte("not a result"), 0o644)
	tests := []struct {
		name       string
		args       []string
		want       int
		wantStdout string
		wantStderr string
	}{
		{"text by default", []string{"report", goodResult}, result.ExitPassed, "checkout-survives-slow-db: FAILED (score 75/100)", ""},
		{"markdown", []string{"report", goodResult, "--format", "md"}, result.ExitPassed, "| latency\\_recovers | ✅ pass |", ""},
		{"html", []string{"report", goodResult, "-f", "html"}, result.ExitPassed, "<svg viewBox=", ""},
		{"junit", []string{"report", goodResult, "--format", "junit"}, result.ExitPassed, `<testsuites name="faultline" tests="3" failures="1"`, ""},
		{"json", []string{"report", goodResult, "--format", "json"}, result.ExitPassed, `"schema_version": 1`, ""},
		{"unknown format", []string{"report", goodResult, "--format", "pdf"}, result.ExitInvalid, "", `--format "pdf": use one of text, json, md, html, junit`},
		{"missing file", []string{"report", filepath.Join(dir, "faultline-test-missing.json")}, result.ExitInvalid, "", "no such file"},
		{"not a result", []string{"report", notJSON}, result.ExitInvalid, "", "is not a faultline result"},
		{"no argument", []string{"report"}, result.ExitInvalid, "", "accepts 1 arg"},
		{"unknown verb", []string{"reprot", goodResult}, result.ExitInvalid, "", `unknown command "reprot"`},
		// A disk that is full is faultline's failure, not the user's usage.
		{"disk full", []string{"report", goodResult, "-f", "html", "-o", "/dev/full"}, result.ExitInternal, "", "no space left on device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := memRun(t, tt.args...)
			if code != tt.want || !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("exit %d, want %d\nstdout: %.300s\nstderr: %s\nwant stdout containing %q and stderr containing %q",
					code, tt.want, stdout, stderr, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestReportVerbWritesFile(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "report.html")
	code, stdout, stderr := memRun(t, "report", goodResult, "--format", "html", "-o", out)
	if code != result.ExitPassed || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil || !bytes.HasPrefix(b, []byte("<!DOCTYPE html>")) {
		t.Errorf("report file: %v, starts %.40q", err, b)
	}
}

func TestReportFlags(t *testing.T) {
	t.Parallel()
	var got *reportOptions
	c := newReportCmd(&Env{}, func(o *reportOptions) error { got = o; return nil })
	c.SetArgs([]string{"r.json", "-f", "md", "-o", "x.md"})
	if err := c.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.File != "r.json" || got.Format != "md" || got.Output != "x.md" {
		t.Errorf("options %+v", got)
	}
}
