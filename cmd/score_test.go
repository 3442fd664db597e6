package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/result"
)

// unscored stores the good result as an aborted run would now be stored: no score.
func unscored(t *testing.T) string {
	t.Helper()
	res, err := result.ReadFile(goodResult)
	if err != nil {
		t.Fatal(err)
	}
	res.Status, res.ExitCode = result.StatusAborted, result.ExitAborted
	res.Score.Withhold("the run was aborted, so its checks do not measure the experiment")
	var buf bytes.Buffer
	if err := result.WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"value": null`) {
		t.Fatalf("no score is not written as null:\n%.2000s", buf.String())
	}
	path := filepath.Join(t.TempDir(), "aborted.json")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAResultWithoutScoreSaysSo(t *testing.T) {
	t.Parallel()
	path := unscored(t)
	for format, want := range map[string]string{
		"text":  "(score none (the run was aborted",
		"md":    "score none (the run was aborted",
		"html":  "no score",
		"junit": `name="score" value="none (the run was aborted`,
	} {
		code, stdout, stderr := memRun(t, "report", path, "--format", format)
		if code != 0 || !strings.Contains(stdout, want) || strings.Contains(stdout, "100/100") {
			t.Errorf("report --format %s: exit %d, stderr %s; want %q and no 100/100 in:\n%.600s", format, code, stderr, want, stdout)
		}
	}
	// A gate on the score cannot pass on a result without one; a base without one is
	// only not compared.
	code, stdout, _ := memRun(t, "diff", goodResult, path, "--max-score-drop", "10")
	if code != result.ExitCheckFailed || !strings.Contains(stdout, "the new result has no score") || !strings.Contains(stdout, "75 → none (not comparable)") {
		t.Errorf("diff onto an unscored result: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = memRun(t, "diff", path, goodResult, "--max-score-drop", "10", "-f", "json")
	if code != 0 || !strings.Contains(stdout, `"score_delta": null`) || !strings.Contains(stdout, "the base result has no score") {
		t.Errorf("diff from an unscored base: exit %d\n%s", code, stdout)
	}
}
