package network

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"

	"github.com/faultline/faultline/faults"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Kernel components a fault may need, as Preflight names them.
const (
	NeedNetem = "netem" // sch_netem
	NeedTbf   = "tbf"   // sch_tbf
	NeedPrio  = "prio"  // sch_prio, for filtered impairments
	NeedHtb   = "htb"   // sch_htb
	NeedU32   = "u32"   // cls_u32, for filtered impairments
)

// module names the kernel module that provides a component.
var module = map[string]string{
	NeedNetem: "sch_netem", NeedTbf: "sch_tbf", NeedPrio: "sch_prio", NeedHtb: "sch_htb", NeedU32: "cls_u32",
}

// Needs lists the kernel components a configured fault needs: its qdisc, and prio with
// u32 when it is filtered. Pass the result (or plain kind names) to Preflight.
func Needs(kind string, p faults.Params) []string {
	var out []string
	switch {
	case kind == "bandwidth":
		out = append(out, NeedTbf)
	case netemKinds[kind]:
		out = append(out, NeedNetem)
	default:
		return nil
	}
	if len(p.Destinations("to")) > 0 || len(p.Ports("ports")) > 0 {
		out = append(out, NeedPrio, NeedU32)
	}
	return out
}

// Preflight checks, before any fault, that this process may change other network
// namespaces (CAP_NET_ADMIN, and CAP_SYS_ADMIN to enter them) and that the running
// kernel supports what the listed faults need. kinds holds fault kind names (delay,
// bandwidth, ...) or component names from Needs (netem, tbf, prio, htb, u32). Each
// component is probed for real on a veth pair in a throwaway namespace. A missing one
// returns an error wrapping ErrUnsupported that names the module to load.
func Preflight(ctx context.Context, kinds []string) error {
	components := map[string]bool{}
	for _, k := range kinds {
		switch {
		case k == "bandwidth":
			components[NeedTbf] = true
		case netemKinds[k]:
			components[NeedNetem] = true
		case k == "partition":
			// blackhole routes: every kernel with IP routing has them
		case module[k] != "":
			components[k] = true
		default:
			return fmt.Errorf("preflight: %q is neither a network fault kind nor a kernel component (netem, tbf, prio, htb, u32)", k)
		}
	}
	if len(kinds) == 0 {
		return nil
	}
	if err := checkCapabilities(); err != nil {
		return err
	}
	if len(components) == 0 {
		return nil
	}
	names := make([]string, 0, len(components))
	for c := range components {
		names = append(names, c)
	}
	sort.Strings(names)
	return probe(ctx, names)
}

func checkCapabilities() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("preflight: read capabilities: %w", err)
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	var missing []string
	if !has(unix.CAP_NET_ADMIN) {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if !has(unix.CAP_SYS_ADMIN) {
		missing = append(missing, "CAP_SYS_ADMIN")
	}
	if len(missing) > 0 {
		return fmt.Errorf("preflight: network faults need %s to enter container namespaces and change their qdiscs and routes: run faultline as root (or grant the capabilities)", strings.Join(missing, " and "))
	}
	return nil
}

// probe adds each component on a veth pair in a new, unnamed network namespace, which
// disappears with its interfaces when the last handle to it closes.
func probe(ctx context.Context, components []string) error {
	ns, err := throwawayNamespace()
	if err != nil {
		return fmt.Errorf("preflight: create a scratch network namespace: %w", err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("preflight: netlink in the scratch namespace: %w", err)
	}
	defer h.Close()
	link, err := scratchLink(h)
	if err != nil {
		return fmt.Errorf("preflight: create a scratch interface: %w", err)
	}
	var errs []error
	for _, c := range components {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := probeOne(h, link, c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// throwawayNamespace creates a network namespace without moving any thread into it for
// longer than the unshare takes: the locked thread returns to its namespace at once.
func throwawayNamespace() (netns.NsHandle, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return 0, err
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		runtime.UnlockOSThread()
		return 0, err
	}
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: the runtime ends it with the goroutine rather than
		// reuse a thread stuck in the wrong namespace.
		ns.Close()
		return 0, fmt.Errorf("return to the original namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return ns, nil
}

func scratchLink(h *netlink.Handle) (netlink.Link, error) {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "probe0"}, PeerName: "probe1"}
	err := h.LinkAdd(veth)
	if err != nil {
		dummy := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "probe0"}}
		if derr := h.LinkAdd(dummy); derr != nil {
			return nil, fmt.Errorf("veth: %w; dummy: %w (load the veth module: `modprobe veth`)", err, derr)
		}
	}
	return h.LinkByName("probe0")
}

func probeOne(h *netlink.Handle, link netlink.Link, component string) error {
	idx := link.Attrs().Index
	root := netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(probeMajor, 0), Parent: netlink.HANDLE_ROOT}
	var q netlink.Qdisc
	switch component {
	case NeedNetem:
		q = netlink.NewNetem(root, netlink.NetemQdiscAttrs{Latency: 1000})
	case NeedTbf:
		q = &netlink.Tbf{QdiscAttrs: root, Rate: 125000, Limit: 10000, Buffer: 1 << 16}
	case NeedPrio:
		q = netlink.NewPrio(root)
	case NeedHtb, NeedU32:
		q = netlink.NewHtb(root)
	}
	if err := h.QdiscAdd(q); err != nil {
		if component == NeedU32 {
			// u32 needs a classful parent; try prio when htb is the one missing.
			q = netlink.NewPrio(root)
			if perr := h.QdiscAdd(q); perr != nil {
				return fmt.Errorf("preflight: probe u32 needs a classful qdisc (htb or prio), and neither could be added: %w", err)
			}
		} else {
			return unsupported(component, err)
		}
	}
	defer h.QdiscDel(q)
	if component == NeedU32 {
		f := &netlink.U32{
			FilterAttrs: netlink.FilterAttrs{LinkIndex: idx, Parent: root.Handle, Priority: 1, Protocol: unix.ETH_P_IP},
			ClassId:     netlink.MakeHandle(probeMajor, 1),
		}
		if err := h.FilterAdd(f); err != nil {
			return unsupported(component, err)
		}
	}
	return nil
}

func unsupported(component string, err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("preflight: the running kernel has no %s (%v): run `modprobe %s`: %w", module[component], err, module[component], ErrUnsupported)
	}
	return fmt.Errorf("preflight: probe %s: %w", module[component], err)
}

// probeMajor is the handle of the probes' qdiscs, in a throwaway namespace of their own.
const probeMajor = 0xfa00

// RefuseHostTargets fails, naming every such target, when a target lives in the host's
// own network namespace (network_mode host) or in faultline's: a network fault there
// would impair the host itself. It reads /proc only, so preflight can refuse before
// the baseline what Prepare would refuse when the fault is due. A target without a
// PID (not running) is left to Prepare.
func RefuseHostTargets(ts []faults.Target) error {
	hosts, err := hostNamespaces()
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range ts {
		if t.PID <= 0 {
			continue
		}
		id, err := nsIDOfPath(nsPath(t.PID))
		if err != nil {
			continue // gone since it was resolved: Prepare says so
		}
		if what, ok := hosts[id]; ok {
			errs = append(errs, fmt.Errorf("target %s runs in %s: faultline refuses to impair the host's own network; pick a container with its own network", t.Name, what))
		}
	}
	return errors.Join(errs...)
}
