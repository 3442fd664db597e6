// Package faults defines what a fault is to the rest of faultline: the registry of
// fault kinds and their parameters (read by the language, the `faults` command and
// the docs), the resolved Target a fault hits, and the Fault/Action contract that
// makes every injection revertible, even by a later process after a crash.
//
// The implementations live in faults/container (Docker Engine API) and
// faults/network (netlink inside the container's network namespace).
package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Target is one resolved container, as seen by ContainerInspect when the plan was made.
type Target struct {
	ID     string            `json:"id"`
	Name   string            `json:"name"`
	Image  string            `json:"image"`
	Labels map[string]string `json:"labels,omitempty"`
	State  string            `json:"state"`
	// PID of the container's init process; its network namespace is /proc/PID/ns/net.
	PID      int       `json:"pid,omitempty"`
	Networks []Network `json:"networks,omitempty"`
	// Group is the name of the experiment's target block this container was picked for.
	Group string `json:"group,omitempty"`
}

// ShortID is the 12-character container id Docker shows.
func (t Target) ShortID() string {
	if len(t.ID) > 12 {
		return t.ID[:12]
	}
	return t.ID
}

// Network is one Docker network the container is attached to.
type Network struct {
	Name       string `json:"name"`
	IP         net.IP `json:"ip,omitempty"`
	PrefixLen  int    `json:"prefix_len,omitempty"`
	Gateway    net.IP `json:"gateway,omitempty"`
	MacAddress string `json:"mac,omitempty"`
}

// Fault is one configured fault kind, built from validated parameters. Building it
// rejects bad parameters; Prepare looks at a target and changes nothing.
type Fault interface {
	Kind() string
	// Prepare inspects the target and returns the Action that would inject the fault.
	// Everything the revert needs is known here, so it can be journaled before Apply.
	Prepare(ctx context.Context, t Target) (Action, error)
}

// Action is one fault against one target.
//
// An action undoes only what it did: Apply tracks what it changed (and what it was
// refused), Record carries that to the journal, and Revert touches nothing else. A
// pause the engine refused because the container was already paused (by an operator,
// by another run) is not unpaused at the end.
type Action interface {
	// Apply injects the fault.
	Apply(ctx context.Context) error
	// Verify reads the fault back from the system, not from memory: the engine's state
	// and limits of the container, the kernel's qdiscs, filters and routes in its
	// namespace. After a successful Apply it expects the fault in place; before Apply,
	// after a failed one and after Revert it expects nothing of this action's left. It
	// costs one engine inspect or one netlink dump per target, so it can run every
	// step. When the system does not read back as expected the error wraps
	// ErrNotInjected (or ErrNotClean) and says what was found instead; the
	// Verification is filled either way.
	Verify(ctx context.Context) (Verification, error)
	// Revert undoes Apply and reads back that nothing of this action's is left; when
	// something is, it returns an error wrapping ErrNotClean. It is idempotent:
	// reverting twice, or reverting an action whose Apply failed half way or never ran,
	// is not an error. A target that is gone or was recreated needs no revert: Revert
	// returns an error wrapping ErrTargetGone.
	Revert(ctx context.Context) error
	// Record is everything needed to revert this action from another process, as far
	// as the action got: what it will do before Apply, what it did after.
	Record() Record
}

// Verification is one read-back of an action from the system.
type Verification struct {
	// At is when the system was read.
	At time.Time `json:"at"`
	// Checks holds one entry per object read back (a container's state, one qdisc,
	// one route).
	Checks []Check `json:"checks"`
}

// Check is one object read back: what was looked at, what was expected, what the
// engine or the kernel reported.
type Check struct {
	What  string `json:"what"`
	Want  string `json:"want"`
	Found string `json:"found"`
	OK    bool   `json:"ok"`
}

// OK reports whether every check found what it expected.
func (v Verification) OK() bool {
	for _, c := range v.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// Add appends a check.
func (v *Verification) Add(what, want, found string, ok bool) {
	v.Checks = append(v.Checks, Check{What: what, Want: want, Found: found, OK: ok})
}

// String lists the checks as "what: found" (with what was wanted where it differs).
func (v Verification) String() string {
	parts := make([]string, 0, len(v.Checks))
	for _, c := range v.Checks {
		if c.OK {
			parts = append(parts, c.What+": "+c.Found)
		} else {
			parts = append(parts, fmt.Sprintf("%s: found %s, want %s", c.What, c.Found, c.Want))
		}
	}
	return strings.Join(parts, "; ")
}

// Mismatch returns nil when v is OK, and otherwise an error wrapping kind (ErrNotInjected
// or ErrNotClean) that lists what was found instead of what was expected.
func (v Verification) Mismatch(kind error) error {
	var bad []string
	for _, c := range v.Checks {
		if !c.OK {
			bad = append(bad, fmt.Sprintf("%s: found %s, want %s", c.What, c.Found, c.Want))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", kind, strings.Join(bad, "; "))
}

// ErrNotInjected marks a fault that does not read back from the system as injected:
// the injection failed, whatever Apply returned.
var ErrNotInjected = errors.New("the fault does not read back as injected")

// ErrNotClean marks a revert after which something of the fault still reads back (or
// the target is not in the state it had): the revert failed.
var ErrNotClean = errors.New("the revert does not read back clean")

// Parallelism is how many targets are hit (or reverted) at once by default. The
// engine's container calls wait more than they compute (a stop waits for the
// process to exit), so 50, as one docker CLI call given 50 ids sends them: with 16,
// the 50th stop came 1 s after the CLI's; pause and kill are no slower for it
// (docs/benchmarks-container.md).
const Parallelism = 50

// Releaser is implemented by actions that hold resources from Prepare (a network
// namespace, a netlink socket). Release frees them for an action that will never be
// applied, without reverting anything; Revert frees them too.
type Releaser interface {
	Release()
}

// Warner is implemented by actions that learn, while preparing, something the report
// should mention about their target (for example that other containers share its
// network namespace and will feel the fault too).
type Warner interface {
	Warnings() []string
}

// Ways an action reaches its target, as Router reports them.
const (
	// ViaPidfd: a signal sent straight to the container's process through a pidfd.
	ViaPidfd = "pidfd"
	// ViaEngine: the Docker Engine's own call.
	ViaEngine = "engine"
)

// Router is implemented by actions that can reach their target more than one way (a
// kill: a signal straight to the process, or the engine's kill). After Apply, Via
// names the way taken (ViaPidfd, ViaEngine; "" before Apply) and, when a faster way
// was not taken, why not.
type Router interface {
	Via() (via, fallback string)
}

// Record is the durable description of an action, written to the journal before Apply
// and again as Apply starts and ends.
type Record struct {
	Kind   string    `json:"kind"`
	Fault  string    `json:"fault"` // the experiment's fault block name; the runner fills it
	Target TargetRef `json:"target"`
	// Phase is how far the action got when the record was written: PhasePrepared,
	// PhaseApplying or PhaseApplied. Records of older journals have none and are
	// treated as PhaseApplying: the fault may be in place.
	Phase string `json:"phase,omitempty"`
	// PhaseAt is when the phase began (for PhaseApplying: when Apply was sent), so a
	// revert can wait for an engine that is still carrying out a stop it was sent.
	PhaseAt *time.Time `json:"phase_at,omitempty"`
	// State is the kind's own revert data (earlier limits, qdisc handle, routes, and
	// after Apply what it actually changed).
	State json.RawMessage `json:"state,omitempty"`
}

// Phases of a Record.
const (
	// PhasePrepared: Apply has not started; nothing was changed.
	PhasePrepared = "prepared"
	// PhaseApplying: Apply was started; its outcome is unknown, so the fault may be in
	// place. The runner writes it just before Apply.
	PhaseApplying = "applying"
	// PhaseApplied: Apply returned; State says what it changed, if anything.
	PhaseApplied = "applied"
)

// Uncertain reports whether a record leaves open whether its fault was applied: its
// revert must then look at the system to decide, and act only on what reads back as
// this action's own.
func (r Record) Uncertain() bool { return r.Phase == PhaseApplying || r.Phase == "" }

// TargetRef identifies the target of a record well enough to tell whether it is still
// the same container (and the same network namespace) when the record is replayed.
type TargetRef struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	PID   int    `json:"pid,omitempty"`
	NetNS uint64 `json:"netns_inode,omitempty"`
}

// Reviver rebuilds an Action from its Record, to revert it after a crash.
type Reviver interface {
	Revive(rec Record) (Action, error)
}

// ErrTargetGone marks a revert that was not needed because the target disappeared or
// was recreated: a warning for the report, not a failure.
var ErrTargetGone = errTargetGone{}

type errTargetGone struct{}

func (errTargetGone) Error() string { return "target is gone or was recreated" }

// RevertTimeout bounds one revert attempt when it runs on a context that survives
// cancellation (context.WithoutCancel).
const RevertTimeout = 30 * time.Second

// ApplyTimeout bounds one Prepare and one Apply of an action that does not say it
// needs longer (Bounder): a hung engine or kernel call fails the injection instead of
// holding the run.
const ApplyTimeout = 30 * time.Second

// Bounder is implemented by actions whose Apply or Revert may take longer than
// ApplyTimeout or RevertTimeout: a stop or restart waits out the container's grace
// period, and the revert of a stop interrupted in its grace waits for it to end.
type Bounder interface {
	// ApplyBound bounds one Apply; RevertBound one Revert attempt started now.
	ApplyBound() time.Duration
	RevertBound() time.Duration
}

// ApplyBound is how long one Apply of a may take.
func ApplyBound(a Action) time.Duration {
	if b, ok := a.(Bounder); ok {
		return max(b.ApplyBound(), ApplyTimeout)
	}
	return ApplyTimeout
}

// RevertBound is how long one Revert attempt of a, started now, may take.
func RevertBound(a Action) time.Duration {
	if b, ok := a.(Bounder); ok {
		return max(b.RevertBound(), RevertTimeout)
	}
	return RevertTimeout
}
