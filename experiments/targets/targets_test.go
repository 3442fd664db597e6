package targets

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/internal/dockertest"
	"github.com/hashicorp/hcl/v2"
	"github.com/moby/moby/client"
)

func declAt(line int) hcl.Range {
	return hcl.Range{Filename: "checkout.hcl", Start: hcl.Pos{Line: line, Column: 1}, End: hcl.Pos{Line: line, Column: 12}}
}

// fixture is a set of containers that only this test's selectors can see: every
// selector includes the run label, so other tests' containers never interfere.
type fixture struct {
	run      string // value of the run label
	byName   map[string]dockertest.Container
	altImage string
}

const runLabel = "faultline.test.run"

func newFixture(t *testing.T) (*client.Client, *fixture) {
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli, dockertest.Sleeper)
	f := &fixture{run: dockertest.UniqueName(t, "run"), byName: map[string]dockertest.Container{}}

	// A second tag of the same image, so that the image selector has something to tell apart.
	f.altImage = dockertest.UniqueName(t, "alt") + ":v1"
	ctx := context.Background()
	if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: img, Target: f.altImage}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := cli.ImageRemove(context.Background(), f.altImage, client.ImageRemoveOptions{}); err != nil {
			t.Errorf("remove tag %s: %v", f.altImage, err)
		}
	})
	nw := dockertest.Network(t, cli, dockertest.NetworkOptions{Name: "targets"})

	project := f.run
	specs := []struct {
		name, image string
		labels      map[string]string
		noStart     bool
	}{
		{"web-1", img, map[string]string{"app": "web", ComposeProjectLabel: project, ComposeServiceLabel: "web"}, false},
		{"web-2", img, map[string]string{"app": "web", ComposeProjectLabel: project, ComposeServiceLabel: "web"}, false},
		{"web-3", img, map[string]string{"app": "web", ComposeProjectLabel: project, ComposeServiceLabel: "web"}, false},
		{"db-1", f.altImage, map[string]string{"app": "db", ComposeProjectLabel: project, ComposeServiceLabel: "db"}, false},
		{"web-skip", img, map[string]string{"app": "web", SkipLabel: "true"}, false},
		{"web-created", img, map[string]string{"app": "web"}, true},
		{"cache-skip", img, map[string]string{"app": "cache", SkipLabel: "true"}, false},
	}
	for _, s := range specs {
		labels := map[string]string{runLabel: f.run}
		for k, v := range s.labels {
			labels[k] = v
		}
		f.byName[s.name] = dockertest.Run(t, cli, dockertest.RunOptions{
			Name: s.name, Image: s.image, Labels: labels, Networks: []string{nw.Name}, NoStart: s.noStart,
		})
	}
	for name, c := range f.byName {
		if name != "web-created" {
			dockertest.Wait(t, cli, c.ID, "running", dockertest.Running)
		}
	}
	return cli, f
}

// names maps resolved targets back to the fixture's short names.
func (f *fixture) names(ts []faults.Target) []string {
	var out []string
	for _, t := range ts {
		for short, c := range f.byName {
			if c.ID == t.ID {
				out = append(out, short)
			}
		}
	}
	return out
}

func (f *fixture) labels(kv ...string) map[string]string {
	m := map[string]string{runLabel: f.run}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestResolveAgainstDocker(t *testing.T) {
	cli, f := newFixture(t)
	ctx := context.Background()

	t.Run("selectors", func(t *testing.T) {
		tests := []struct {
			name   string
			target experiments.Target
			want   []string
		}{
			{"labels", experiments.Target{Labels: f.labels("app", "web")}, []string{"web-1", "web-2", "web-3"}},
			{"compose project and service", experiments.Target{Labels: f.labels(), ComposeProject: f.run, ComposeService: "web"}, []string{"web-1", "web-2", "web-3"}},
			{"compose service db", experiments.Target{Labels: f.labels(), ComposeService: "db"}, []string{"db-1"}},
			{"name pattern", experiments.Target{Labels: f.labels(), NameRegex: `^faultline-test-web-[12]-`}, []string{"web-1", "web-2"}},
			{"image", experiments.Target{Labels: f.labels(), Image: f.altImage}, []string{"db-1"}},
			{"state created", experiments.Target{Labels: f.labels(), State: "created"}, []string{"web-created"}},
			{"pick count", experiments.Target{Labels: f.labels("app", "web"), Pick: experiments.PickCount, Count: 2}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				tg := tt.target
				tg.Name, tg.DeclRange = "sel", declAt(3)
				if tg.Pick == "" {
					tg.Pick = experiments.PickAll
				}
				got, seed, err := Resolve(ctx, cli, &experiments.Experiment{Targets: []*experiments.Target{&tg}}, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if seed == 0 {
					t.Error("seed 0 returned; a run must record the seed it used")
				}
				names := f.names(got["sel"])
				if tt.want != nil && strings.Join(names, ",") != strings.Join(tt.want, ",") {
					t.Errorf("picked %v, want %v", names, tt.want)
				}
				if tt.want == nil && len(names) != tg.Count {
					t.Errorf("picked %v, want %d of them", names, tg.Count)
				}
			})
		}
	})

	t.Run("target fields come from inspect", func(t *testing.T) {
		t.Parallel()
		tg := &experiments.Target{Name: "db", Labels: f.labels(), ComposeService: "db", Pick: experiments.PickAll, DeclRange: declAt(1)}
		got, _, err := Resolve(ctx, cli, &experiments.Experiment{Targets: []*experiments.Target{tg}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got["db"]) != 1 {
			t.Fatalf("got %d targets, want 1", len(got["db"]))
		}
		ft := got["db"][0]
		c := f.byName["db-1"]
		if ft.ID != c.ID || ft.Name != c.Name || ft.Image != f.altImage || ft.State != "running" || ft.PID <= 0 || ft.Group != "db" {
			t.Errorf("target = %+v; want id %s name %s image %s running with a pid, group db", ft, c.ID, c.Name, f.altImage)
		}
		if ft.Labels[ComposeServiceLabel] != "db" {
			t.Errorf("labels = %v", ft.Labels)
		}
		if len(ft.Networks) != 1 {
			t.Fatalf("networks = %+v, want the test network", ft.Networks)
		}
		n := ft.Networks[0]
		if !strings.HasPrefix(n.Name, dockertest.Prefix) || n.IP == nil || n.PrefixLen == 0 || n.Gateway == nil || n.MacAddress == "" {
			t.Errorf("network = %+v, want name, ip, prefix length, gateway and mac", n)
		}
	})

	t.Run("pick modes and seed replay", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name  string
			pick  string
			count int
			pct   float64
			want  int
		}{
			{"all", experiments.PickAll, 0, 0, 3},
			{"one", experiments.PickOne, 0, 0, 1},
			{"count 2", experiments.PickCount, 2, 0, 2},
			{"count above candidates", experiments.PickCount, 9, 0, 3},
			{"50% rounds up", experiments.PickPercent, 0, 50, 2},
			{"10% is at least one", experiments.PickPercent, 0, 10, 1},
		}
		for _, tt := range tests {
			tg := &experiments.Target{Name: "web", Labels: f.labels("app", "web"), Pick: tt.pick, Count: tt.count, Percent: tt.pct, DeclRange: declAt(2)}
			e := &experiments.Experiment{Targets: []*experiments.Target{tg}}
			seen := map[string]bool{}
			for seed := int64(1); seed <= 12; seed++ {
				a, gotSeed, err := Resolve(ctx, cli, e, Options{Seed: seed})
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				if gotSeed != seed {
					t.Errorf("%s: seed %d came back as %d", tt.name, seed, gotSeed)
				}
				b, _, err := Resolve(ctx, cli, e, Options{Seed: seed})
				if err != nil {
					t.Fatal(err)
				}
				an, bn := strings.Join(f.names(a["web"]), ","), strings.Join(f.names(b["web"]), ",")
				if an != bn {
					t.Errorf("%s: seed %d picked %s, then %s", tt.name, seed, an, bn)
				}
				if len(a["web"]) != tt.want {
					t.Errorf("%s: picked %d, want %d", tt.name, len(a["web"]), tt.want)
				}
				if strings.Contains(an, "skip") || strings.Contains(an, "created") {
					t.Errorf("%s: picked %s", tt.name, an)
				}
				seen[an] = true
			}
			if tt.want < 3 && len(seen) < 2 {
				t.Errorf("%s: 12 seeds all picked %v; the pick is not random", tt.name, seen)
			}
		}
	})

	t.Run("empty selection names the target and its line", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name   string
			target experiments.Target
			want   string
		}{
			{"nothing matches", experiments.Target{Labels: f.labels("app", "nope")}, "label app=nope"},
			{"only skipped ones match", experiments.Target{Labels: f.labels("app", "cache")}, "1 matching container(s) are labelled faultline.skip=true"},
		}
		for _, tt := range tests {
			tg := tt.target
			tg.Name, tg.Pick, tg.DeclRange = "ghost", experiments.PickAll, declAt(14)
			e := &experiments.Experiment{Targets: []*experiments.Target{&tg}}
			_, _, err := Resolve(ctx, cli, e, Options{})
			if !errors.Is(err, ErrEmptySelection) || !strings.Contains(err.Error(), `target "ghost" (checkout.hcl:14,1-12)`) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: err = %v; want ErrEmptySelection naming the target, checkout.hcl:14 and %q", tt.name, err, tt.want)
			}
			tg.AllowEmpty = true
			got, _, err := Resolve(ctx, cli, e, Options{})
			if err != nil || len(got["ghost"]) != 0 {
				t.Errorf("%s with allow_empty: got %v, %v; want an empty selection", tt.name, got, err)
			}
		}
	})

	t.Run("max targets", func(t *testing.T) {
		t.Parallel()
		web := &experiments.Target{Name: "web", Labels: f.labels("app", "web"), Pick: experiments.PickAll, DeclRange: declAt(2)}
		again := &experiments.Target{Name: "web-again", Labels: f.labels(), ComposeService: "web", Pick: experiments.PickAll, DeclRange: declAt(9)}
		e := &experiments.Experiment{MaxTargets: 2, Targets: []*experiments.Target{web}, DeclRange: declAt(1)}
		if _, _, err := Resolve(ctx, cli, e, Options{}); !errors.Is(err, ErrTooManyTargets) || !strings.Contains(err.Error(), "max_targets") {
			t.Errorf("3 containers with max_targets = 2: err = %v, want ErrTooManyTargets naming max_targets", err)
		}
		if _, _, err := Resolve(ctx, cli, e, Options{MaxTargets: 3}); !errors.Is(err, ErrTooManyTargets) || !strings.Contains(err.Error(), "max_targets") {
			t.Errorf("--max-targets 3 with max_targets = 2: err = %v, want the experiment's cap of 2 to hold", err)
		}
		if _, _, err := Resolve(ctx, cli, e, Options{MaxTargets: 1}); !errors.Is(err, ErrTooManyTargets) || !strings.Contains(err.Error(), "--max-targets") {
			t.Errorf("--max-targets 1 with max_targets = 2: err = %v, want ErrTooManyTargets naming --max-targets", err)
		}
		// The same containers through two blocks count once.
		e = &experiments.Experiment{MaxTargets: 3, Targets: []*experiments.Target{web, again}}
		if _, _, err := Resolve(ctx, cli, e, Options{}); err != nil {
			t.Errorf("two blocks over the same 3 containers with max_targets = 3: %v", err)
		}
	})
}
