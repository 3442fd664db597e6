// Package network injects network faults inside a container's network namespace over
// netlink: netem impairments (delay, loss, duplicate, corrupt, reorder, rate, and netem
// for several at once), a tbf bandwidth cap, and partitions made of blackhole routes.
//
// It enters the namespace through the container's PID (/proc/PID/ns/net), keeps that
// namespace open for the fault's lifetime and talks netlink there through a handle bound
// to NETLINK_ROUTE only. No thread of this process ever changes namespace to inject or
// revert (Preflight does, briefly and with the thread locked, to create a throwaway
// namespace for its probes).
//
// What it owns, and therefore what it deletes on revert:
//   - one root qdisc on each impaired interface, with a handle of its own fault
//     (fa01: to faff:, drawn when the fault is built, so two faults, of one run or of
//     two, never share one). An unfiltered fault puts its netem or tbf there directly.
//     A filtered fault (`to`, `ports`) puts a prio qdisc there with four bands: the
//     default priomap only ever uses bands 0 to 2, so band 4 (class fa__:4) receives
//     nothing but what our u32 filters send it, and the impairment (handle fb__: at the
//     same minor) hangs under it. Deleting the root deletes the children and the
//     filters with it.
//   - blackhole routes in the main table, one per destination, marked with our route
//     protocol and a metric of their fault's own, in the target's namespace and, for
//     a two-way partition, in each peer's namespace.
//
// It deletes only what its Apply added and read back: an Apply that failed because
// another fault's qdisc or route got there first leaves that one alone, and so does
// the revert of a record whose Apply never started. Apply and Revert both end with a
// read-back (Verify): the qdisc at our handle with the kind and parameters the kernel
// reports, our filters, our routes; after Revert, none of them.
//
// Apply only adds (NLM_F_EXCL): a root qdisc someone else installed is refused before
// anything changes, and a race with one makes the add fail instead of replacing it.
//
// Filters match IPv4 only. A port filter matches TCP and UDP destination ports of
// packets with a 20-byte IP header (no IP options) and of the first fragment, which is
// what u32 can match without hash-table links; port ranges become the few value/mask
// pairs that cover them exactly.
//
// Testing decision: the kernels faultline is built and tested on have no sch_prio and no
// sch_netem. The host-kernel tests therefore exercise the filtered path (u32 filters,
// band 4, the child under it) with an htb root in place of prio, selected by an
// unexported option: htb without a default class passes unclassified traffic through
// unshaped, exactly as prio's bands 1 to 3 do. Everything that needs prio or netem runs
// in the kernel sandbox (internal/kernelsandbox, `make test-kernel`), where the tests
// of this package run as /init of a stock Debian kernel under qemu.
package network

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"
)

// Peers resolves a target block's name (from `to = [target.db]`) to its containers.
type Peers func(target string) []faults.Target

// ErrUnsupported marks a kernel that lacks a qdisc or classifier a fault needs; the
// error says which module to load.
var ErrUnsupported = errors.New("kernel support missing")

// Handles we own. Every fault built by New draws its own root major from
// 0xfa01-0xfaff ("fa" for faultline) and hangs a filtered fault's impairment at the
// same minor under 0xfb: two faults, of one run or of two, never share a handle, so
// neither can delete the other's qdisc. (Records of earlier versions name fa17:.)
const (
	majorPrefix = 0xfa00
	childOffset = 0x0100
	// impairedBand is the prio band (1-based minor) the default priomap never uses.
	impairedBand = 4
	prioBands    = 4
)

// ours reports whether major is a root major New hands out.
func ours(major uint16) bool { return major&0xff00 == majorPrefix && major&0xff != 0 }

// newMajor draws a root major for one fault.
func newMajor() uint16 { return majorPrefix | uint16(1+rand.IntN(0xff)) }

// routeMetric is the priority of one fault's blackhole routes: with our route
// protocol it tells its routes from any other fault's to the same destination.
func routeMetric(major uint16) uint32 { return 0xfa000000 | uint32(major) }

// Kinds this package implements.
var netemKinds = map[string]bool{
	"delay": true, "loss": true, "duplicate": true, "corrupt": true,
	"reorder": true, "rate": true, "netem": true,
}

// IsNetworkKind reports whether New builds faults of this kind.
func IsNetworkKind(kind string) bool {
	return netemKinds[kind] || kind == "bandwidth" || kind == "partition"
}

// netemSpec is a validated netem configuration; durations and rates in natural units.
type netemSpec struct {
	Latency, Jitter      time.Duration
	DelayCorr            float64
	Loss, LossCorr       float64
	Duplicate, DupCorr   float64
	Corrupt, CorruptCorr float64
	Reorder, ReorderCorr float64
	Gap                  int64
	RateBytes            uint64 // bytes per second, 0 when not limited
}

// tbfSpec is a validated tbf configuration; Burst and Limit 0 mean "derive at Prepare".
type tbfSpec struct {
	RateBytes    uint64
	Burst, Limit int64
}

// filterSpec selects the traffic a qdisc fault impairs; empty means all of it.
type filterSpec struct {
	CIDRs   []*net.IPNet       // literal destinations
	Targets []string           // target blocks whose addresses are destinations
	Ports   []faults.PortRange // destination ports, TCP and UDP
}

func (f filterSpec) empty() bool {
	return len(f.CIDRs) == 0 && len(f.Targets) == 0 && len(f.Ports) == 0
}

// config is everything New validated, shared by every action of one fault.
type config struct {
	kind      string
	netem     *netemSpec
	tbf       *tbfSpec
	filter    filterSpec
	iface     string // "" first network's interface, "all", or a name
	partition bool
	bothWays  bool
	peers     Peers
	// classfulRoot is the qdisc that carries filters: "prio" in production; the host
	// tests select "htb" because the host kernel lacks sch_prio (see the package comment).
	classfulRoot string
	// major is this fault's root handle major (newMajor); the child's is major+0x100.
	major uint16
	// engine, when set, is asked at Prepare for the target's current process.
	engine Inspector
}

// Inspector is the part of the Docker client network faults use: at Prepare they ask
// the engine for the target's current main process, because the PID the plan saw is
// stale once the container was restarted (by an earlier kill, stop or restart fault).
type Inspector interface {
	ContainerInspect(ctx context.Context, container string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
}

// Option configures New.
type Option func(*config)

// WithEngine makes Prepare find each target's network namespace afresh from the engine.
func WithEngine(e Inspector) Option { return func(c *config) { c.engine = e } }

func (c *config) rootHandle() uint32  { return netlink.MakeHandle(c.major, 0) }
func (c *config) childHandle() uint32 { return netlink.MakeHandle(c.major+childOffset, 0) }

// New builds a network fault of the given kind from decoded parameters. It rejects
// missing or contradictory parameters; peers resolves `to = [target.X]` entries and may
// be nil when no entry names a target.
func New(kind string, p faults.Params, peers Peers, opts ...Option) (faults.Fault, error) {
	c, err := newConfig(kind, p, peers)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o(c)
	}
	return &fault{cfg: c, procs: procIndex{root: "/proc"}}, nil
}

func newConfig(kind string, p faults.Params, peers Peers) (*config, error) {
	if !IsNetworkKind(kind) {
		return nil, fmt.Errorf("%q is not a network fault kind: use one of delay, loss, duplicate, corrupt, reorder, rate, netem, bandwidth, partition", kind)
	}
	c := &config{kind: kind, peers: peers, classfulRoot: "prio", major: newMajor()}
	var err error
	if c.filter, err = parseFilter(kind, p); err != nil {
		return nil, err
	}
	if len(c.filter.Targets) > 0 && peers == nil {
		return nil, fmt.Errorf("%s: `to` names target.%s but no target resolver was given", kind, c.filter.Targets[0])
	}
	switch {
	case kind == "partition":
		c.partition = true
		if len(c.filter.CIDRs) == 0 && len(c.filter.Targets) == 0 {
			return nil, fmt.Errorf("partition: `to` is required: list the CIDRs or targets (target.NAME) to cut off")
		}
		switch d := p.String("direction"); d {
		case "", "both":
			c.bothWays = true
		case "egress":
		default:
			return nil, fmt.Errorf("partition: direction %q is not one of \"both\", \"egress\"", d)
		}
		return c, nil
	case kind == "bandwidth":
		c.tbf, err = parseTbf(p)
	default:
		c.netem, err = parseNetem(kind, p)
	}
	if err != nil {
		return nil, err
	}
	if c.iface, err = parseInterface(kind, p.String("interface")); err != nil {
		return nil, err
	}
	return c, nil
}

func parseFilter(kind string, p faults.Params) (filterSpec, error) {
	var f filterSpec
	for _, d := range p.Destinations("to") {
		switch {
		case d.Target != "":
			f.Targets = append(f.Targets, d.Target)
		case d.CIDR != "":
			_, n, err := net.ParseCIDR(d.CIDR)
			if err != nil {
				if ip := net.ParseIP(d.CIDR); ip != nil {
					n = hostNet(ip)
				} else {
					return f, fmt.Errorf("%s: `to` entry %q is neither a CIDR nor an IP address: write e.g. \"10.0.0.0/8\" or \"10.1.2.3\"", kind, d.CIDR)
				}
			}
			if kind != "partition" && n.IP.To4() == nil {
				return f, fmt.Errorf("%s: `to` entry %q is IPv6: impairment filters match IPv4 destinations only (a partition can cut IPv6)", kind, d.CIDR)
			}
			f.CIDRs = append(f.CIDRs, n)
		default:
			return f, fmt.Errorf("%s: empty `to` entry: give a CIDR, an IP or target.NAME", kind)
		}
	}
	for _, r := range p.Ports("ports") {
		if r.From == 0 || r.From > r.To {
			return f, fmt.Errorf("%s: port range %d-%d is invalid: ports run from 1 to 65535, low end first", kind, r.From, r.To)
		}
		f.Ports = append(f.Ports, r)
	}
	if kind == "partition" && len(f.Ports) > 0 {
		return f, fmt.Errorf("partition: `ports` is not supported: blackhole routes cut whole addresses; use a loss fault with `ports` and percent = 100 to drop single ports")
	}
	return f, nil
}

func hostNet(ip net.IP) *net.IPNet {
	if v4 := ip.To4(); v4 != nil {
		return &net.IPNet{IP: v4, Mask: net.CIDRMask(32, 32)}
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(128, 128)}
}

func parseInterface(kind, name string) (string, error) {
	switch {
	case name == "" || name == "all":
		return name, nil
	case len(name) > 15 || strings.ContainsAny(name, "/ \t\n") || name == "." || name == "..":
		return "", fmt.Errorf("%s: interface %q is not a valid interface name (at most 15 characters, no '/' or spaces); leave it empty for the container's first network or write \"all\"", kind, name)
	}
	return name, nil
}

func parseNetem(kind string, p faults.Params) (*netemSpec, error) {
	s := &netemSpec{}
	positive := func(name string) (float64, error) {
		v := p.Number(name)
		if v <= 0 || v > 100 {
			return 0, fmt.Errorf("%s: %s must be above 0 and at most 100 (percent), got %g", kind, name, v)
		}
		return v, nil
	}
	var err error
	switch kind {
	case "delay":
		s.Latency, s.Jitter, s.DelayCorr = p.Duration("latency"), p.Duration("jitter"), p.Number("correlation")
		if s.Latency <= 0 {
			return nil, fmt.Errorf("delay: latency must be above 0, e.g. latency = \"100ms\"")
		}
	case "loss":
		if s.Loss, err = positive("percent"); err != nil {
			return nil, err
		}
		s.LossCorr = p.Number("correlation")
	case "duplicate":
		if s.Duplicate, err = positive("percent"); err != nil {
			return nil, err
		}
		s.DupCorr = p.Number("correlation")
	case "corrupt":
		if s.Corrupt, err = positive("percent"); err != nil {
			return nil, err
		}
		s.CorruptCorr = p.Number("correlation")
	case "reorder":
		if s.Reorder, err = positive("percent"); err != nil {
			return nil, err
		}
		s.ReorderCorr, s.Gap, s.Latency = p.Number("correlation"), p.Int("gap"), p.Duration("latency")
		if s.Latency <= 0 {
			return nil, fmt.Errorf("reorder: latency must be above 0: netem reorders by sending some packets at once while the others wait for the delay")
		}
	case "rate":
		s.RateBytes = p.Rate("rate") / 8
		if s.RateBytes == 0 {
			return nil, fmt.Errorf("rate: rate must be at least 8bit (one byte per second), e.g. rate = \"1mbit\"")
		}
	case "netem":
		s.Latency, s.Jitter, s.DelayCorr = p.Duration("latency"), p.Duration("jitter"), p.Number("delay_correlation")
		s.Loss, s.LossCorr = p.Number("loss"), p.Number("loss_correlation")
		s.Duplicate, s.Corrupt = p.Number("duplicate"), p.Number("corrupt")
		s.Reorder, s.ReorderCorr = p.Number("reorder"), p.Number("reorder_correlation")
		s.RateBytes = p.Rate("rate") / 8
		if p.Has("rate") && s.RateBytes == 0 {
			return nil, fmt.Errorf("netem: rate must be at least 8bit (one byte per second)")
		}
		if s.Latency == 0 && s.Loss == 0 && s.Duplicate == 0 && s.Corrupt == 0 && s.Reorder == 0 && s.RateBytes == 0 {
			return nil, fmt.Errorf("netem: set at least one of latency, loss, duplicate, corrupt, reorder or rate above 0")
		}
		if s.Reorder > 0 && s.Latency <= 0 {
			return nil, fmt.Errorf("netem: reorder needs latency above 0: netem reorders by sending some packets at once while the others wait for the delay")
		}
	}
	if s.Jitter > 0 && s.Latency <= 0 {
		return nil, fmt.Errorf("%s: jitter needs latency above 0: jitter varies the delay", kind)
	}
	if s.Latency < 0 || s.Jitter < 0 {
		return nil, fmt.Errorf("%s: latency and jitter cannot be negative", kind)
	}
	for _, v := range []struct {
		name  string
		value float64
	}{{"loss", s.Loss}, {"duplicate", s.Duplicate}, {"corrupt", s.Corrupt}, {"reorder", s.Reorder},
		{"delay correlation", s.DelayCorr}, {"loss correlation", s.LossCorr}, {"duplicate correlation", s.DupCorr},
		{"corrupt correlation", s.CorruptCorr}, {"reorder correlation", s.ReorderCorr}} {
		if v.value < 0 || v.value > 100 {
			return nil, fmt.Errorf("%s: %s must be between 0 and 100 percent, got %g", kind, v.name, v.value)
		}
	}
	if s.Gap < 0 {
		return nil, fmt.Errorf("%s: gap cannot be negative", kind)
	}
	return s, nil
}
