package network

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/internal/kernelsandbox"
	"github.com/vishvananda/netlink"
)

// These tests run on the host kernel (tbf, htb, u32, routes) and, unchanged, inside the
// kernel sandbox.

func TestNamespaceBandwidthCapsThroughput(t *testing.T) {
	p := newPair(t)
	p.b.listenTCP(t, p.bIP, 5001)
	const rate = 8_000_000 // bits per second: 1 MB/s
	before := p.a.throughput(t, p.bIP, 5001, 4<<20)

	f := mustNew(t, "bandwidth", faults.Params{"rate": uint64(rate)}, nil)
	a := mustPrepare(t, f, p.a.target("a", p.aIP))
	if err := a.Apply(t.Context()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	during := p.a.throughput(t, p.bIP, 5001, 1<<20)
	if err := a.Revert(t.Context()); err != nil {
		t.Fatalf("Revert: %v", err)
	}
	after := p.a.throughput(t, p.bIP, 5001, 4<<20)
	t.Logf("throughput before %.0f B/s, during %.0f B/s (cap %d B/s), after %.0f B/s", before, during, rate/8, after)
	if during > 1.5*rate/8 {
		t.Errorf("during the fault %.0f B/s exceeds the cap of %d B/s by more than half", during, rate/8)
	}
	// Under load, and more so under the sandbox's emulated CPU, the watchdog fires late
	// and the achieved rate sags; the floor still catches burst or buffer arithmetic that
	// is off by an order of magnitude.
	floor := 0.3
	if kernelsandbox.InSandbox() {
		floor = 0.25
	}
	if during < floor*rate/8 {
		t.Errorf("during the fault %.0f B/s is far below the cap of %d B/s: burst or buffer is wrong", during, rate/8)
	}
	if after < uncappedFloor(rate/8) {
		t.Errorf("after revert %.0f B/s is not clearly above the cap of %d B/s (capped: %.0f B/s)", after, rate/8, during)
	}
}

func TestNamespacePartitionBothWays(t *testing.T) {
	p := newPair(t)
	p.b.listenTCP(t, p.bIP, 5002)
	p.a.listenTCP(t, p.aIP, 5003)
	peer := p.b.target("b", p.bIP)
	peers := func(name string) []faults.Target {
		if name == "db" {
			return []faults.Target{peer}
		}
		return nil
	}
	dial := func(from *testNS, ip []byte, port int) error {
		c, err := from.dialTCP(t, ip, port, 500*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(p.a, p.bIP, 5002); err != nil {
		t.Fatalf("before the fault a cannot reach b: %v", err)
	}
	f := mustNew(t, "partition", faults.Params{"to": []faults.Destination{{Target: "db"}}, "direction": "both"}, peers)
	a := mustPrepare(t, f, p.a.target("a", p.aIP))
	if err := a.Apply(t.Context()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := dial(p.a, p.bIP, 5002); err == nil {
		t.Error("during the partition a still reaches b")
	}
	if err := dial(p.b, p.aIP, 5003); err == nil {
		t.Error("during a two-way partition b still reaches a")
	}
	var st state
	if err := json.Unmarshal(a.Record().State, &st); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Routes, []string{p.bIP.String() + "/32"}) || len(st.Peers) != 1 || !slices.Equal(st.Peers[0].Routes, []string{p.aIP.String() + "/32"}) {
		t.Errorf("record state %+v does not hold exactly the two routes", st)
	}
	if err := a.Revert(t.Context()); err != nil {
		t.Fatalf("Revert: %v", err)
	}
	if err := dial(p.a, p.bIP, 5002); err != nil {
		t.Errorf("after revert a cannot reach b: %v", err)
	}
	if err := dial(p.b, p.aIP, 5003); err != nil {
		t.Errorf("after revert b cannot reach a: %v", err)
	}
}

func TestNamespaceFilteredBandwidthOnlySlowsMatchingPort(t *testing.T) {
	p := newPair(t)
	p.b.listenTCP(t, p.bIP, 5004)
	p.b.listenTCP(t, p.bIP, 5005)
	const rate = 8_000_000
	f := mustNew(t, "bandwidth", faults.Params{"rate": uint64(rate),
		"to": []faults.Destination{{CIDR: p.bIP.String()}}, "ports": []faults.PortRange{{From: 5004, To: 5004}}}, nil)
	if !kernelHasPrio() {
		f.cfg.classfulRoot = "htb" // the host kernel has no sch_prio: see the package comment
	}
	a := mustPrepare(t, f, p.a.target("a", p.aIP))
	if err := a.Apply(t.Context()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	filters, err := p.a.nl.FilterList(p.aLink, f.cfg.rootHandle())
	if err != nil {
		t.Fatal(err)
	}
	if len(filters) < 2 {
		t.Errorf("want u32 filters for TCP and UDP on port 5004, got %d filters", len(filters))
	}
	matching := p.a.throughput(t, p.bIP, 5004, 1<<20)
	other := p.a.throughput(t, p.bIP, 5005, 4<<20)
	t.Logf("port 5004 (filtered): %.0f B/s; port 5005: %.0f B/s; cap %d B/s", matching, other, rate/8)
	if matching > 1.5*rate/8 {
		t.Errorf("traffic to the filtered port ran at %.0f B/s, above the cap %d B/s", matching, rate/8)
	}
	if other < uncappedFloor(rate/8) {
		t.Errorf("traffic to another port ran at %.0f B/s, not clearly above the cap of %d B/s (filtered: %.0f B/s)", other, rate/8, matching)
	}
}

// kernelHasPrio reports whether sch_prio can be used (the sandbox kernel has it).
func kernelHasPrio() bool {
	return probe(context.Background(), []string{NeedPrio}) == nil
}

func TestNamespaceRefusals(t *testing.T) {
	p := newPair(t)
	f := mustNew(t, "bandwidth", faults.Params{"rate": uint64(8_000_000)}, nil)

	t.Run("foreign root qdisc", func(t *testing.T) {
		foreign := &netlink.Tbf{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: p.aLink.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
			Rate: 1 << 20, Limit: 1 << 16, Buffer: 1 << 16}
		if err := p.a.nl.QdiscAdd(foreign); err != nil {
			t.Fatal(err)
		}
		defer p.a.nl.QdiscDel(foreign)
		before := qdiscSummary(t, p.a.nl, p.aLink)
		_, err := f.Prepare(t.Context(), p.a.target("a", p.aIP))
		if err == nil || !strings.Contains(err.Error(), "not the kernel default: tbf 1:") {
			t.Errorf("Prepare on a foreign root qdisc: %v; want a refusal naming tbf 1:", err)
		}
		if after := qdiscSummary(t, p.a.nl, p.aLink); !slices.Equal(before, after) {
			t.Errorf("refusal changed qdiscs: %v -> %v", before, after)
		}
	})
	t.Run("our own qdisc already there", func(t *testing.T) {
		a := mustPrepare(t, f, p.a.target("a", p.aIP))
		if err := a.Apply(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer a.Revert(t.Context())
		_, err := f.Prepare(t.Context(), p.a.target("a", p.aIP))
		if err == nil || !strings.Contains(err.Error(), "another network fault is active") {
			t.Errorf("second Prepare: %v; want a refusal", err)
		}
	})
	t.Run("host namespace", func(t *testing.T) {
		_, err := f.Prepare(t.Context(), faults.Target{Name: "host", PID: os.Getpid()})
		if err == nil || !strings.Contains(err.Error(), "host's network namespace") {
			t.Errorf("Prepare on the host namespace: %v; want a refusal", err)
		}
	})
	t.Run("no PID", func(t *testing.T) {
		_, err := f.Prepare(t.Context(), faults.Target{Name: "stopped"})
		if err == nil || !strings.Contains(err.Error(), "no PID") {
			t.Errorf("Prepare without PID: %v", err)
		}
	})
	t.Run("unknown interface", func(t *testing.T) {
		g := mustNew(t, "bandwidth", faults.Params{"rate": uint64(8_000_000), "interface": "eth9"}, nil)
		_, err := g.Prepare(t.Context(), p.a.target("a", p.aIP))
		if err == nil || !strings.Contains(err.Error(), `no interface "eth9"`) || !strings.Contains(err.Error(), "eth0") {
			t.Errorf("Prepare with a missing interface: %v", err)
		}
	})
	t.Run("route already there", func(t *testing.T) {
		g := mustNew(t, "partition", faults.Params{"to": []faults.Destination{{CIDR: p.bIP.String() + "/24"}}, "direction": "egress"}, nil)
		_, err := g.Prepare(t.Context(), p.a.target("a", p.aIP))
		if err == nil || !strings.Contains(err.Error(), "already has a route") {
			t.Errorf("Prepare shadowing the connected route: %v", err)
		}
	})
}

func TestNamespaceMissingNetemSaysWhatToLoad(t *testing.T) {
	p := newPair(t)
	if err := Preflight(t.Context(), []string{"delay"}); err == nil {
		t.Skip("this kernel has sch_netem: the missing-netem path needs a kernel without it (the build machines')")
	} else if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "modprobe sch_netem") {
		t.Errorf("Preflight(delay): %v; want ErrUnsupported naming `modprobe sch_netem`", err)
	}
	f := mustNew(t, "delay", faults.Params{"latency": 100 * time.Millisecond}, nil)
	a := mustPrepare(t, f, p.a.target("a", p.aIP))
	before := qdiscSummary(t, p.a.nl, p.aLink)
	err := a.Apply(t.Context())
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "modprobe sch_netem") {
		t.Errorf("Apply(delay): %v; want ErrUnsupported naming `modprobe sch_netem`", err)
	}
	if after := qdiscSummary(t, p.a.nl, p.aLink); !slices.Equal(before, after) {
		t.Errorf("failed apply left qdiscs: %v -> %v", before, after)
	}
}

func TestPreflight(t *testing.T) {
	needRoot(t)
	if err := Preflight(t.Context(), []string{"bandwidth", "partition", "htb", "u32"}); err != nil {
		t.Errorf("Preflight of what this kernel has: %v", err)
	}
	if err := Preflight(t.Context(), []string{"teleport"}); err == nil {
		t.Error("Preflight accepted an unknown kind")
	}
}

func TestNamespaceRevertRemovesExactlyOursAndIsIdempotent(t *testing.T) {
	p := newPair(t)
	p.b.listenTCP(t, p.bIP, 5006)
	// Someone else's route, which must survive.
	foreign, _ := blackhole("10.250.0.0/16", 0)
	foreign.Protocol = 0
	if err := p.a.nl.RouteAdd(foreign); err != nil {
		t.Fatal(err)
	}
	qBefore, rBefore := qdiscSummary(t, p.a.nl, p.aLink), routeSummary(t, p.a.nl)
	bw := mustNew(t, "bandwidth", faults.Params{"rate": uint64(8_000_000), "to": []faults.Destination{{CIDR: "10.213.0.0/16"}}}, nil)
	if !kernelHasPrio() {
		bw.cfg.classfulRoot = "htb"
	}
	part := mustNew(t, "partition", faults.Params{"to": []faults.Destination{{CIDR: "10.251.0.0/16"}, {CIDR: "192.0.2.7"}, {CIDR: "fd00:fa17::/64"}}, "direction": "egress"}, nil)
	var actions []*action
	for _, f := range []*fault{bw, part} {
		a := mustPrepare(t, f, p.a.target("a", p.aIP))
		if err := a.Apply(t.Context()); err != nil {
			t.Fatalf("Apply %s: %v", f.Kind(), err)
		}
		actions = append(actions, a)
	}
	if q := qdiscSummary(t, p.a.nl, p.aLink); slices.Equal(q, qBefore) {
		t.Fatal("apply added no qdisc")
	}
	if r := routeSummary(t, p.a.nl); len(r) != len(rBefore)+3 {
		t.Fatalf("apply added %d routes, want 3: %v", len(r)-len(rBefore), r)
	}
	for i := 0; i < 3; i++ {
		for _, a := range actions {
			if err := a.Revert(t.Context()); err != nil {
				t.Fatalf("Revert %s, round %d: %v", a.kind, i, err)
			}
		}
	}
	if q := qdiscSummary(t, p.a.nl, p.aLink); !slices.Equal(q, qBefore) {
		t.Errorf("qdiscs after revert %v, before %v", q, qBefore)
	}
	if r := routeSummary(t, p.a.nl); !slices.Equal(r, rBefore) {
		t.Errorf("routes after revert %v, before %v", r, rBefore)
	}
}

func TestNamespaceReviveFromRecord(t *testing.T) {
	p := newPair(t)
	f := mustNew(t, "bandwidth", faults.Params{"rate": uint64(8_000_000)}, nil)
	a := mustPrepare(t, f, p.a.target("a", p.aIP))
	if err := a.Apply(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := qdiscSummary(t, p.a.nl, p.aLink)
	raw, err := json.Marshal(a.Record())
	if err != nil {
		t.Fatal(err)
	}
	var rec faults.Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Target.PID != p.a.pid || rec.Target.NetNS == 0 {
		t.Errorf("record target %+v lacks the PID or the namespace inode", rec.Target)
	}

	t.Run("changed namespace is gone", func(t *testing.T) {
		moved := rec
		moved.Target.NetNS++
		_, err := NewReviver().Revive(moved)
		if !errors.Is(err, faults.ErrTargetGone) {
			t.Errorf("Revive with another namespace inode: %v; want ErrTargetGone", err)
		}
	})
	t.Run("foreign handle refused", func(t *testing.T) {
		bad := rec
		bad.State = json.RawMessage(strings.Replace(string(rec.State), `"`+handleString(f.cfg.major)+`"`, `"1:"`, 1))
		if _, err := NewReviver().Revive(bad); err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("Revive with a foreign handle: %v", err)
		}
	})

	revived, err := NewReviver().Revive(rec)
	if err != nil {
		t.Fatalf("Revive: %v", err)
	}
	if err := revived.Apply(t.Context()); err == nil {
		t.Error("a revived action applied again")
	}
	if err := revived.Revert(t.Context()); err != nil {
		t.Fatalf("revert of the revived action: %v", err)
	}
	if left := oursLeft(t, p.a.nl, p.aLink); len(left) > 0 {
		t.Errorf("our qdisc survived the revived revert: %v (before: %v)", left, before)
	}

	t.Run("process gone", func(t *testing.T) {
		q := newTestNS(t)
		g := mustNew(t, "partition", faults.Params{"to": []faults.Destination{{CIDR: "192.0.2.0/24"}}, "direction": "egress"}, nil)
		b, err := g.Prepare(t.Context(), q.target("q", nil))
		if err != nil {
			t.Fatal(err)
		}
		rec := b.Record()
		rec.Phase = faults.PhaseApplying // a record cut off during Apply: the revert must look
		rec.Target.PID = 1 << 22         // beyond pid_max: no such process
		if _, err := NewReviver().Revive(rec); !errors.Is(err, faults.ErrTargetGone) {
			t.Errorf("Revive of a vanished process: %v; want ErrTargetGone", err)
		}
		b.Revert(t.Context())
	})
}

func TestNamespaceAllInterfacesAndRevertOnCancelledContext(t *testing.T) {
	p := newPair(t)
	// A second link in a: another veth pair to b.
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth1"}, PeerName: "eth1", PeerNamespace: netlink.NsFd(p.b.ns)}
	if err := p.a.nl.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	eth1, err := p.a.nl.LinkByName("eth1")
	if err != nil {
		t.Fatal(err)
	}
	f := mustNew(t, "bandwidth", faults.Params{"rate": uint64(8_000_000), "interface": "all"}, nil)
	a := mustPrepare(t, f, p.a.target("a", p.aIP))
	if err := a.Apply(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, l := range []netlink.Link{p.aLink, eth1} {
		if q := qdiscSummary(t, p.a.nl, l); !slices.ContainsFunc(q, func(s string) bool { return strings.HasPrefix(s, "tbf "+handleString(f.cfg.major)) }) {
			t.Errorf("interface=all: %s has no tbf %s (%v)", l.Attrs().Name, handleString(f.cfg.major), q)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // an interrupted run still reverts
	if err := a.Revert(ctx); err != nil {
		t.Fatalf("Revert on a cancelled context: %v", err)
	}
	for _, l := range []netlink.Link{p.aLink, eth1} {
		if q := oursLeft(t, p.a.nl, l); len(q) > 0 {
			t.Errorf("%s keeps our qdisc after revert: %v", l.Attrs().Name, q)
		}
	}
}
