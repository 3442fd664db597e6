package cmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/dockertest"
	"github.com/faultline/faultline/result"
)

// TestRunRefusesAHostNetworkTargetInPreflight: a network fault on a container that
// shares the host's network namespace is refused before the baseline (exit 5), not when
// the fault is due (it used to abort with exit 3 after the whole baseline).
func TestRunRefusesAHostNetworkTargetInPreflight(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli, dockertest.Sleeper)
	c := dockertest.Run(t, cli, dockertest.RunOptions{Name: "hostnet", Image: img, Networks: []string{"host"}})
	dockertest.WaitLog(t, cli, c.ID, "ready")
	exp := filepath.Join(t.TempDir(), "hostnet.hcl")
	os.WriteFile(exp, []byte(fmt.Sprintf(`
experiment "hostnet" {
  baseline = "60s"
  recovery = "1s"
}
target "one" {
  name = "^%s$"
}
fault "bandwidth" "thin" {
  target   = target.one
  duration = "5s"
  rate     = "1mbit"
}
`, c.Name)), 0o600)
	var stdout, stderr bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: os.Getenv, Context: context.Background()}
	start := time.Now()
	code := MainArgs(env, []string{"run", "--state-dir", t.TempDir(), "--out", t.TempDir(), exp})
	took := time.Since(start)
	if code != result.ExitPreflight || !strings.Contains(stderr.String(), "host's own network") {
		t.Fatalf("exit %d after %s, want %d naming the host's network\nstdout: %s\nstderr: %s", code, took, result.ExitPreflight, stdout.String(), stderr.String())
	}
	// Refused in preflight: long before the 60 s baseline would have ended.
	if took > 30*time.Second {
		t.Errorf("refused after %s: not in preflight", took)
	}
}
