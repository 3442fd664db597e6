// Package container implements the container fault kinds (kill, stop, pause, restart,
// resources) over the Docker Engine API.
//
// Every fault is built by New from validated parameters; Prepare inspects its target
// and returns an Action whose Record holds everything the revert needs, so that
// `faultline recover` can revert it from another process (NewReviver). Reverts run on a
// context that survives cancellation, are idempotent, retry transient engine errors
// within one budget per revert (faults.Budget), undo only what Apply did (a pause the
// engine refused is not unpaused), read back that the container is as it was, and return an error wrapping faults.ErrTargetGone when the container was
// removed or recreated (a recreated container has a new ID).
//
// Docker cannot store "no limit" back through ContainerUpdate: zero means "leave as
// is" and a memory limit below 6 MiB is refused. So resources restores earlier limits
// exactly when there were some, and otherwise sets the values the kernel itself treats
// as "no limit" (memory and memory+swap at the page counter's maximum, a CFS quota of -1
// over the default 100 ms period): the kernel then holds exactly what it held before,
// and Docker applies the same again when the container restarts.
package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/faultline/faultline/faults"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Client is the part of the Docker client the container faults use.
type Client interface {
	ContainerInspect(ctx context.Context, container string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerKill(ctx context.Context, container string, options client.ContainerKillOptions) (client.ContainerKillResult, error)
	ContainerStop(ctx context.Context, container string, options client.ContainerStopOptions) (client.ContainerStopResult, error)
	ContainerStart(ctx context.Context, container string, options client.ContainerStartOptions) (client.ContainerStartResult, error)
	ContainerRestart(ctx context.Context, container string, options client.ContainerRestartOptions) (client.ContainerRestartResult, error)
	ContainerPause(ctx context.Context, container string, options client.ContainerPauseOptions) (client.ContainerPauseResult, error)
	ContainerUnpause(ctx context.Context, container string, options client.ContainerUnpauseOptions) (client.ContainerUnpauseResult, error)
	ContainerUpdate(ctx context.Context, container string, updateConfig client.ContainerUpdateOptions) (client.ContainerUpdateResult, error)
}

// Kinds are the fault kinds this package implements.
var Kinds = []string{"kill", "stop", "pause", "restart", "resources"}

// New builds the fault of the given kind from its decoded parameters, refusing bad ones.
func New(cli Client, kind string, p faults.Params) (faults.Fault, error) {
	if cli == nil {
		return nil, errors.New("container faults need a Docker client")
	}
	f := &fault{cli: cli, kind: kind}
	switch kind {
	case "kill":
		sig := p.String("signal")
		if sig == "" {
			sig = "SIGKILL"
		}
		norm, err := faults.ParseSignal(sig)
		if err != nil {
			return nil, err
		}
		f.st.Signal = norm
		f.st.Restore = true
		if p.Has("restore") {
			f.st.Restore = p.Bool("restore")
		}
	case "stop":
		grace, err := seconds("grace", p, 10*time.Second)
		if err != nil {
			return nil, err
		}
		f.st.Seconds = &grace
	case "restart":
		timeout, err := seconds("timeout", p, 10*time.Second)
		if err != nil {
			return nil, err
		}
		f.st.Seconds = &timeout
	case "pause":
	case "resources":
		sq, err := parseSqueeze(p)
		if err != nil {
			return nil, err
		}
		f.squeeze = sq
	default:
		return nil, fmt.Errorf("%q is not a container fault kind (one of %s)", kind, strings.Join(Kinds, ", "))
	}
	return f, nil
}

func seconds(name string, p faults.Params, def time.Duration) (int, error) {
	d := def
	if p.Has(name) {
		d = p.Duration(name)
	}
	if d < 0 {
		return 0, fmt.Errorf("%s must not be negative, got %s", name, d)
	}
	// Docker counts whole seconds; round up so that a grace period is never shortened.
	return int(math.Ceil(d.Seconds())), nil
}

// squeeze is what a resources fault sets.
type squeeze struct {
	NanoCPUs int64 // 0: CPU untouched
	Memory   int64 // 0: memory untouched
}

// minMemory is Docker's floor for a memory limit.
const minMemory = 6 * 1024 * 1024

func parseSqueeze(p faults.Params) (squeeze, error) {
	var sq squeeze
	if p.Has("cpus") {
		c := p.Number("cpus")
		if c < 0.01 || math.IsNaN(c) || math.IsInf(c, 0) {
			return sq, fmt.Errorf("cpus must be at least 0.01, got %v", c)
		}
		sq.NanoCPUs = int64(math.Round(c * 1e9))
	}
	if p.Has("memory") {
		m := p.Bytes("memory")
		if m < minMemory {
			return sq, fmt.Errorf("memory must be at least 6MiB (Docker's floor), got %d bytes", m)
		}
		sq.Memory = m
	}
	if sq.NanoCPUs == 0 && sq.Memory == 0 {
		return sq, errors.New("resources needs cpus, memory or both")
	}
	return sq, nil
}

// state is a Record's State: what the revert needs.
type state struct {
	Signal  string `json:"signal,omitempty"`
	Restore bool   `json:"restore,omitempty"`
	Seconds *int   `json:"seconds,omitempty"` // grace (stop) or timeout (restart)
	// Before holds a resources fault's earlier limits, During what it sets.
	Before *Limits `json:"before,omitempty"`
	During *Limits `json:"during,omitempty"`
	// StartedAt is the container's start time at Prepare: a restart reads back as a
	// later one.
	StartedAt string `json:"started_at,omitempty"`
	// Outcome is what Apply's engine call came to (empty before Apply), AppliedAt when
	// it was sent. Revert undoes only a call that was done or interrupted.
	Outcome   outcome    `json:"outcome,omitempty"`
	AppliedAt *time.Time `json:"applied_at,omitempty"`
}

// outcome is what became of Apply's engine call.
type outcome string

const (
	// done: the engine (or the kernel, for a direct signal) carried it out.
	outcomeDone outcome = "done"
	// refused: the engine answered no (already paused, not running, ...): nothing
	// changed, so there is nothing to undo.
	refused outcome = "refused"
	// interrupted: the call was cut short (cancelled, timed out, connection lost, an
	// engine error): the engine may have carried it out, or may still be doing so.
	interrupted outcome = "interrupted"
)

// outcomeOf classifies the error of Apply's engine call. Only a definite answer of the
// engine that it did nothing counts as refused.
func outcomeOf(err error) outcome {
	switch {
	case err == nil:
		return outcomeDone
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		client.IsErrConnectionFailed(err), cerrdefs.IsInternal(err), cerrdefs.IsUnknown(err),
		cerrdefs.IsUnavailable(err):
		return interrupted
	case cerrdefs.IsNotFound(err), cerrdefs.IsConflict(err), cerrdefs.IsInvalidArgument(err),
		cerrdefs.IsPermissionDenied(err), cerrdefs.IsNotModified(err), cerrdefs.IsFailedPrecondition(err):
		return refused
	}
	return interrupted
}

// Limits are the resource limits a resources fault changes, as HostConfig holds them.
type Limits struct {
	NanoCPUs   int64 `json:"nano_cpus"`
	CPUQuota   int64 `json:"cpu_quota"`
	CPUPeriod  int64 `json:"cpu_period"`
	Memory     int64 `json:"memory"`
	MemorySwap int64 `json:"memory_swap"`
}

func limitsOf(r container.Resources) Limits {
	return Limits{NanoCPUs: r.NanoCPUs, CPUQuota: r.CPUQuota, CPUPeriod: r.CPUPeriod, Memory: r.Memory, MemorySwap: r.MemorySwap}
}

type fault struct {
	cli     Client
	kind    string
	st      state
	squeeze squeeze
}

func (f *fault) Kind() string { return f.kind }

func (f *fault) Prepare(ctx context.Context, t faults.Target) (faults.Action, error) {
	if t.ID == "" {
		return nil, errors.New("target has no container id")
	}
	res, err := f.cli.ContainerInspect(ctx, t.ID, client.ContainerInspectOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("container %s (%.12s): %w", t.Name, t.ID, faults.ErrTargetGone)
		}
		return nil, fmt.Errorf("inspect container %s: %w", t.Name, err)
	}
	c := res.Container
	if c.State == nil {
		return nil, fmt.Errorf("container %s: the engine reported no state", t.Name)
	}
	st := f.st
	st.StartedAt = c.State.StartedAt
	switch f.kind {
	case "kill", "stop", "restart", "pause":
		if !c.State.Running {
			return nil, fmt.Errorf("container %s is %s, not running: nothing to %s", t.Name, c.State.Status, f.kind)
		}
		if f.kind == "pause" && c.State.Paused {
			// Unpausing at the end would undo something faultline did not do.
			return nil, fmt.Errorf("container %s is already paused by someone else: faultline will not pause it (it would unpause it at the end)", t.Name)
		}
	case "resources":
		if c.HostConfig == nil {
			return nil, fmt.Errorf("container %s: the engine reported no host configuration", t.Name)
		}
		before := limitsOf(c.HostConfig.Resources)
		during := squeezed(before, f.squeeze)
		st.Before, st.During = &before, &during
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	a := &action{cli: f.cli, kind: f.kind, st: st, target: t, rec: faults.Record{
		Kind:   f.kind,
		Target: faults.TargetRef{ID: c.ID, Name: strings.TrimPrefix(c.Name, "/"), PID: c.State.Pid},
		Phase:  faults.PhasePrepared,
		State:  raw,
	}}
	return a, nil
}

// Default CFS period of the kernel and of Docker, in microseconds.
const defaultCPUPeriod = 100000

// unlimitedMemory is the largest page-aligned limit: the value the kernel itself holds
// for a memory cgroup without a limit, so setting it is the same as having none.
const unlimitedMemory = math.MaxInt64 &^ (4096 - 1)

// squeezed returns the limits during the fault, keeping the form (NanoCPUs or a CFS
// quota) the container already uses: Docker refuses to mix them.
func squeezed(before Limits, sq squeeze) Limits {
	during := before
	if sq.NanoCPUs > 0 {
		if before.NanoCPUs > 0 {
			during.NanoCPUs = sq.NanoCPUs
		} else {
			// A quota, not NanoCPUs, because NanoCPUs can never be cleared again while a
			// quota of -1 is how the kernel says "no limit".
			period := before.CPUPeriod
			if period <= 0 {
				period = defaultCPUPeriod
			}
			during.CPUPeriod = period
			during.CPUQuota = max(1000, sq.NanoCPUs*period/1e9) // Docker's floor is 1 ms
		}
	}
	if sq.Memory > 0 {
		during.Memory = sq.Memory
		during.MemorySwap = sq.Memory // no swap: the squeeze is real
	}
	return during
}

// restoreRequests are the updates that bring the limits back from during to before.
//
// Docker hands a swap limit to the runtime only when it is positive, so "unlimited
// swap" (-1) never reaches the kernel through an update: the kernel's swap limit would
// stay squeezed and refuse a larger memory limit. The first update therefore lifts swap
// to the kernel's unlimited value together with memory; a second one then records -1 in
// HostConfig when that is what was there, which changes nothing in the kernel.
func restoreRequests(before, during Limits) []container.Resources {
	var r container.Resources
	if during.NanoCPUs != before.NanoCPUs {
		r.NanoCPUs = before.NanoCPUs // only changed when it was set before, so never 0
	}
	if during.CPUQuota != before.CPUQuota || during.CPUPeriod != before.CPUPeriod {
		r.CPUQuota = before.CPUQuota
		if r.CPUQuota == 0 {
			r.CPUQuota = -1
		}
		r.CPUPeriod = before.CPUPeriod
		if r.CPUPeriod == 0 {
			r.CPUPeriod = defaultCPUPeriod
		}
	}
	var swapMarker *container.Resources
	if during.Memory != before.Memory || during.MemorySwap != before.MemorySwap {
		r.Memory = before.Memory
		if r.Memory == 0 {
			r.Memory = unlimitedMemory
		}
		r.MemorySwap = before.MemorySwap
		if r.MemorySwap <= 0 {
			r.MemorySwap = unlimitedMemory
		}
		if before.MemorySwap == -1 {
			swapMarker = &container.Resources{MemorySwap: -1}
		}
	}
	out := []container.Resources{r}
	if swapMarker != nil {
		out = append(out, *swapMarker)
	}
	return out
}

// squeezeRequest is the update that sets during.
func squeezeRequest(before, during Limits) container.Resources {
	var r container.Resources
	if during.NanoCPUs != before.NanoCPUs {
		r.NanoCPUs = during.NanoCPUs
	}
	if during.CPUQuota != before.CPUQuota || during.CPUPeriod != before.CPUPeriod {
		r.CPUQuota, r.CPUPeriod = during.CPUQuota, during.CPUPeriod
	}
	if during.Memory != before.Memory || during.MemorySwap != before.MemorySwap {
		r.Memory, r.MemorySwap = during.Memory, during.MemorySwap
	}
	return r
}

// Equivalent reports whether two sets of limits mean the same to the kernel: zero and
// the explicit "no limit" values Docker forces a restore to use are the same thing.
func Equivalent(a, b Limits) bool {
	norm := func(l Limits) Limits {
		if l.Memory == 0 || l.Memory >= unlimitedMemory {
			l.Memory = 0
		}
		if l.MemorySwap <= 0 || l.MemorySwap >= unlimitedMemory {
			l.MemorySwap = 0
		}
		if l.CPUQuota <= 0 {
			l.CPUQuota = 0
		}
		if l.CPUQuota == 0 && (l.CPUPeriod == 0 || l.CPUPeriod == defaultCPUPeriod) {
			l.CPUPeriod = 0
		}
		return l
	}
	return norm(a) == norm(b)
}
