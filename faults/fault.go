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
	"net"
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
type Action interface {
	// Apply injects the fault.
	Apply(ctx context.Context) error
	// Revert undoes Apply. It is idempotent: reverting twice, or reverting an action
	// whose Apply failed half way or never ran, is not an error. A target that is gone
	// or was recreated needs no revert: Revert returns an error wrapping ErrTargetGone.
	Revert(ctx context.Context) error
	// Record is everything needed to revert this action from another process.
	Record() Record
}

// Parallelism is how many targets are hit (or reverted) at once by default: enough
// to keep an engine on a small host busy, few enough not to swamp it.
const Parallelism = 16

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

// Record is the durable description of an action, written to the journal before Apply.
type Record struct {
	Kind   string    `json:"kind"`
	Fault  string    `json:"fault"` // the experiment's fault block name; the runner fills it
	Target TargetRef `json:"target"`
	// State is the kind's own revert data (earlier limits, qdisc handle, routes, ...).
	State json.RawMessage `json:"state,omitempty"`
}

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
