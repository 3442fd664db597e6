package network

import (
	"context"
	"errors"
	"fmt"

	"github.com/faultline/faultline/faults"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// action is one prepared network fault against one target: what Apply will add, and
// (through undo) what its revert and read-back need. Its methods may be called from
// different goroutines (an abort reverts while Apply runs), so they serialise.
type action struct {
	undo
	warnings []string
}

var _ faults.Action = (*action)(nil)

// Apply adds the planned qdiscs, filters and routes, marking in the state each one it
// added. On failure it removes what it added, and only that: a qdisc or route that
// made its add fail belongs to someone else.
func (a *action) Apply(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.phase != faults.PhasePrepared {
		return fmt.Errorf("%s on %s: already applied once: an action is applied at most once", a.kind, a.ref.Name)
	}
	a.phase = faults.PhaseApplied
	err := a.applyLocked()
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), faults.RevertTimeout)
		defer cancel()
		if rerr := a.revertLocked(rctx); rerr != nil && !errors.Is(rerr, faults.ErrTargetGone) {
			err = errors.Join(err, fmt.Errorf("undo after the failed apply: %w", rerr))
		}
		return fmt.Errorf("%s on %s: %w", a.kind, a.ref.Name, err)
	}
	return nil
}

func (a *action) applyLocked() error {
	c := a.target
	if c == nil || !c.current() {
		return fmt.Errorf("the container's network namespace changed since Prepare (restarted?): %w", faults.ErrTargetGone)
	}
	for i, lp := range a.plan {
		// The root first, then its classes, then the qdisc hanging under a class.
		for j, q := range lp.qdiscs {
			if err := c.nl.QdiscAdd(q); err != nil {
				return qdiscError(q.Type(), lp.link.Name, err)
			}
			if j > 0 {
				continue
			}
			a.st.Qdisc.Links[i].Added = true // deleting the root takes the rest with it
			for _, cl := range lp.classes {
				if err := c.nl.ClassAdd(cl); err != nil {
					return fmt.Errorf("add %s class on %s: %w", cl.Type(), lp.link.Name, err)
				}
			}
		}
		for _, fl := range lp.filters {
			if err := c.nl.FilterAdd(fl); err != nil {
				if errors.Is(err, unix.ENOENT) {
					return fmt.Errorf("add u32 filter on %s: %w: the kernel has no u32 classifier: run `modprobe cls_u32`", lp.link.Name, ErrUnsupported)
				}
				return fmt.Errorf("add u32 filter on %s: %w", lp.link.Name, err)
			}
		}
	}
	for _, cidr := range a.st.Routes {
		if err := addBlackhole(c, cidr, a.st.Metric); err != nil {
			return err
		}
		a.st.AddedRoutes++
	}
	for i, ps := range a.st.Peers {
		pc := a.peers[ps.Target.PID]
		if pc == nil || !pc.current() {
			return fmt.Errorf("peer %s changed its network namespace since Prepare (restarted?)", ps.Target.Name)
		}
		for _, cidr := range ps.Routes {
			if err := addBlackhole(pc, cidr, a.st.Metric); err != nil {
				return fmt.Errorf("peer %s: %w", ps.Target.Name, err)
			}
			a.st.Peers[i].AddedRoutes++
		}
	}
	return nil
}

func addBlackhole(c *conn, cidr string, metric uint32) error {
	r, err := blackhole(cidr, metric)
	if err != nil {
		return err
	}
	if err := c.nl.RouteAdd(r); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add blackhole route to %s: a route to it appeared since Prepare; refused to replace it", cidr)
		}
		return fmt.Errorf("add blackhole route to %s: %w", cidr, err)
	}
	return nil
}

// qdiscError says what a failed qdisc add means and what to do.
func qdiscError(kind, link string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("add %s qdisc on %s: %w: the kernel has no sch_%s: run `modprobe sch_%s`", kind, link, ErrUnsupported, kind, kind)
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("add %s qdisc on %s: a root qdisc appeared since Prepare (another fault's, or someone's); refused to replace it, and it is left alone: %w", kind, link, err)
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("add %s qdisc on %s: %w: faultline needs CAP_NET_ADMIN (run as root)", kind, link, err)
	}
	return fmt.Errorf("add %s qdisc on %s: %w", kind, link, err)
}

// Warnings lists what the report should mention about this target (a shared namespace).
func (a *action) Warnings() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.warnings...)
}

// blackhole is our route to cidr: in the main table, with our protocol and metric.
func blackhole(cidr string, metric uint32) (*netlink.Route, error) {
	r, err := parseBlackhole(cidr)
	if err != nil {
		return nil, err
	}
	r.Priority = int(metric)
	return r, nil
}
