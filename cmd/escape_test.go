package cmd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/experiments/journal"
	"github.com/faultline/faultline/experiments/runner"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/result"
)

// hostile is text that retitles a terminal window and clears the screen.
const hostile = "\x1b]0;pwned\a\x1b[2J"

// noControl fails when s holds a control character other than newline and tab.
func noControl(t *testing.T, what, s string) {
	t.Helper()
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			t.Fatalf("%s holds control character %U: %q", what, r, s)
		}
	}
}

// hostileResult stores a result whose experiment description and metric unit carry
// terminal escapes, as a hand-made experiment file can.
func hostileResult(t *testing.T) string {
	t.Helper()
	res, err := result.ReadFile(goodResult)
	if err != nil {
		t.Fatal(err)
	}
	res.Experiment.Description = "checkout " + hostile
	res.Metrics[0].Unit = hostile
	res.Checks[0].Name = "slo" + hostile
	path := filepath.Join(t.TempDir(), "hostile.json")
	var buf bytes.Buffer
	if err := result.WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOutsideTextCannotDriveTheTerminal(t *testing.T) {
	t.Parallel()
	path := hostileResult(t)
	for _, args := range [][]string{
		{"report", path},
		{"report", path, "--format", "md"},
		{"diff", goodResult, path},
		{"diff", goodResult, path, "--format", "md"},
	} {
		_, stdout, stderr := memRun(t, args...)
		noControl(t, strings.Join(args, " ")+" stdout", stdout)
		noControl(t, strings.Join(args, " ")+" stderr", stderr)
		if args[0] == "report" && !strings.Contains(stdout, `x1b`) {
			t.Errorf("%v: the escape is not shown visibly:\n%s", args, stdout)
		}
	}
	// An error message quoting outside text (here a file name) is printed safe too.
	bad := filepath.Join(t.TempDir(), "x"+hostile+".json")
	_, _, stderr := memRun(t, "report", bad)
	noControl(t, "error message", stderr)
	if !strings.Contains(stderr, `x\x1b]0;pwned`) {
		t.Errorf("error message does not name the file visibly: %q", stderr)
	}
}

// TestRecoverShowsJournalTextInert: recover prints experiment names and targets read
// from journal files, which an experiment's author chose: escapes stay visible text.
func TestRecoverShowsJournalTextInert(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, err := journal.Create(dir, journal.NewRunID(time.Now()), "exp"+hostile, faults.TargetRef{ID: "c1", Name: "victim" + hostile})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := j.Append(faults.Record{Kind: "pause", Fault: "freeze" + hostile, Target: faults.TargetRef{ID: "c1", Name: "victim" + hostile}}); err != nil {
		t.Fatal(err)
	}
	_, stdout, stderr := memRun(t, "recover", "--state-dir", dir)
	noControl(t, "recover stdout", stdout)
	noControl(t, "recover stderr", stderr)
	if !strings.Contains(stdout, `exp\x1b]0;pwned`) || !strings.Contains(stdout, "left alone") {
		t.Errorf("recover does not name the live run's experiment visibly:\n%s", stdout)
	}
}

func TestLiveViewStripsControlCharacters(t *testing.T) {
	t.Parallel()
	exp := &experiments.Experiment{Name: "view" + hostile, Metrics: []*experiments.Metric{{Name: "p99", Unit: hostile}}}
	var out bytes.Buffer
	v := newLiveView(&out, exp)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v.update(runner.Update{Time: at, Phase: "fault", Total: time.Minute, Message: "warning: " + hostile + "\nforged line",
		Observations: []metrics.Observation{{Metric: "p99", Series: []metrics.Series{{Samples: []metrics.Sample{{Value: 1}}}}}}})
	first := out.String()
	noControl(t, "live view", first)
	out.Reset()
	v.update(runner.Update{Time: at, Phase: "fault", Total: time.Minute})
	second := out.String()
	// The view's own cursor movement is the only escape, and it moves over exactly the
	// lines drawn: a newline in a message did not add one.
	lines := strings.Count(first, "\n")
	if !strings.HasPrefix(second, "\x1b["+itoa(lines)+"F\x1b[J") || strings.Count(second, "\x1b") != 2 {
		t.Fatalf("second drawing %q, want only the move back over %d lines", second, lines)
	}
	if strings.Contains(first, "\nforged line") {
		t.Errorf("a newline in a message started a line of its own:\n%s", first)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestRedactWriterHidesSensitiveValues(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w := redactWriter{&out, []string{"tok-3f9a2c"}}
	fmt.Fprintf(w, "level=ERROR msg=\"prometheus rejected the query: up{token=%q}\"\n", "tok-3f9a2c")
	if strings.Contains(out.String(), "tok-3f9a2c") || !strings.Contains(out.String(), "(sensitive)") {
		t.Fatalf("log line %q", out.String())
	}
}
