package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Retries of one revert, all its steps together, within RevertTimeout.
const (
	revertAttempts = 6
	revertBackoff  = 20 * time.Millisecond
	revertMaxWait  = time.Second
)

// undo is what reverting and reading back a network fault needs: the target's
// identity, the state (planned, and what Apply added), the open namespaces. A prepared
// action embeds it with its plan; Revive rebuilds it from a record alone.
type undo struct {
	mu    sync.Mutex
	kind  string
	ref   faults.TargetRef
	st    state
	major uint16
	// plan is what Apply adds, per interface; nil in a revived action, whose read-back
	// then checks the kind of our qdisc only.
	plan   []linkPlan
	target *conn
	peers  map[int]*conn
	// phase is faults.PhasePrepared until Apply starts and PhaseApplied after; a
	// revived action of a record cut off during Apply is PhaseApplying: it deletes
	// what reads back as its own (its handle, its route metric) without knowing
	// whether Apply added it.
	phase string
	// reverted is set once Revert read back clean.
	reverted bool
}

// Revert deletes what Apply added (our qdisc handle, our routes) and only that, then
// reads back that none of it is left. It survives the cancellation of ctx, retries
// within one budget, and is idempotent.
func (u *undo) Revert(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), faults.RevertTimeout)
	defer cancel()
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.revertLocked(ctx); err != nil {
		return fmt.Errorf("revert %s on %s: %w", u.kind, u.ref.Name, err)
	}
	return nil
}

func notGone(err error) bool { return !errors.Is(err, faults.ErrTargetGone) }

func (u *undo) revertLocked(ctx context.Context) error {
	if u.phase == faults.PhasePrepared {
		// Apply never started: nothing here is ours.
		u.reverted = true
		u.closeAll()
		return nil
	}
	b := faults.NewBudget(revertAttempts, revertBackoff, revertMaxWait)
	var errs []error
	targetGone := false
	if u.st.Qdisc != nil || len(u.st.Routes) > 0 {
		err := b.Do(ctx, notGone, func() error {
			c, err := u.conn(&u.target, u.ref)
			if err != nil {
				return err
			}
			if err := u.deleteQdiscs(c.nl); err != nil {
				return err
			}
			if err := deleteRoutes(c.nl, u.ownRoutes(u.st.Routes, u.st.AddedRoutes), u.st.Metric); err != nil {
				return err
			}
			var v faults.Verification
			u.checkTargetClean(&v, c.nl, u.ref.Name)
			return v.Mismatch(faults.ErrNotClean)
		})
		switch {
		case errors.Is(err, faults.ErrTargetGone):
			targetGone = true
		case err != nil:
			errs = append(errs, err)
		}
	}
	for _, ps := range u.st.Peers {
		pc := u.peers[ps.Target.PID]
		err := b.Do(ctx, notGone, func() error {
			c, err := u.conn(&pc, ps.Target)
			if err != nil {
				return err
			}
			own := u.ownRoutes(ps.Routes, ps.AddedRoutes)
			if err := deleteRoutes(c.nl, own, u.st.Metric); err != nil {
				return err
			}
			var v faults.Verification
			u.checkRoutes(&v, c.nl, ps.Target.Name, own, false)
			return v.Mismatch(faults.ErrNotClean)
		})
		u.peers[ps.Target.PID] = pc
		if err != nil && !errors.Is(err, faults.ErrTargetGone) {
			errs = append(errs, fmt.Errorf("peer %s: %w", ps.Target.Name, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	u.reverted = true
	u.closeAll()
	if targetGone {
		return fmt.Errorf("nothing to revert in %s: %w", u.ref.Name, faults.ErrTargetGone)
	}
	return nil
}

// ownRoutes returns the routes of a list that are this action's to delete: the ones
// Apply added, or all of them when it is not known how far Apply got (the routes'
// metric still tells ours from another fault's).
func (u *undo) ownRoutes(routes []string, added int) []string {
	if u.phase == faults.PhaseApplied {
		return routes[:min(added, len(routes))]
	}
	return routes
}

// ownLink reports whether our root qdisc may be on the interface.
func (u *undo) ownLink(l linkRef) bool { return u.phase != faults.PhaseApplied || l.Added }

// conn returns the open namespace of ref, reopening it through the PID when needed, or
// an error wrapping ErrTargetGone when the process or its namespace changed.
func (u *undo) conn(slot **conn, ref faults.TargetRef) (*conn, error) {
	if *slot == nil {
		if u.peers == nil {
			u.peers = map[int]*conn{}
		}
		c, err := open(ref.PID)
		if err != nil {
			if errors.Is(err, errNoProcess) {
				return nil, fmt.Errorf("%w: %w", err, faults.ErrTargetGone)
			}
			return nil, err
		}
		*slot = c
	}
	c := *slot
	if c.id.Ino != ref.NetNS || !c.current() {
		c.close()
		*slot = nil
		return nil, fmt.Errorf("PID %d is no longer in network namespace %d (the container restarted): %w", ref.PID, ref.NetNS, faults.ErrTargetGone)
	}
	return c, nil
}

func (u *undo) deleteQdiscs(h *netlink.Handle) error {
	qs := u.st.Qdisc
	if qs == nil {
		return nil
	}
	handle := netlink.MakeHandle(u.major, 0)
	for _, ref := range qs.Links {
		if !u.ownLink(ref) {
			continue // Apply never added it here: whatever is there is someone else's
		}
		if u.phase == faults.PhaseApplied {
			// One round trip in the usual case: the kernel deletes the root qdisc only
			// if its handle is ours, and refuses otherwise.
			root := &netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ref.Index, Parent: netlink.HANDLE_ROOT, Handle: handle}}
			if err := h.QdiscDel(root); err == nil {
				continue
			}
		}
		// Already gone, never applied, or the interface moved: look before concluding.
		if err := u.deleteRootByLookup(h, ref, handle); err != nil {
			return err
		}
	}
	return nil
}

// deleteRootByLookup finds the interface of ref (by index, else by name) and deletes
// the root qdisc there if it carries our handle and the kind this fault adds there.
func (u *undo) deleteRootByLookup(h *netlink.Handle, ref linkRef, handle uint32) error {
	l, err := findLink(h, ref)
	if err != nil {
		return nil // the interface is gone, and our qdisc with it
	}
	list, err := h.QdiscList(l)
	if err != nil {
		return fmt.Errorf("list qdiscs of %s: %w", ref.Name, err)
	}
	for _, q := range list {
		if q.Attrs().Parent != netlink.HANDLE_ROOT || q.Attrs().Handle != handle {
			continue
		}
		if root := u.st.Qdisc.Root; root != "" && q.Type() != root {
			return fmt.Errorf("the %s qdisc at faultline's handle %s on %s is not the %s this fault adds: left alone; delete it by hand if it is faultline's (tc qdisc del dev %s root)",
				q.Type(), netlink.HandleStr(handle), ref.Name, root, ref.Name)
		}
		if err := h.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("delete qdisc %s on %s: %w", netlink.HandleStr(handle), ref.Name, err)
		}
	}
	return nil
}

func findLink(h *netlink.Handle, ref linkRef) (netlink.Link, error) {
	l, err := h.LinkByIndex(ref.Index)
	if err != nil || l.Attrs().Name != ref.Name {
		return h.LinkByName(ref.Name)
	}
	return l, nil
}

func deleteRoutes(h *netlink.Handle, cidrs []string, metric uint32) error {
	for _, cidr := range cidrs {
		r, err := blackhole(cidr, metric)
		if err != nil {
			return err
		}
		if err := h.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete blackhole route to %s: %w", cidr, err)
		}
	}
	return nil
}

// parseBlackhole is the route to cidr that a delete matches: blackhole, main table,
// our protocol (and, set by the caller, our metric).
func parseBlackhole(cidr string) (*netlink.Route, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("route %q in the record is not a CIDR: %w", cidr, err)
	}
	return &netlink.Route{Dst: n, Type: unix.RTN_BLACKHOLE, Protocol: routeProtocol, Table: unix.RT_TABLE_MAIN}, nil
}

// Release frees the namespace handles of an action that is never applied.
func (u *undo) Release() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.closeAll()
}

func (u *undo) closeAll() {
	u.target.close()
	u.target = nil
	for pid, c := range u.peers {
		c.close()
		delete(u.peers, pid)
	}
}

// Record is the journal entry: the target's identity, what revert may delete, and
// after Apply what it added.
func (u *undo) Record() faults.Record {
	u.mu.Lock()
	defer u.mu.Unlock()
	st, _ := json.Marshal(u.st) // plain strings and ints: cannot fail
	return faults.Record{Kind: u.kind, Target: u.ref, Phase: u.phase, State: st}
}
