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

func TestReportFilesNeverFollowSymlinks(t *testing.T) {
	t.Parallel()
	res, err := result.ReadFile(goodResult)
	if err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(victim, filepath.Join(dir, "result.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := writeReports(dir, []string{"text"}, res); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "report.md")
	if err := os.Symlink(victim, other); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := memRun(t, "report", goodResult, "--format", "md", "-o", other); code != result.ExitInvalid || !strings.Contains(stderr, "symbolic link") {
		t.Fatalf("report -o onto a symlink: exit %d: %s; want 2 refusing the link", code, stderr)
	}
	if code, _, stderr := memRun(t, "diff", goodResult, goodResult, "-o", other); code != result.ExitInvalid || !strings.Contains(stderr, "symbolic link") {
		t.Fatalf("diff -o onto a symlink: exit %d: %s; want 2 refusing the link", code, stderr)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("the symlink's target was overwritten: %.80q", b)
	}
	fresh := filepath.Join(t.TempDir(), "report.md")
	if code, _, stderr := memRun(t, "report", goodResult, "--format", "md", "-o", fresh); code != 0 {
		t.Fatalf("report -o: exit %d: %s", code, stderr)
	}
	for _, p := range []string{filepath.Join(dir, "result.json"), filepath.Join(dir, "result.txt"), fresh} {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != reportFileMode {
			t.Errorf("%s: mode %v, want a regular file with mode %v", p, fi.Mode(), os.FileMode(reportFileMode))
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestRunRefusesAnUnwritableOutBeforeAnything(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "plain-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A Docker host that does not exist: reaching the Docker preflight would fail with 5.
	getenv := func(k string) string {
		if k == "DOCKER_HOST" {
			return "unix://" + filepath.Join(t.TempDir(), "no-docker.sock")
		}
		return ""
	}
	var stdout, stderr bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: getenv, Context: context.Background()}
	code := MainArgs(env, []string{"run", "--out", filepath.Join(file, "reports"), "--state-dir", t.TempDir(), "../examples/killed-replica.hcl"})
	if code != result.ExitInvalid || !strings.Contains(stderr.String(), "--out") || strings.Contains(stderr.String(), "docker") {
		t.Fatalf("exit %d, stderr %q; want 2 naming --out, before any Docker call", code, stderr.String())
	}
}
