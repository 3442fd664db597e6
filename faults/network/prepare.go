package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/faultline/faultline/faults"
	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// routeProtocol marks our blackhole routes (rtm_protocol), so that a delete can only
// ever match a route faultline added.
const routeProtocol = netlink.RouteProtocol(0xfa)

// inspectTimeout bounds the engine call that finds a target's current process.
const inspectTimeout = 10 * time.Second

// state is Record.State: exactly what a revert needs, and what Apply added.
type state struct {
	Qdisc  *qdiscState `json:"qdisc,omitempty"`
	Routes []string    `json:"routes,omitempty"` // blackholed CIDRs in the target's namespace
	// Metric is the priority of our routes (routeMetric); 0 in records of earlier
	// versions, whose routes carried none.
	Metric uint32 `json:"metric,omitempty"`
	// AddedRoutes is how many of Routes Apply added (they are added in order).
	AddedRoutes int         `json:"added_routes,omitempty"`
	Peers       []peerState `json:"peers,omitempty"` // two-way partition: routes in the peers' namespaces
}

type qdiscState struct {
	Handle string    `json:"handle"` // our root handle, "fa3c:"
	Root   string    `json:"root"`   // kind of the qdisc at our handle: netem, tbf, prio or htb
	Links  []linkRef `json:"links"`
}

type linkRef struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	// Added is set once Apply added our root qdisc on this interface.
	Added bool `json:"added,omitempty"`
}

type peerState struct {
	Target      faults.TargetRef `json:"target"`
	Routes      []string         `json:"routes"`
	AddedRoutes int              `json:"added_routes,omitempty"`
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

func displayName(t faults.Target) string {
	if t.Name != "" {
		return t.Name
	}
	if t.ID != "" {
		return t.ShortID()
	}
	return fmt.Sprintf("PID %d", t.PID)
}

// Prepare finds the target's network namespace afresh, checks that the fault may go
// there and works out everything Apply will add. It changes nothing.
func (f *fault) Prepare(ctx context.Context, t faults.Target) (faults.Action, error) {
	name := displayName(t)
	t, err := f.cfg.locate(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", f.cfg.kind, name, err)
	}
	c, err := open(t.PID)
	if err != nil {
		if errors.Is(err, errNoProcess) {
			return nil, fmt.Errorf("%s on %s: %w: %w", f.cfg.kind, name, err, faults.ErrTargetGone)
		}
		return nil, fmt.Errorf("%s on %s: %w", f.cfg.kind, name, err)
	}
	a := &action{undo: undo{kind: f.cfg.kind, ref: targetRef(t, c.id), target: c, peers: map[int]*conn{},
		major: f.cfg.major, phase: faults.PhasePrepared}}
	ok := false
	defer func() {
		if !ok {
			a.closeAll()
		}
	}()
	// The process may have exited between the check of its cgroup and the open: check
	// again, now that the namespace is held.
	if err := checkProcess(t); err != nil {
		return nil, fmt.Errorf("%s on %s: %w", f.cfg.kind, name, err)
	}
	if err := c.refuseHost(name); err != nil {
		return nil, err
	}
	if f.cfg.partition {
		err = f.preparePartition(ctx, a, t)
	} else {
		err = f.prepareQdisc(ctx, a, t)
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

// locate returns t with its current main process and addresses. The plan's PID is
// stale once the container restarted (an earlier kill with restore, stop or restart
// fault), and a recycled PID would be someone else's namespace: so the engine is asked
// again when there is one, and the process must belong to the container.
func (cfg *config) locate(ctx context.Context, t faults.Target) (faults.Target, error) {
	if cfg.engine != nil && t.ID != "" {
		ictx, cancel := context.WithTimeout(ctx, inspectTimeout)
		res, err := cfg.engine.ContainerInspect(ictx, t.ID, client.ContainerInspectOptions{})
		cancel()
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				return t, fmt.Errorf("container %s is gone: %w", displayName(t), faults.ErrTargetGone)
			}
			return t, fmt.Errorf("inspect container %s: %w", displayName(t), err)
		}
		c := res.Container
		if c.State == nil || !c.State.Running || c.State.Pid <= 0 {
			status := "without state"
			if c.State != nil {
				status = string(c.State.Status)
			}
			return t, fmt.Errorf("container %s is %s, not running: network faults enter the container's namespace through its main process", displayName(t), status)
		}
		t.PID = c.State.Pid
		t.Networks = append([]faults.Network(nil), t.Networks...) // the plan's stay as they are
		if c.NetworkSettings != nil {
			for i, n := range t.Networks {
				if ep := c.NetworkSettings.Networks[n.Name]; ep != nil && ep.IPAddress.IsValid() {
					t.Networks[i].IP = net.IP(ep.IPAddress.AsSlice())
				}
			}
		}
	}
	if t.PID <= 0 {
		return t, fmt.Errorf("the target has no PID (is it running?): network faults enter the container's namespace through its main process")
	}
	return t, checkProcess(t)
}

// checkProcess fails unless t's PID is a process of t's container: its cgroup names
// the container id. Targets without an id (a bare namespace) are taken as they are.
func checkProcess(t faults.Target) error {
	if len(t.ID) < 12 {
		return nil
	}
	cg, err := os.ReadFile("/proc/" + strconv.Itoa(t.PID) + "/cgroup")
	switch {
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH):
		return fmt.Errorf("PID %d of container %s has exited (the container stopped or restarted): %w", t.PID, displayName(t), faults.ErrTargetGone)
	case err != nil:
		return fmt.Errorf("read the cgroup of PID %d: %w (faultline must run as root in the host's PID namespace)", t.PID, err)
	case !bytes.Contains(cg, []byte(t.ID)):
		return fmt.Errorf("PID %d is no longer container %s's process (it restarted; its cgroup is %s): faultline would open someone else's network namespace",
			t.PID, displayName(t), strings.TrimSpace(string(cg)))
	}
	return nil
}

// destinations resolves the fault's `to` list for target t: literal CIDRs, and the
// addresses of the named targets' containers on the networks they share with t.
func (cfg *config) destinations(ctx context.Context, t faults.Target) ([]*net.IPNet, []faults.Target, error) {
	dests := append([]*net.IPNet{}, cfg.filter.CIDRs...)
	var peers []faults.Target
	for _, group := range cfg.filter.Targets {
		for _, p := range cfg.peers(group) {
			if (t.ID != "" && p.ID == t.ID) || (t.ID == "" && p.PID == t.PID) {
				continue // a target does not cut itself off
			}
			if cfg.partition && cfg.bothWays {
				// Its namespace is entered too: find its current process.
				var err error
				if p, err = cfg.locate(ctx, p); err != nil {
					return nil, nil, fmt.Errorf("peer %s: %w", displayName(p), err)
				}
			} else if cfg.engine != nil && p.ID != "" {
				if fresh, err := cfg.locate(ctx, p); err == nil {
					p = fresh // its current addresses
				}
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

func (f *fault) prepareQdisc(ctx context.Context, a *action, t faults.Target) error {
	c := a.target
	links, err := resolveLinks(c.nl, f.cfg.iface, t)
	if err != nil {
		return err
	}
	var dests []*net.IPNet
	filtered := !f.cfg.filter.empty()
	if len(f.cfg.filter.CIDRs) > 0 || len(f.cfg.filter.Targets) > 0 {
		if dests, _, err = f.cfg.destinations(ctx, t); err != nil {
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
		a.plan = append(a.plan, lp)
		a.st.qdiscs(f.cfg.major).Links = append(a.st.Qdisc.Links, linkRef{Index: l.Attrs().Index, Name: l.Attrs().Name})
	}
	a.st.Qdisc.Root = rootKind
	return nil
}

// qdiscs returns the qdisc part of the state, creating it with our handle.
func (s *state) qdiscs(major uint16) *qdiscState {
	if s.Qdisc == nil {
		s.Qdisc = &qdiscState{Handle: handleString(major)}
	}
	return s.Qdisc
}

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
// kernel's defaults have handle 0:): another fault's, or anyone else's.
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
		case ours(major):
			return fmt.Errorf("interface %s already carries a faultline qdisc %s (%s): another network fault is active on it; impairments of one interface must not overlap in time (combine them in one netem fault)",
				l.Attrs().Name, handleString(major), q.Type())
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
	root := cfg.rootHandle()
	leafAttrs := netlink.QdiscAttrs{LinkIndex: idx, Handle: root, Parent: netlink.HANDLE_ROOT}
	rootKind := ""
	if filtered {
		band := netlink.MakeHandle(cfg.major, impairedBand)
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
		leafAttrs = netlink.QdiscAttrs{LinkIndex: idx, Handle: cfg.childHandle(), Parent: band}
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

func (f *fault) preparePartition(ctx context.Context, a *action, t faults.Target) error {
	dests, peers, err := f.cfg.destinations(ctx, t)
	if err != nil {
		return err
	}
	a.st.Metric = routeMetric(f.cfg.major)
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
		if err := checkProcess(p); err != nil {
			return fmt.Errorf("peer %s: %w", displayName(p), err)
		}
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
// in the main table: adding ours would shadow it, and it must stay untouched.
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
			return fmt.Errorf("%s already has a faultline blackhole route to %s: another partition is active on it", name, dst)
		}
		return fmt.Errorf("%s already has a route to %s (%s): a partition would shadow it and faultline never touches routes it did not add; cut a wider or narrower CIDR", name, dst, r)
	}
	return nil
}
