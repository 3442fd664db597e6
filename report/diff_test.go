package report_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/report"
	"github.com/faultline/faultline/result"
)

func TestDiff(t *testing.T) {
	t.Parallel()
	base, slower := fixture(145, 0.01), fixture(165, 0.08)
	renamed := fixture(145, 0.01)
	renamed.Experiment.Name = "another"
	tests := []struct {
		name          string
		base, cur     *result.Result
		limits        report.DiffLimits
		wantRegressed bool
		wantIn        []string // substrings of the regressions and warnings
	}{
		{"same result", base, base, report.DiffLimits{MaxScoreDrop: 0, MaxRecoveryIncrease: 0}, false, nil},
		{"broken checks always regress", base, slower, report.NoLimits, true,
			[]string{`check "latency_recovers" passed before and now is fail`, `check "errors_low" passed before`}},
		{"score drop beyond the limit", base, slower, report.DiffLimits{MaxScoreDrop: 10, MaxRecoveryIncrease: -1}, true,
			[]string{"score dropped by 54.2 points (75 → 20.8), more than the allowed 10"}},
		{"recovery slower than allowed", base, slower, report.DiffLimits{MaxScoreDrop: -1, MaxRecoveryIncrease: 5 * time.Second}, true,
			[]string{`p99_latency {route="/checkout"}: recovers 20s later (allowed increase 5s)`}},
		{"improvement is no regression", slower, base, report.DiffLimits{MaxScoreDrop: 0, MaxRecoveryIncrease: 0}, false, nil},
		{"different experiments warn", base, renamed, report.NoLimits, false, []string{`comparing different experiments: "another" against "checkout-survives-slow-db"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := report.Diff(tt.base, tt.cur, tt.limits)
			if d.Regressed != tt.wantRegressed || d.Regressed != (len(d.Regressions) > 0) {
				t.Errorf("regressed %v (%q), want %v", d.Regressed, d.Regressions, tt.wantRegressed)
			}
			all := strings.Join(append(append([]string{}, d.Regressions...), d.Warnings...), "\n")
			for _, w := range tt.wantIn {
				if !strings.Contains(all, w) {
					t.Errorf("diff lacks %q:\n%s", w, all)
				}
			}
		})
	}
	d := report.Diff(base, slower, report.DiffLimits{MaxScoreDrop: 10, MaxRecoveryIncrease: 5 * time.Second})
	if d.ScoreDelta == nil || *d.ScoreDelta != -54.2 || len(d.Checks) != 3 || !d.Checks[0].Worse || d.Checks[1].Worse {
		t.Errorf("diff details: delta %v checks %+v", d.ScoreDelta, d.Checks)
	}
}

func TestDiffGolden(t *testing.T) {
	d := report.Diff(fixture(145, 0.01), fixture(165, 0.08), report.DiffLimits{MaxScoreDrop: 10, MaxRecoveryIncrease: 5 * time.Second})
	for _, format := range []string{"text", "md", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := report.RenderDiff(&buf, format, d); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "diff"+report.Extension(format))
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
				t.Errorf("%s differs from %s; run go test ./report -update if intended\n%s", format, path, firstDiff(buf.String(), string(want)))
			}
		})
	}
}
