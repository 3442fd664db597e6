package cmd

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/result"
)

func TestValidateGameDay(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := memRun(t, "validate", "../examples/gameday.hcl")
	if code != 0 || !strings.Contains(stdout, "valid: game day, 2 schedules, 1 notifier, times in Europe/Berlin") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	code, stdout, stderr = memRun(t, "validate", "../serve/gameday/testdata/errors/schedules.hcl")
	if code != result.ExitInvalid || !strings.Contains(stdout, "invalid: 18 errors") || !strings.Contains(stderr, "schedules.hcl line 8") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	// A mistake in a schedule's experiment is found by validating the game day.
	code, _, stderr = memRun(t, "validate", "../serve/gameday/testdata/experiment-vars.hcl")
	if code != result.ExitInvalid || !strings.Contains(stderr, `schedule "broken-vars"`) || !strings.Contains(stderr, "pause.hcl line") {
		t.Errorf("exit %d\nstderr %s", code, stderr)
	}
}
