package targets

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/faultline/faultline/experiments"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// countingLister serves a fixed listing and counts the inspections, to check what
// Resolve asks the engine for; the real behaviour is tested against Docker beside it.
type countingLister struct {
	items     []container.Summary
	mu        sync.Mutex
	inspected []string
	filters   client.Filters
}

func (l *countingLister) ContainerList(_ context.Context, o client.ContainerListOptions) (client.ContainerListResult, error) {
	l.filters = o.Filters
	return client.ContainerListResult{Items: l.items}, nil
}

func (l *countingLister) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inspected = append(l.inspected, id)
	return client.ContainerInspectResult{Container: container.InspectResponse{ID: id, Name: "/" + id, State: &container.State{Status: "running"}}}, nil
}

func tenContainers() []container.Summary {
	var items []container.Summary
	for i := range 10 {
		items = append(items, container.Summary{ID: fmt.Sprintf("c%02d", i), Names: []string{fmt.Sprintf("/c%02d", i)}})
	}
	return items
}

func TestResolveInspectsOnlyThePicked(t *testing.T) {
	t.Parallel()
	l := &countingLister{items: tenContainers()}
	tg := &experiments.Target{Name: "t", Labels: map[string]string{"app": "x"}, ComposeService: "svc", Pick: experiments.PickCount, Count: 3}
	got, _, err := Resolve(context.Background(), l, &experiments.Experiment{Targets: []*experiments.Target{tg}}, Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(got["t"]) != 3 || len(l.inspected) != 3 {
		t.Errorf("picked %d and inspected %d, want 3 and 3", len(got["t"]), len(l.inspected))
	}
	for _, want := range []string{"app=x", ComposeServiceLabel + "=svc"} {
		if !l.filters["label"][want] {
			t.Errorf("label filter %q not sent to the engine: %v", want, l.filters)
		}
	}
	if !l.filters["status"]["running"] {
		t.Errorf("status filter running not sent: %v", l.filters)
	}
}

func TestResolveRefusesBeforeInspecting(t *testing.T) {
	t.Parallel()
	l := &countingLister{items: tenContainers()}
	tg := &experiments.Target{Name: "t", Labels: map[string]string{"app": "x"}, Pick: experiments.PickAll}
	_, _, err := Resolve(context.Background(), l, &experiments.Experiment{Targets: []*experiments.Target{tg}}, Options{MaxTargets: 9})
	if !errors.Is(err, ErrTooManyTargets) {
		t.Fatalf("err = %v, want ErrTooManyTargets", err)
	}
	if len(l.inspected) != 0 {
		t.Errorf("inspected %d containers of a refused plan", len(l.inspected))
	}
}

func TestMaxTargetsFlagCannotRaiseTheExperimentsCap(t *testing.T) {
	t.Parallel()
	tg := &experiments.Target{Name: "t", Labels: map[string]string{"app": "x"}, Pick: experiments.PickAll}
	e := &experiments.Experiment{MaxTargets: 9, Targets: []*experiments.Target{tg}}
	_, _, err := Resolve(context.Background(), &countingLister{items: tenContainers()}, e, Options{MaxTargets: 20})
	if !errors.Is(err, ErrTooManyTargets) || !strings.Contains(err.Error(), "the 9 that max_targets") {
		t.Fatalf("ten containers, max_targets = 9, --max-targets 20: err = %v, want the experiment's 9 to hold", err)
	}
}

func TestImageMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		want, ref, id string
		match         bool
	}{
		{"shop", "shop:latest", "", true},
		{"shop:latest", "shop", "", true},
		{"docker.io/library/redis:7", "redis:7", "", true},
		{"shop:dev", "shop:latest", "", false},
		{"sha256:0123456789ab", "x", "sha256:0123456789abcdef", true},
		{"0123456789ab", "x", "sha256:0123456789abcdef", true},
		{"0123", "x", "sha256:0123456789abcdef", false},
		{"registry:5000/shop", "registry:5000/shop:latest", "", true},
	}
	for _, tt := range tests {
		if got := imageMatches(tt.want, tt.ref, tt.id); got != tt.match {
			t.Errorf("imageMatches(%q, %q, %q) = %v, want %v", tt.want, tt.ref, tt.id, got, tt.match)
		}
	}
}

func TestScrapedOnlyTargetsDoNotCountAgainstTheCap(t *testing.T) {
	t.Parallel()
	hit := &experiments.Target{Name: "hit", Labels: map[string]string{"app": "x"}, Pick: experiments.PickOne}
	watched := &experiments.Target{Name: "watched", Labels: map[string]string{"app": "x"}, Pick: experiments.PickAll}
	e := &experiments.Experiment{MaxTargets: 1, Targets: []*experiments.Target{hit, watched},
		Faults:  []*experiments.FaultSpec{{Kind: "pause", Name: "f", Target: "hit"}},
		Scrapes: []*experiments.Scrape{{Job: "all", Target: "watched", Port: 9100}}}
	got, _, err := Resolve(context.Background(), &countingLister{items: tenContainers()}, e, Options{})
	if err != nil {
		t.Fatalf("one container hit, ten scraped, max_targets 1: %v", err)
	}
	if len(got["hit"]) != 1 || len(got["watched"]) != 10 {
		t.Errorf("resolved %d hit and %d watched, want 1 and 10", len(got["hit"]), len(got["watched"]))
	}
	e.Faults[0].Target = "watched" // now the scraped block is hit too: it counts
	if _, _, err := Resolve(context.Background(), &countingLister{items: tenContainers()}, e, Options{}); !errors.Is(err, ErrTooManyTargets) {
		t.Errorf("a faulted block of ten under max_targets 1: err = %v, want ErrTooManyTargets", err)
	}
}
