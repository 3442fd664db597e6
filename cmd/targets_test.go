package cmd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/experiments/targets"
	"github.com/faultline/faultline/internal/dockertest"
	"github.com/faultline/faultline/result"
)

func TestResolvePlanTargetsAgainstDocker(t *testing.T) {
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli, dockertest.Sleeper)
	run := dockertest.UniqueName(t, "run")
	c := dockertest.Run(t, cli, dockertest.RunOptions{Name: "plan", Image: img, Labels: map[string]string{"faultline.test.run": run}})
	dockertest.Wait(t, cli, c.ID, "running", dockertest.Running)

	env := &Env{Getenv: os.Getenv, Context: context.Background()}
	tg := &experiments.Target{Name: "svc", Labels: map[string]string{"faultline.test.run": run}, Pick: experiments.PickAll}
	p := experiments.NewPlan(&experiments.Experiment{Targets: []*experiments.Target{tg}})
	if err := resolvePlanTargets(env.Context, env, p, targetOptions{Seed: 42}); err != nil {
		t.Fatal(err)
	}
	if p.Seed != 42 || len(p.Targets["svc"]) != 1 || p.Targets["svc"][0].ID != c.ID {
		t.Errorf("seed %d, targets %+v; want seed 42 and container %s", p.Seed, p.Targets, c.Name)
	}

	tg.Labels["faultline.test.run"] = run + "-nobody"
	err := resolvePlanTargets(env.Context, env, experiments.NewPlan(p.Experiment), targetOptions{})
	if !errors.Is(err, targets.ErrEmptySelection) || codeOf(err, true) != result.ExitInvalid {
		t.Errorf("empty selection: %v (exit %d), want ErrEmptySelection with exit %d", err, codeOf(err, true), result.ExitInvalid)
	}
}

func TestResolvePlanTargetsWithoutDocker(t *testing.T) {
	t.Parallel()
	missing := "unix://" + filepath.Join(t.TempDir(), "docker.sock")
	env := &Env{Getenv: func(k string) string {
		if k == "DOCKER_HOST" {
			return missing
		}
		return ""
	}, Context: context.Background()}
	p := experiments.NewPlan(&experiments.Experiment{})
	if err := resolvePlanTargets(env.Context, env, p, targetOptions{}); !errors.Is(err, errNoDocker) {
		t.Errorf("err = %v, want errNoDocker", err)
	}
}

// TestEmptySelectionExitsInvalid: a target that selects nothing is the experiment's
// mistake (exit 2) for both plan and run; plan still prints the timeline first.
func TestEmptySelectionExitsInvalid(t *testing.T) {
	dockertest.Client(t) // skips or fails without an engine
	nobody := dockertest.UniqueName(t, "nobody")
	file := filepath.Join(t.TempDir(), "empty.hcl")
	src := `experiment "empty" {
  baseline = "2s"
  recovery = "2s"
  step     = "1s"
}
target "ghost" {
  labels = { "faultline.test.run" = "` + nobody + `" }
}
fault "pause" "freeze" {
  target   = target.ghost
  duration = "1s"
}
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := memRun(t, "plan", file)
	if code != result.ExitInvalid || !strings.Contains(stdout, "freeze") || !strings.Contains(stderr, "selects no") {
		t.Errorf("plan: exit %d, stdout %q, stderr %q; want exit 2, the timeline, and the empty selection named", code, stdout, stderr)
	}
	code, _, stderr = memRun(t, "run", "--state-dir", t.TempDir(), file)
	if code != result.ExitInvalid || !strings.Contains(stderr, "selects no") {
		t.Errorf("run: exit %d, stderr %q; want exit 2 naming the empty selection", code, stderr)
	}
}

// TestTargetBlocksSharingAContainer: two target blocks that pick the same container
// and pause it at once are refused by plan and run (exit 2), before anything is touched.
func TestTargetBlocksSharingAContainer(t *testing.T) {
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli, dockertest.Sleeper)
	run := dockertest.UniqueName(t, "shared")
	c := dockertest.Run(t, cli, dockertest.RunOptions{Name: "shared", Image: img, Labels: map[string]string{"faultline.test.run": run}})
	dockertest.WaitLog(t, cli, c.ID, "ready")
	file := filepath.Join(t.TempDir(), "shared.hcl")
	src := `experiment "shared" {
  baseline = "2s"
  recovery = "2s"
  step     = "1s"
}
target "by_label" {
  labels = { "faultline.test.run" = "` + run + `" }
}
target "by_name" {
  name = "^` + c.Name + `$"
}
fault "pause" "freeze" {
  target   = target.by_label
  duration = "5s"
}
fault "pause" "freeze_again" {
  target   = target.by_name
  start    = "2s"
  duration = "5s"
}
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := memRun(t, "plan", file)
	if code != result.ExitInvalid || !strings.Contains(stdout, "freeze_again") || !strings.Contains(stderr, "container "+c.Name) {
		t.Errorf("plan: exit %d, stdout %q, stderr %q; want exit 2, the timeline, and the shared container named", code, stdout, stderr)
	}
	code, _, stderr = memRun(t, "run", "--state-dir", t.TempDir(), "--out", t.TempDir(), file)
	if code != result.ExitInvalid || !strings.Contains(stderr, "share a container") {
		t.Errorf("run: exit %d, stderr %q; want exit 2 naming the clash", code, stderr)
	}
	if in := dockertest.Inspect(t, cli, c.ID); !dockertest.Running(in) || dockertest.Paused(in) {
		t.Error("the refused run touched the container")
	}
}
