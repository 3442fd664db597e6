package network

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Verify reads the fault back from the kernel: one qdisc dump (and, for a filtered
// fault, one filter dump per interface) and one route dump per namespace. After Apply
// it expects our qdisc at our handle with the kind and parameters Apply gave it, our
// u32 filters and our blackhole routes; before Apply, after a failed one and after
// Revert, none of them.
func (u *undo) Verify(ctx context.Context) (faults.Verification, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	injected := u.phase == faults.PhaseApplied && !u.reverted
	v := faults.Verification{At: time.Now()}
	if u.phase == faults.PhasePrepared && !injected {
		v.Add(u.ref.Name, "nothing of faultline's", "nothing applied", true)
		return v, nil
	}
	kindErr := faults.ErrNotClean
	if injected {
		kindErr = faults.ErrNotInjected
	}
	if u.st.Qdisc != nil || len(u.st.Routes) > 0 {
		c, done, err := u.borrow(&u.target, u.ref)
		if err != nil {
			return v, fmt.Errorf("read back %s on %s: %w", u.kind, u.ref.Name, err)
		}
		if injected {
			u.checkTargetInjected(&v, c.nl, u.ref.Name)
		} else {
			u.checkTargetClean(&v, c.nl, u.ref.Name)
		}
		done()
	}
	for _, ps := range u.st.Peers {
		pc := u.peers[ps.Target.PID]
		c, done, err := u.borrow(&pc, ps.Target)
		if err != nil {
			if errors.Is(err, faults.ErrTargetGone) && !injected {
				continue // its routes went with its namespace
			}
			return v, fmt.Errorf("read back %s on peer %s: %w", u.kind, ps.Target.Name, err)
		}
		u.peers[ps.Target.PID] = pc
		if pc == nil {
			delete(u.peers, ps.Target.PID)
		}
		if injected {
			u.checkRoutes(&v, c.nl, ps.Target.Name, ps.Routes[:min(ps.AddedRoutes, len(ps.Routes))], true)
		} else {
			u.checkRoutes(&v, c.nl, ps.Target.Name, u.ownRoutes(ps.Routes, ps.AddedRoutes), false)
		}
		done()
	}
	if err := v.Mismatch(kindErr); err != nil {
		return v, fmt.Errorf("%s on %s: %w", u.kind, u.ref.Name, err)
	}
	return v, nil
}

// borrow returns the open namespace of ref, opening it for this one call (done closes
// it again) when the action holds none, as after a revert.
func (u *undo) borrow(slot **conn, ref faults.TargetRef) (*conn, func(), error) {
	held := *slot != nil
	c, err := u.conn(slot, ref)
	if err != nil {
		return nil, nil, err
	}
	if held {
		return c, func() {}, nil
	}
	return c, func() { c.close(); *slot = nil }, nil
}

func (u *undo) checkTargetInjected(v *faults.Verification, h *netlink.Handle, name string) {
	if qs := u.st.Qdisc; qs != nil {
		all, err := h.QdiscList(nil)
		if err != nil {
			v.Add(name+": qdiscs", "ours", "cannot list: "+err.Error(), false)
		}
		for i, ref := range qs.Links {
			what := fmt.Sprintf("%s: %s qdisc %s", name, ref.Name, qs.Handle)
			var want []netlink.Qdisc
			var filters []netlink.Filter
			if i < len(u.plan) {
				want, filters = u.plan[i].qdiscs, u.plan[i].filters
			}
			root := findQdisc(all, ref.Index, netlink.HANDLE_ROOT, netlink.MakeHandle(u.major, 0))
			switch {
			case !ref.Added:
				v.Add(what, qs.Root, "not added", false)
				continue
			case root == nil:
				v.Add(what, qs.Root+" at root", "absent"+rootNote(all, ref.Index), false)
				continue
			}
			if len(want) == 0 {
				v.Add(what, qs.Root, describeQdisc(root), root.Type() == qs.Root)
				continue
			}
			v.Add(what, describeQdisc(want[0]), describeQdisc(root), sameQdisc(want[0], root))
			for _, w := range want[1:] {
				child := findQdisc(all, ref.Index, w.Attrs().Parent, w.Attrs().Handle)
				cwhat := fmt.Sprintf("%s: %s qdisc %s under %s", name, ref.Name, netlink.HandleStr(w.Attrs().Handle), netlink.HandleStr(w.Attrs().Parent))
				if child == nil {
					v.Add(cwhat, describeQdisc(w), "absent", false)
					continue
				}
				v.Add(cwhat, describeQdisc(w), describeQdisc(child), sameQdisc(w, child))
			}
			if len(filters) > 0 {
				u.checkFilters(v, h, name, ref, filters)
			}
		}
	}
	if len(u.st.Routes) > 0 {
		u.checkRoutes(v, h, name, u.st.Routes[:min(u.st.AddedRoutes, len(u.st.Routes))], true)
		if u.st.AddedRoutes < len(u.st.Routes) {
			v.Add(name+": routes", fmt.Sprintf("%d blackhole routes", len(u.st.Routes)), fmt.Sprintf("%d added", u.st.AddedRoutes), false)
		}
	}
}

func (u *undo) checkFilters(v *faults.Verification, h *netlink.Handle, name string, ref linkRef, want []netlink.Filter) {
	what := fmt.Sprintf("%s: %s u32 filters on %s", name, ref.Name, u.st.Qdisc.Handle)
	l, err := findLink(h, ref)
	if err != nil {
		v.Add(what, fmt.Sprint(len(want)), "interface gone", false)
		return
	}
	got, err := h.FilterList(l, netlink.MakeHandle(u.major, 0))
	if err != nil {
		v.Add(what, fmt.Sprint(len(want)), "cannot list: "+err.Error(), false)
		return
	}
	band := netlink.MakeHandle(u.major, impairedBand)
	n := 0
	for _, f := range got {
		if u32, ok := f.(*netlink.U32); ok && u32.ClassId == band && u32.Sel != nil && len(u32.Sel.Keys) > 0 {
			n++ // the kernel lists a hash table entry too; only selectors with keys are ours
		}
	}
	v.Add(what, fmt.Sprintf("%d to class %s", len(want), netlink.HandleStr(band)), fmt.Sprintf("%d to class %s", n, netlink.HandleStr(band)), n == len(want))
}

func rootNote(all []netlink.Qdisc, index int) string {
	for _, q := range all {
		if q.Attrs().LinkIndex == index && q.Attrs().Parent == netlink.HANDLE_ROOT {
			return fmt.Sprintf(" (the root is %s %s)", q.Type(), netlink.HandleStr(q.Attrs().Handle))
		}
	}
	return ""
}

func (u *undo) checkTargetClean(v *faults.Verification, h *netlink.Handle, name string) {
	if qs := u.st.Qdisc; qs != nil {
		all, err := h.QdiscList(nil)
		if err != nil {
			v.Add(name+": qdiscs", "none of ours", "cannot list: "+err.Error(), false)
		}
		handle := netlink.MakeHandle(u.major, 0)
		for _, ref := range qs.Links {
			if !u.ownLink(ref) {
				continue
			}
			what := fmt.Sprintf("%s: %s qdisc %s", name, ref.Name, qs.Handle)
			if q := findQdisc(all, ref.Index, netlink.HANDLE_ROOT, handle); q != nil {
				v.Add(what, "absent", describeQdisc(q), false)
			} else {
				v.Add(what, "absent", "absent", true)
			}
		}
	}
	if len(u.st.Routes) > 0 {
		u.checkRoutes(v, h, name, u.ownRoutes(u.st.Routes, u.st.AddedRoutes), false)
	}
}

// checkRoutes reads our blackhole routes in one dump and checks that each of cidrs is
// there (present) or not.
func (u *undo) checkRoutes(v *faults.Verification, h *netlink.Handle, name string, cidrs []string, present bool) {
	if len(cidrs) == 0 {
		return
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN, Protocol: routeProtocol},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		v.Add(name+": routes", "readable", "cannot list: "+err.Error(), false)
		return
	}
	found := map[string]netlink.Route{}
	for _, r := range routes {
		if r.Dst == nil || (u.st.Metric != 0 && uint32(r.Priority) != u.st.Metric) {
			continue // another fault's
		}
		found[r.Dst.String()] = r
	}
	for _, cidr := range cidrs {
		what := fmt.Sprintf("%s: blackhole route to %s", name, cidr)
		r, ok := found[cidr]
		switch {
		case present && !ok:
			v.Add(what, "present", "absent", false)
		case present:
			v.Add(what, "blackhole", routeType(r), r.Type == unix.RTN_BLACKHOLE)
		case ok:
			v.Add(what, "absent", routeType(r), false)
		default:
			v.Add(what, "absent", "absent", true)
		}
	}
}

func routeType(r netlink.Route) string {
	if r.Type == unix.RTN_BLACKHOLE {
		return fmt.Sprintf("blackhole (metric %d)", uint32(r.Priority))
	}
	return fmt.Sprintf("route type %d (metric %d)", r.Type, uint32(r.Priority))
}

func findQdisc(all []netlink.Qdisc, index int, parent, handle uint32) netlink.Qdisc {
	for _, q := range all {
		a := q.Attrs()
		if a.LinkIndex == index && a.Parent == parent && a.Handle == handle {
			return q
		}
	}
	return nil
}

// sameQdisc compares what the kernel reports with what Apply added, in the units the
// kernel stores (ticks, 2^32 probabilities), allowing one unit of rounding.
func sameQdisc(want, got netlink.Qdisc) bool {
	if want.Type() != got.Type() {
		return false
	}
	near := func(a, b uint64) bool { return a == b || a+1 == b || b+1 == a }
	switch w := want.(type) {
	case *netlink.Netem:
		g := got.(*netlink.Netem)
		return near(uint64(w.Latency), uint64(g.Latency)) && near(uint64(w.Jitter), uint64(g.Jitter)) &&
			near(uint64(w.Loss), uint64(g.Loss)) && near(uint64(w.Duplicate), uint64(g.Duplicate)) &&
			near(uint64(w.CorruptProb), uint64(g.CorruptProb)) && near(uint64(w.ReorderProb), uint64(g.ReorderProb)) &&
			w.Gap == g.Gap && w.Rate64 == g.Rate64
	case *netlink.Tbf:
		g := got.(*netlink.Tbf)
		return w.Rate == g.Rate && w.Limit == g.Limit && near(uint64(w.Buffer), uint64(g.Buffer))
	case *netlink.Prio:
		return w.Bands == got.(*netlink.Prio).Bands
	}
	return true
}

// describeQdisc says what a qdisc does in tc's words: "tbf rate 1mbit burst 1514b
// limit 7764b", "netem delay 100ms loss 30%".
func describeQdisc(q netlink.Qdisc) string {
	var b strings.Builder
	b.WriteString(q.Type())
	pct := func(p uint32) float64 { return math.Round(float64(p)/math.MaxUint32*1e4) / 100 }
	ticks := func(t uint32) time.Duration {
		if tu := netlink.TickInUsec(); tu > 0 {
			return (time.Duration(float64(t)/tu) * time.Microsecond).Round(time.Microsecond)
		}
		return time.Duration(t) * time.Microsecond
	}
	switch q := q.(type) {
	case *netlink.Netem:
		if q.Latency > 0 {
			fmt.Fprintf(&b, " delay %s", ticks(q.Latency))
			if q.Jitter > 0 {
				fmt.Fprintf(&b, " jitter %s", ticks(q.Jitter))
			}
		}
		for _, p := range []struct {
			name string
			v    uint32
		}{{"loss", q.Loss}, {"duplicate", q.Duplicate}, {"corrupt", q.CorruptProb}, {"reorder", q.ReorderProb}} {
			if p.v > 0 {
				fmt.Fprintf(&b, " %s %g%%", p.name, pct(p.v))
			}
		}
		if q.Rate64 > 0 {
			fmt.Fprintf(&b, " rate %s", formatRate(q.Rate64))
		}
	case *netlink.Tbf:
		burst := uint64(float64(q.Buffer) / netlink.TickInUsec() * float64(q.Rate) / 1e6)
		fmt.Fprintf(&b, " rate %s burst ~%db limit %db", formatRate(q.Rate), burst, q.Limit)
	case *netlink.Prio:
		fmt.Fprintf(&b, " bands %d", q.Bands)
	}
	fmt.Fprintf(&b, " (handle %s)", netlink.HandleStr(q.Attrs().Handle))
	return b.String()
}
