package cmd

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/result"
)

func TestDiffVerb(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "faultline-test-missing.json")
	tests := []struct {
		name       string
		args       []string
		want       int
		wantStdout string
		wantStderr string
	}{
		{"same result", []string{"diff", goodResult, goodResult, "--max-score-drop", "0", "--max-recovery-increase", "0s"}, result.ExitPassed, "no regression", ""},
		{"improvement", []string{"diff", regressedResult, goodResult, "--max-score-drop", "0"}, result.ExitPassed, "score 20.8 → 75 (+54.2)", ""},
		{"broken checks", []string{"diff", goodResult, regressedResult}, result.ExitCheckFailed, `check "latency_recovers" passed before and now is fail`, ""},
		{"score drop", []string{"diff", goodResult, regressedResult, "--max-score-drop", "10"}, result.ExitCheckFailed, "score dropped by 54.2 points", ""},
		{"slower recovery", []string{"diff", goodResult, regressedResult, "--max-recovery-increase", "5s"}, result.ExitCheckFailed, "recovers 20s later", ""},
		{"json, checks still broken", []string{"diff", goodResult, regressedResult, "--max-recovery-increase", "30s", "-f", "json"}, result.ExitCheckFailed, `"time_to_recover_delta_seconds": 20`, ""},
		{"markdown", []string{"diff", goodResult, regressedResult, "--format", "md"}, result.ExitCheckFailed, "## faultline diff: checkout-survives-slow-db: REGRESSION", ""},
		{"unreadable base", []string{"diff", missing, goodResult}, result.ExitInvalid, "", "base result: read result"},
		{"unreadable new", []string{"diff", goodResult, missing}, result.ExitInvalid, "", "new result: read result"},
		{"negative limit", []string{"diff", goodResult, goodResult, "--max-score-drop=-5"}, result.ExitInvalid, "", "limits of 0 or more"},
		{"bad duration", []string{"diff", goodResult, goodResult, "--max-recovery-increase", "ten seconds"}, result.ExitInvalid, "", "invalid argument"},
		{"unknown format", []string{"diff", goodResult, goodResult, "--format", "html"}, result.ExitInvalid, "", "use text, md or json"},
		{"one argument", []string{"diff", goodResult}, result.ExitInvalid, "", "accepts 2 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := memRun(t, tt.args...)
			if code != tt.want || !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("exit %d, want %d\nstdout: %.400s\nstderr: %s\nwant stdout containing %q and stderr containing %q",
					code, tt.want, stdout, stderr, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestDiffFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args      []string
		wantDrop  float64
		wantRecov time.Duration
	}{
		{[]string{"a.json", "b.json"}, -1, -1},
		{[]string{"a.json", "b.json", "--max-score-drop", "2.5", "--max-recovery-increase", "1m"}, 2.5, time.Minute},
		{[]string{"a.json", "b.json", "--max-score-drop", "0"}, 0, -1},
	}
	for _, tt := range tests {
		var got *diffOptions
		c := newDiffCmd(&Env{}, func(o *diffOptions) error { got = o; return nil })
		c.SetArgs(tt.args)
		if err := c.Execute(); err != nil {
			t.Fatal(err)
		}
		if got.Base != "a.json" || got.Current != "b.json" || got.MaxScoreDrop != tt.wantDrop || got.MaxRecoveryIncrease != tt.wantRecov {
			t.Errorf("%v: options %+v", tt.args, got)
		}
	}
}
