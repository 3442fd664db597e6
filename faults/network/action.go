package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// routeProtocol marks our blackhole routes (rtm_protocol), so that a delete can only
// ever match a route faultline added.
const routeProtocol = netlink.RouteProtocol(0xfa)

// revertAttempts bounds the retries of one revert step within RevertTimeout.
const revertAttempts = 5

// state is Record.State: exactly what a revert needs.
type state struct {
	Qdisc  *qdiscState `json:"qdisc,omitempty"`
	Routes []string    `json:"routes,omitempty"` // blackholed CIDRs in the target's namespace
	Peers  []peerState `json:"peers,omitempty"`  // two-way partition: routes in the peers' namespaces
}

type qdiscState struct {
	Handle string    `json:"handle"` // our root handle, "fa17:"
	Root   string    `json:"root"`   // kind of the qdisc at our handle: netem, tbf, prio or htb
	Links  []linkRef `json:"links"`
}

type linkRef struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
}

type peerState struct {
	Target faults.TargetRef `json:"target"`
	Routes []string         `json:"routes"`
}

// linkPlan is what Apply adds on one interface, in order.
type linkPlan struct {
	link    linkRef
	qdiscs  []netlink.Qdisc
	classes []netlink.Class
	filters []netlink.Filter
}

type fault struct {
	cfg *config
	// procs answers the sharing check for every target of this fault.
	procs procIndex
}

func (f *fault) Kind() string { return f.cfg.kind }

// action is one network fault against one target. Its methods may be called from
// different goroutines (an abort reverts while Apply runs), so they serialise.
type action struct {
	mu       sync.Mutex
	kind     string
	ref      faults.TargetRef
	st       state
	links    []linkPlan
	revived  bool // rebuilt from a Record: it can only revert
	target   *conn
	peers    map[int]*conn
	warnings []string
}

var _ faults.Action = (*action)(nil)

func displayName(t faults.Target) string {
	if t.Name != "" {
		return t.Name
	}
	if t.ID != "" {
		return t.ShortID()
	}
	return fmt.Sprintf("PID %d", t.PID)
}

// Prepare opens the target's namespace, checks that the fault may go there and works
// out everything Apply will add. It changes nothing.
func (f *fault) Prepare(ctx context.Context, t faults.Target) (faults.Action, error) {
	name := displayName(t)
	if t.PID <= 0 {
		return nil, fmt.Errorf("%s on %s: the target has no PID (is it running?): network faults enter the container's namespace through its main process", f.cfg.kind, name)
	}
	c, err := open(t.PID)
	if err != nil {
		if errors.Is(err, errNoProcess) {
			return nil, fmt.Errorf("%s on %s: %w: %w", f.cfg.kind, name, err, faults.ErrTargetGone)
		}
		return nil, fmt.Errorf("%s on %s: %w", f.cfg.kind, name, err)
	}
	a := &action{kind: f.cfg.kind, ref: targetRef(t, c.id), target: c, peers: map[int]*conn{}}
	ok := false
	defer func() {
		if !ok {
			a.closeAll()
		}
	}()
	if err := c.refuseHost(name); err != nil {
		return nil, err
	}
	if f.cfg.partition {
		err = f.preparePartition(a, t)
	} else {
		err = f.prepareQdisc(a, t)
	}
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", f.cfg.kind, name, err)
	}
	if n := f.procs.sharers(t.PID, c.id); n > 0 {
		a.warnings = append(a.warnings, fmt.Sprintf("%s shares its network namespace with %d other cgroup(s) (another container joined it with --network container:...): they are impaired too", name, n))
	}
	ok = true
	return a, nil
}

// destinations resolves the fault's `to` list for target t: literal CIDRs, and the
// addresses of the named targets' containers on the networks they share with t.
func (cfg *config) destinations(t faults.Target) ([]*net.IPNet, []faults.Target, error) {
	dests := append([]*net.IPNet{}, cfg.filter.CIDRs...)
	var peers []faults.Target
	for _, group := range cfg.filter.Targets {
		for _, p := range cfg.peers(group) {
			if p.ID == t.ID && p.PID == t.PID {
				continue // a target does not cut itself off
			}
			ips := sharedIPs(t, p)
			if len(ips) == 0 {
				return nil, nil, fmt.Errorf("`to` names target.%s, but its container %s shares no network with this target: put them on one Docker network or list CIDRs", group, displayName(p))
			}
			for _, ip := range ips {
				dests = append(dests, hostNet(ip))
			}
			peers = append(peers, p)
		}
	}
	if len(dests) == 0 {
		return nil, nil, fmt.Errorf("`to` resolved to no address (the targets it names have no containers)")
	}
	return dests, peers, nil
}

// sharedIPs returns to's addresses on the networks from shares with it. When from lists
// no networks (a bare namespace), every address of to counts.
func sharedIPs(from, to faults.Target) []net.IP {
	var out []net.IP
	for _, tn := range to.Networks {
		if tn.IP == nil {
			continue
		}
		shared := len(from.Networks) == 0
		for _, fn := range from.Networks {
			if fn.Name == tn.Name {
				shared = true
			}
		}
		if shared {
			out = append(out, tn.IP)
		}
	}
	return out
}

func (f *fault) prepareQdisc(a *action, t faults.Target) error {
	c := a.target
	links, err := resolveLinks(c.nl, f.cfg.iface, t)
	if err != nil {
		return err
	}
	var dests []*net.IPNet
	filtered := !f.cfg.filter.empty()
	if len(f.cfg.filter.CIDRs) > 0 || len(f.cfg.filter.Targets) > 0 {
		if dests, _, err = f.cfg.destinations(t); err != nil {
			return err
		}
	}
	rootKind := ""
	for _, l := range links {
		if err := checkRootQdisc(c.nl, l); err != nil {
			return err
		}
		lp, kind, err := f.cfg.plan(l, dests, filtered)
		if err != nil {
			return err
		}
		rootKind = kind
		a.links = append(a.links, lp)
		a.st.Links().add(linkRef{Index: l.Attrs().Index, Name: l.Attrs().Name})
	}
	a.st.Qdisc.Root = rootKind
	return nil
}

// Links returns the qdisc part of the state, creating it.
func (s *state) Links() *qdiscState {
	if s.Qdisc == nil {
		s.Qdisc = &qdiscState{Handle: handleString(rootMajor)}
	}
	return s.Qdisc
}

func (q *qdiscState) add(l linkRef) { q.Links = append(q.Links, l) }

func handleString(major uint16) string { return fmt.Sprintf("%x:", major) }

// resolveLinks picks the interfaces to impair: the one carrying the target's first
// network address, a named one, or every non-loopback one.
func resolveLinks(h *netlink.Handle, iface string, t faults.Target) ([]netlink.Link, error) {
	all, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var candidates []netlink.Link
	var names []string
	for _, l := range all {
		if l.Attrs().Flags&net.FlagLoopback != 0 {
			continue
		}
		candidates = append(candidates, l)
		names = append(names, l.Attrs().Name)
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].Attrs().Index < candidates[j].Attrs().Index })
	sort.Strings(names)
	has := strings.Join(names, ", ")
	if has == "" {
		has = "none besides loopback"
	}
	switch iface {
	case "all":
		if len(candidates) == 0 {
			return nil, fmt.Errorf("the container has no interface besides loopback: nothing to impair")
		}
		return candidates, nil
	case "":
		for _, n := range t.Networks {
			if n.IP == nil {
				continue
			}
			addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
			if err != nil {
				return nil, fmt.Errorf("list addresses: %w", err)
			}
			for _, a := range addrs {
				if a.IP.Equal(n.IP) {
					for _, l := range candidates {
						if l.Attrs().Index == a.LinkIndex {
							return []netlink.Link{l}, nil
						}
					}
				}
			}
			return nil, fmt.Errorf("no interface holds the address %s of network %s (interfaces: %s): set `interface`", n.IP, n.Name, has)
		}
		if len(candidates) == 1 {
			return candidates, nil
		}
		return nil, fmt.Errorf("cannot tell which interface to impair among %s: set `interface` to one of them or to \"all\"", has)
	default:
		for _, l := range candidates {
			if l.Attrs().Name == iface {
				return []netlink.Link{l}, nil
			}
		}
		return nil, fmt.Errorf("no interface %q in the container (interfaces: %s)", iface, has)
	}
}

// checkRootQdisc refuses an interface whose root qdisc is not the kernel's default (the
// kernel's defaults have handle 0:) or is already ours.
func checkRootQdisc(h *netlink.Handle, l netlink.Link) error {
	qs, err := h.QdiscList(l)
	if err != nil {
		return fmt.Errorf("list qdiscs of %s: %w", l.Attrs().Name, err)
	}
	for _, q := range qs {
		a := q.Attrs()
		if a.Parent != netlink.HANDLE_ROOT {
			continue
		}
		major, _ := netlink.MajorMinor(a.Handle)
		switch {
		case a.Handle == 0:
			return nil
		case major == rootMajor:
			return fmt.Errorf("interface %s already carries faultline's qdisc %s (%s): another network fault is active on it; impairments of one interface must not overlap in time (combine them in one netem fault)",
				l.Attrs().Name, handleString(rootMajor), q.Type())
		default:
			return fmt.Errorf("interface %s has a root qdisc that is not the kernel default: %s %s; faultline never replaces what it did not create: remove it (tc qdisc del dev %s root) or pick another target",
				l.Attrs().Name, q.Type(), netlink.HandleStr(a.Handle), l.Attrs().Name)
		}
	}
	return nil
}

// plan builds the qdiscs, classes and filters for one interface and returns the kind of
// the qdisc at our root handle.
func (cfg *config) plan(l netlink.Link, dests []*net.IPNet, filtered bool) (linkPlan, string, error) {
	idx := l.Attrs().Index
	lp := linkPlan{link: linkRef{Index: idx, Name: l.Attrs().Name}}
	root := netlink.MakeHandle(rootMajor, 0)
	leafAttrs := netlink.QdiscAttrs{LinkIndex: idx, Handle: root, Parent: netlink.HANDLE_ROOT}
	rootKind := ""
	if filtered {
		band := netlink.MakeHandle(rootMajor, impairedBand)
		rootAttrs := netlink.QdiscAttrs{LinkIndex: idx, Handle: root, Parent: netlink.HANDLE_ROOT}
		switch cfg.classfulRoot {
		case "htb":
			lp.qdiscs = append(lp.qdiscs, netlink.NewHtb(rootAttrs))
			lp.classes = append(lp.classes, netlink.NewHtbClass(
				netlink.ClassAttrs{LinkIndex: idx, Parent: root, Handle: band},
				netlink.HtbClassAttrs{Rate: 10_000_000_000}))
		default:
			prio := netlink.NewPrio(rootAttrs)
			prio.Bands = prioBands
			lp.qdiscs = append(lp.qdiscs, prio)
		}
		rootKind = lp.qdiscs[0].Type()
		leafAttrs = netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(childMajor, 0), Parent: band}
		for _, sel := range selectors(dests, cfg.filter.Ports) {
			lp.filters = append(lp.filters, &netlink.U32{
				FilterAttrs: netlink.FilterAttrs{LinkIndex: idx, Parent: root, Priority: 1, Protocol: unix.ETH_P_IP},
				ClassId:     band,
				Sel:         sel,
			})
		}
	}
	var leaf netlink.Qdisc
	if cfg.tbf != nil {
		tc, err := tbfSettings(cfg.tbf, l.Attrs().MTU, netlink.Hz(), netlink.TickInUsec())
		if err != nil {
			return lp, "", err
		}
		leaf = &netlink.Tbf{QdiscAttrs: leafAttrs, Rate: tc.RateBytes, Limit: tc.LimitBytes, Buffer: tc.BufferTicks}
	} else {
		leaf = netlink.NewNetem(leafAttrs, cfg.netem.attrs())
	}
	lp.qdiscs = append(lp.qdiscs, leaf)
	if rootKind == "" {
		rootKind = leaf.Type()
	}
	return lp, rootKind, nil
}

func (s *netemSpec) attrs() netlink.NetemQdiscAttrs {
	gap := uint32(s.Gap)
	if s.Reorder > 0 && gap == 0 {
		gap = 1 // netem reorders only with a gap; 1 means "at random, with the probability"
	}
	return netlink.NetemQdiscAttrs{
		Latency:       uint32(s.Latency / time.Microsecond),
		Jitter:        uint32(s.Jitter / time.Microsecond),
		DelayCorr:     float32(s.DelayCorr),
		Loss:          float32(s.Loss),
		LossCorr:      float32(s.LossCorr),
		Duplicate:     float32(s.Duplicate),
		DuplicateCorr: float32(s.DupCorr),
		CorruptProb:   float32(s.Corrupt),
		CorruptCorr:   float32(s.CorruptCorr),
		ReorderProb:   float32(s.Reorder),
		ReorderCorr:   float32(s.ReorderCorr),
		Gap:           gap,
		Rate64:        s.RateBytes,
	}
}

func (f *fault) preparePartition(a *action, t faults.Target) error {
	dests, peers, err := f.cfg.destinations(t)
	if err != nil {
		return err
	}
	for _, d := range dests {
		if err := checkRouteFree(a.target.nl, d, displayName(t)); err != nil {
			return err
		}
		a.st.Routes = append(a.st.Routes, d.String())
	}
	if !f.cfg.bothWays {
		return nil
	}
	for _, p := range peers {
		back := sharedIPs(p, t)
		if len(back) == 0 {
			continue
		}
		pc, err := open(p.PID)
		if err != nil {
			return fmt.Errorf("peer %s: %w", displayName(p), err)
		}
		a.peers[p.PID] = pc
		if err := pc.refuseHost(displayName(p)); err != nil {
			return err
		}
		ps := peerState{Target: targetRef(p, pc.id)}
		for _, ip := range back {
			n := hostNet(ip)
			if err := checkRouteFree(pc.nl, n, displayName(p)); err != nil {
				return err
			}
			ps.Routes = append(ps.Routes, n.String())
		}
		a.st.Peers = append(a.st.Peers, ps)
	}
	return nil
}

// checkRouteFree refuses a destination that already has a route of exactly that prefix
// in the main table: adding ours would fail, and deleting later must not touch theirs.
func checkRouteFree(h *netlink.Handle, dst *net.IPNet, name string) error {
	family := netlink.FAMILY_V4
	if dst.IP.To4() == nil {
		family = netlink.FAMILY_V6
	}
	routes, err := h.RouteListFiltered(family, &netlink.Route{Dst: dst, Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list routes of %s: %w", name, err)
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.String() != dst.String() {
			continue
		}
		if r.Protocol == routeProtocol {
			return fmt.Errorf("%s already has faultline's blackhole route to %s: another partition is active on it", name, dst)
		}
		return fmt.Errorf("%s already has a route to %s (%s): a partition would shadow it and faultline never touches routes it did not add; cut a wider or narrower CIDR", name, dst, r)
	}
	return nil
}

func blackhole(cidr string) (*netlink.Route, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("route %q in the record is not a CIDR: %w", cidr, err)
	}
	return &netlink.Route{Dst: n, Type: unix.RTN_BLACKHOLE, Protocol: routeProtocol, Table: unix.RT_TABLE_MAIN}, nil
}

// Apply adds the planned qdiscs, filters and routes. On failure it removes what it added.
func (a *action) Apply(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.revived {
		return fmt.Errorf("%s on %s: this action was rebuilt from a journal record and can only be reverted", a.kind, a.ref.Name)
	}
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
	for _, lp := range a.links {
		// The root first, then its classes, then the qdisc hanging under a class.
		for i, q := range lp.qdiscs {
			if err := c.nl.QdiscAdd(q); err != nil {
				return qdiscError(q.Type(), lp.link.Name, err)
			}
			if i > 0 {
				continue
			}
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
		if err := addBlackhole(c, cidr); err != nil {
			return err
		}
	}
	for _, ps := range a.st.Peers {
		pc := a.peers[ps.Target.PID]
		if pc == nil || !pc.current() {
			return fmt.Errorf("peer %s changed its network namespace since Prepare (restarted?)", ps.Target.Name)
		}
		for _, cidr := range ps.Routes {
			if err := addBlackhole(pc, cidr); err != nil {
				return fmt.Errorf("peer %s: %w", ps.Target.Name, err)
			}
		}
	}
	return nil
}

func addBlackhole(c *conn, cidr string) error {
	r, err := blackhole(cidr)
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
		return fmt.Errorf("add %s qdisc on %s: a root qdisc appeared since Prepare; refused to replace it: %w", kind, link, err)
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("add %s qdisc on %s: %w: faultline needs CAP_NET_ADMIN (run as root)", kind, link, err)
	}
	return fmt.Errorf("add %s qdisc on %s: %w", kind, link, err)
}

// Revert deletes our qdisc handle and our routes, and only those. It survives the
// cancellation of ctx, retries, and is idempotent.
func (a *action) Revert(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), faults.RevertTimeout)
	defer cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	err := a.revertLocked(ctx)
	if err != nil {
		return fmt.Errorf("revert %s on %s: %w", a.kind, a.ref.Name, err)
	}
	return nil
}

func (a *action) revertLocked(ctx context.Context) error {
	var errs []error
	targetGone := false
	if a.st.Qdisc != nil || len(a.st.Routes) > 0 {
		err := retry(ctx, func() error {
			c, err := a.conn(&a.target, a.ref)
			if err != nil {
				return err
			}
			if err := deleteOurQdiscs(c.nl, a.st.Qdisc); err != nil {
				return err
			}
			return deleteRoutes(c.nl, a.st.Routes)
		})
		switch {
		case errors.Is(err, faults.ErrTargetGone):
			targetGone = true
		case err != nil:
			errs = append(errs, err)
		}
	}
	for _, ps := range a.st.Peers {
		pc := a.peers[ps.Target.PID]
		err := retry(ctx, func() error {
			c, err := a.conn(&pc, ps.Target)
			if err != nil {
				return err
			}
			return deleteRoutes(c.nl, ps.Routes)
		})
		a.peers[ps.Target.PID] = pc
		if err != nil && !errors.Is(err, faults.ErrTargetGone) {
			errs = append(errs, fmt.Errorf("peer %s: %w", ps.Target.Name, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	a.closeAll()
	if targetGone {
		return fmt.Errorf("nothing to revert in %s: %w", a.ref.Name, faults.ErrTargetGone)
	}
	return nil
}

// conn returns the open namespace of ref, reopening it through the PID when needed, or
// an error wrapping ErrTargetGone when the process or its namespace changed.
func (a *action) conn(slot **conn, ref faults.TargetRef) (*conn, error) {
	if *slot == nil {
		if a.peers == nil {
			a.peers = map[int]*conn{}
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

func deleteOurQdiscs(h *netlink.Handle, qs *qdiscState) error {
	if qs == nil {
		return nil
	}
	ours := netlink.MakeHandle(rootMajor, 0)
	for _, ref := range qs.Links {
		// One round trip in the usual case: the kernel deletes the root qdisc only if
		// its handle is ours, and refuses otherwise.
		root := &netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ref.Index, Parent: netlink.HANDLE_ROOT, Handle: ours}}
		if err := h.QdiscDel(root); err == nil {
			continue
		}
		// Already gone, never applied, or the interface moved: look before concluding.
		if err := deleteOurRootByLookup(h, ref, ours); err != nil {
			return err
		}
	}
	return nil
}

// deleteOurRootByLookup finds the interface of ref (by index, else by name) and deletes
// the root qdisc there if it carries our handle.
func deleteOurRootByLookup(h *netlink.Handle, ref linkRef, ours uint32) error {
	l, err := h.LinkByIndex(ref.Index)
	if err != nil || l.Attrs().Name != ref.Name {
		if l, err = h.LinkByName(ref.Name); err != nil {
			return nil // the interface is gone, and our qdisc with it
		}
	}
	list, err := h.QdiscList(l)
	if err != nil {
		return fmt.Errorf("list qdiscs of %s: %w", ref.Name, err)
	}
	for _, q := range list {
		if q.Attrs().Parent != netlink.HANDLE_ROOT || q.Attrs().Handle != ours {
			continue
		}
		if err := h.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("delete qdisc %s on %s: %w", netlink.HandleStr(ours), ref.Name, err)
		}
	}
	return nil
}

func deleteRoutes(h *netlink.Handle, cidrs []string) error {
	for _, cidr := range cidrs {
		r, err := blackhole(cidr)
		if err != nil {
			return err
		}
		if err := h.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete blackhole route to %s: %w", cidr, err)
		}
	}
	return nil
}

// retry runs step until it succeeds, the target is gone, ctx ends or the attempts run out.
func retry(ctx context.Context, step func() error) error {
	wait := 20 * time.Millisecond
	var err error
	for attempt := 0; attempt < revertAttempts; attempt++ {
		if err = step(); err == nil || errors.Is(err, faults.ErrTargetGone) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
		case <-t.C:
		}
		wait *= 2
	}
	return err
}

// Release frees the namespace handles of an action that is never applied.
func (a *action) Release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closeAll()
}

func (a *action) closeAll() {
	a.target.close()
	a.target = nil
	for pid, c := range a.peers {
		c.close()
		delete(a.peers, pid)
	}
}

// Record is the journal entry: the target's identity and exactly what revert deletes.
func (a *action) Record() faults.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, _ := json.Marshal(a.st) // plain strings and ints: cannot fail
	return faults.Record{Kind: a.kind, Target: a.ref, State: st}
}

// Warnings lists what the report should mention about this target (a shared namespace).
func (a *action) Warnings() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.warnings...)
}
