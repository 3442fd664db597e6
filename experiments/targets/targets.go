// Package targets resolves an experiment's target blocks to the containers they select
// on a Docker Engine: label selectors (including Docker Compose project and service)
// and the state are filtered by the engine, the name pattern, the image and the skip
// label here; then pick chooses among the candidates with a seeded random source, so
// that a run can be replayed with the same seed. Only the chosen containers are
// inspected, and nothing is inspected when the plan would exceed max_targets.
package targets

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/faults"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"
)

// SkipLabel marks a container faultline never touches when its value is true.
const SkipLabel = "faultline.skip"

// Docker Compose's labels for the project and the service of a container.
const (
	ComposeProjectLabel = "com.docker.compose.project"
	ComposeServiceLabel = "com.docker.compose.service"
)

// ErrEmptySelection marks a target block that selects no container (and does not allow it).
var ErrEmptySelection = errors.New("target selects no container")

// ErrTooManyTargets marks a plan that would touch more containers than max_targets allows.
var ErrTooManyTargets = errors.New("too many targets")

// Lister is the part of the Docker client resolution needs.
type Lister interface {
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, container string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
}

// Options shape a resolution.
type Options struct {
	// Seed drives the random picks; 0 chooses a random seed, which Resolve returns.
	Seed int64
	// MaxTargets caps the number of distinct containers the experiment may touch. It
	// can only lower the experiment's own max_targets: the smaller of the two holds;
	// 0 leaves the experiment's (0 there too: no cap).
	MaxTargets int
}

// inspectParallelism bounds concurrent ContainerInspect calls.
const inspectParallelism = 8

// Resolve returns, for every target block of e by name, the containers it picked
// (sorted by name), and the seed that drove the picks.
func Resolve(ctx context.Context, lister Lister, e *experiments.Experiment, opts Options) (map[string][]faults.Target, int64, error) {
	seed := opts.Seed
	if seed == 0 {
		seed = randomSeed()
	}
	picked := make(map[string][]container.Summary, len(e.Targets))
	distinct := map[string]bool{}
	// touched are the containers faults act on; those only scraped do not count
	// against the cap.
	touched, observedOnly := map[string]bool{}, e.ObservedOnly()
	for _, t := range e.Targets {
		cands, err := candidates(ctx, lister, t)
		if err != nil {
			return nil, seed, err
		}
		chosen := pick(t, cands, seed)
		picked[t.Name] = chosen
		for _, c := range chosen {
			distinct[c.ID] = true
			if !observedOnly[t.Name] {
				touched[c.ID] = true
			}
		}
	}

	// --max-targets can only lower the experiment's own cap: the smaller one holds.
	limit, from := e.MaxTargets, "max_targets in "+e.DeclRange.String()
	if opts.MaxTargets > 0 && (limit == 0 || opts.MaxTargets < limit) {
		limit, from = opts.MaxTargets, "--max-targets"
	}
	if limit > 0 && len(touched) > limit {
		return nil, seed, fmt.Errorf("%w: the experiment would touch %d containers (%s), more than the %d that %s allows: narrow the selectors, pick fewer, or raise the cap",
			ErrTooManyTargets, len(touched), countsByTarget(e, picked), limit, from)
	}

	inspected, err := inspectAll(ctx, lister, distinct)
	if err != nil {
		return nil, seed, err
	}
	out := make(map[string][]faults.Target, len(e.Targets))
	for _, t := range e.Targets {
		list := []faults.Target{}
		for _, c := range picked[t.Name] {
			ins, ok := inspected[c.ID]
			if !ok {
				continue // removed between the listing and the inspection
			}
			ft := toTarget(ins)
			ft.Group = t.Name
			list = append(list, ft)
		}
		if len(list) == 0 && !t.AllowEmpty {
			return nil, seed, fmt.Errorf("%w: target %q (%s) lost every container it picked while they were inspected: they were removed; run again",
				ErrEmptySelection, t.Name, t.DeclRange.String())
		}
		out[t.Name] = list
	}
	return out, seed, nil
}

func randomSeed() int64 {
	var b [8]byte
	for {
		_, _ = crand.Read(b[:])
		// Keep seeds positive and non-zero: 0 means "choose one", and a positive number
		// is easier to pass back with --seed.
		if s := int64(binary.LittleEndian.Uint64(b[:]) >> 1); s != 0 {
			return s
		}
	}
}

// candidates lists the containers a target block selects, before pick.
func candidates(ctx context.Context, lister Lister, t *experiments.Target) ([]container.Summary, error) {
	var nameRE *regexp.Regexp
	if t.NameRegex != "" {
		re, err := regexp.Compile(t.NameRegex)
		if err != nil {
			return nil, fmt.Errorf("target %q (%s): name pattern %q: %w", t.Name, t.DeclRange.String(), t.NameRegex, err)
		}
		nameRE = re
	}
	filters := client.Filters{}
	for k, v := range t.Labels {
		filters.Add("label", k+"="+v)
	}
	if t.ComposeProject != "" {
		filters.Add("label", ComposeProjectLabel+"="+t.ComposeProject)
	}
	if t.ComposeService != "" {
		filters.Add("label", ComposeServiceLabel+"="+t.ComposeService)
	}
	state := cmp.Or(t.State, string(container.StateRunning))
	filters.Add("status", state)

	res, err := lister.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
	if err != nil {
		return nil, fmt.Errorf("target %q (%s): list containers: %w", t.Name, t.DeclRange.String(), err)
	}
	var out []container.Summary
	skipped := 0
	for _, c := range res.Items {
		if nameRE != nil && !slices.ContainsFunc(c.Names, func(n string) bool { return nameRE.MatchString(strings.TrimPrefix(n, "/")) }) {
			continue
		}
		if t.Image != "" && !imageMatches(t.Image, c.Image, c.ImageID) {
			continue
		}
		if skip, _ := strconv.ParseBool(c.Labels[SkipLabel]); skip {
			skipped++
			continue
		}
		out = append(out, c)
	}
	if len(out) == 0 && !t.AllowEmpty {
		why := ""
		if skipped > 0 {
			why = fmt.Sprintf("; %d matching container(s) are labelled %s=true and never touched", skipped, SkipLabel)
		}
		return nil, fmt.Errorf("%w: target %q (%s) selects no %s container with %s%s: check the selectors against `docker ps -a`, or set allow_empty = true",
			ErrEmptySelection, t.Name, t.DeclRange.String(), state, t.Selectors(), why)
	}
	// The engine lists newest first; sort by name so that a seed replays the same picks.
	sort.Slice(out, func(i, j int) bool { return containerName(out[i]) < containerName(out[j]) })
	return out, nil
}

// imageMatches compares the image a target names with a container's, the way a user
// reads `docker ps`: "shop" means "shop:latest", and an image ID (or its prefix) works too.
func imageMatches(want, ref, id string) bool {
	if want == ref || normalizeRef(want) == normalizeRef(ref) {
		return true
	}
	hex := strings.TrimPrefix(want, "sha256:")
	return len(hex) >= 12 && strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), hex)
}

func normalizeRef(ref string) string {
	ref = strings.TrimPrefix(ref, "docker.io/")
	ref = strings.TrimPrefix(ref, "library/")
	if strings.Contains(ref, "@") {
		return ref
	}
	if i := strings.LastIndex(ref, ":"); i < 0 || strings.Contains(ref[i:], "/") {
		ref += ":latest"
	}
	return ref
}

func containerName(c container.Summary) string {
	if len(c.Names) == 0 {
		return c.ID
	}
	return strings.TrimPrefix(c.Names[0], "/")
}

// pick chooses among the sorted candidates. Each block draws from its own stream,
// derived from the seed and its name, so adding a block does not change another's picks.
func pick(t *experiments.Target, cands []container.Summary, seed int64) []container.Summary {
	n := len(cands)
	k := n
	switch t.Pick {
	case experiments.PickOne:
		k = 1
	case experiments.PickCount:
		k = t.Count
	case experiments.PickPercent:
		k = int(math.Ceil(float64(n) * t.Percent / 100))
	}
	k = max(1, min(k, n))
	if n == 0 {
		return nil
	}
	if k == n {
		return slices.Clone(cands)
	}
	h := fnv.New64a()
	h.Write([]byte(t.Name))
	rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
	idx := rng.Perm(n)[:k]
	sort.Ints(idx)
	out := make([]container.Summary, k)
	for i, j := range idx {
		out[i] = cands[j]
	}
	return out
}

func countsByTarget(e *experiments.Experiment, picked map[string][]container.Summary) string {
	parts := make([]string, 0, len(e.Targets))
	for _, t := range e.Targets {
		parts = append(parts, fmt.Sprintf("%s: %d", t.Name, len(picked[t.Name])))
	}
	return strings.Join(parts, ", ")
}

// inspectAll inspects the chosen containers, a few at a time. A container removed in
// the meantime is left out; any other error fails the resolution.
func inspectAll(ctx context.Context, lister Lister, ids map[string]bool) (map[string]container.InspectResponse, error) {
	var (
		mu       sync.Mutex
		out      = make(map[string]container.InspectResponse, len(ids))
		firstErr error
		g        errgroup.Group
	)
	g.SetLimit(inspectParallelism)
	for id := range ids {
		g.Go(func() error {
			res, err := lister.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				out[id] = res.Container
			case cerrdefs.IsNotFound(err):
			case firstErr == nil:
				firstErr = fmt.Errorf("inspect container %.12s: %w", id, err)
			}
			return nil
		})
	}
	_ = g.Wait()
	return out, firstErr
}

// toTarget fills a Target from an inspection.
func toTarget(c container.InspectResponse) faults.Target {
	t := faults.Target{ID: c.ID, Name: strings.TrimPrefix(c.Name, "/")}
	if c.Config != nil {
		t.Image = c.Config.Image
		t.Labels = c.Config.Labels
	}
	if t.Image == "" {
		t.Image = c.Image
	}
	if c.State != nil {
		t.State = string(c.State.Status)
		t.PID = c.State.Pid
	}
	if c.NetworkSettings != nil {
		names := make([]string, 0, len(c.NetworkSettings.Networks))
		for name := range c.NetworkSettings.Networks {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			ep := c.NetworkSettings.Networks[name]
			if ep == nil {
				continue
			}
			n := faults.Network{Name: name, PrefixLen: ep.IPPrefixLen, MacAddress: ep.MacAddress.String()}
			if ep.IPAddress.IsValid() {
				n.IP = net.IP(ep.IPAddress.AsSlice())
			}
			if ep.Gateway.IsValid() {
				n.Gateway = net.IP(ep.Gateway.AsSlice())
			}
			t.Networks = append(t.Networks, n)
		}
	}
	return t
}
