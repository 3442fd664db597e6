package network

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/internal/dockertest"
	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func verifyOK(t *testing.T, a faults.Action) faults.Verification {
	t.Helper()
	v, err := a.Verify(t.Context())
	if err != nil || !v.OK() || v.At.IsZero() {
		t.Fatalf("read-back: %v (%s); want it to find what the action left", err, v)
	}
	return v
}

func ourRoute(t *testing.T, h *netlink.Handle, cidr string, metric uint32) *netlink.Route {
	t.Helper()
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN, Protocol: routeProtocol}, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() == cidr && uint32(r.Priority) == metric {
			return &r
		}
	}
	return nil
}

// TestContainerReadBack: after Apply the kernel reports our qdisc (kind and
// parameters), our filters and our routes; one removed by hand makes the read-back
// fail and say what it found; after Revert it reads clean.
func TestContainerReadBack(t *testing.T) {
	ps := startProbes(t, 1)
	a := ps[0]
	h, eth0 := a.netlinkIn()

	for _, tc := range []struct {
		name   string
		params faults.Params
		found  string
	}{
		{"bandwidth", faults.Params{"rate": uint64(8_000_000)}, "tbf rate 8mbit"},
		{"filtered bandwidth", faults.Params{"rate": uint64(8_000_000), "to": []faults.Destination{{CIDR: "10.99.0.0/16"}}, "ports": []faults.PortRange{{From: 80, To: 80}}}, "u32 filters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := mustNew(t, "bandwidth", tc.params, nil)
			if !kernelHasPrio() {
				f.cfg.classfulRoot = "htb"
			}
			act := mustPrepare(t, f, a.target)
			if v, err := act.Verify(t.Context()); err != nil || !v.OK() {
				t.Fatalf("read-back before Apply: %v (%s)", err, v)
			}
			if err := act.Apply(t.Context()); err != nil {
				t.Fatal(err)
			}
			v := verifyOK(t, act)
			if !strings.Contains(v.String(), tc.found) || !strings.Contains(v.String(), handleString(f.cfg.major)) {
				t.Errorf("read-back %s; want it to name %q and our handle", v, tc.found)
			}
			t.Logf("read back: %s", v)
			// An operator deletes it by hand.
			if err := h.QdiscDel(&netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: eth0.Attrs().Index, Parent: netlink.HANDLE_ROOT, Handle: f.cfg.rootHandle()}}); err != nil {
				t.Fatal(err)
			}
			_, err := act.Verify(t.Context())
			if !errors.Is(err, faults.ErrNotInjected) || !strings.Contains(err.Error(), "absent") {
				t.Errorf("read-back of a qdisc deleted by hand: %v; want ErrNotInjected saying it is absent", err)
			}
			if err := act.Revert(t.Context()); err != nil {
				t.Fatal(err)
			}
			verifyOK(t, act)
		})
	}

	t.Run("partition", func(t *testing.T) {
		f := mustNew(t, "partition", faults.Params{"to": []faults.Destination{{CIDR: "10.98.0.0/16"}, {CIDR: "10.97.1.2"}}, "direction": "egress"}, nil)
		act := mustPrepare(t, f, a.target)
		if err := act.Apply(t.Context()); err != nil {
			t.Fatal(err)
		}
		v := verifyOK(t, act)
		if !strings.Contains(v.String(), "10.98.0.0/16: blackhole") || !strings.Contains(v.String(), "10.97.1.2/32: blackhole") {
			t.Errorf("read-back %s; want both blackhole routes", v)
		}
		r := ourRoute(t, h, "10.97.1.2/32", routeMetric(f.cfg.major))
		if r == nil {
			t.Fatal("our route is not in the kernel")
		}
		if err := h.RouteDel(r); err != nil {
			t.Fatal(err)
		}
		_, err := act.Verify(t.Context())
		if !errors.Is(err, faults.ErrNotInjected) || !strings.Contains(err.Error(), "10.97.1.2/32: found absent") {
			t.Errorf("read-back of a route deleted by hand: %v; want ErrNotInjected naming it", err)
		}
		if err := act.Revert(t.Context()); err != nil {
			t.Fatal(err)
		}
		verifyOK(t, act)
	})
}

// TestTwoFaultsOnOneContainerNeverUndoEachOther: two faults of two runs, prepared on
// one container before either applied. The second's Apply fails on the first's
// qdisc, and neither its revert nor a recover of its record deletes the first's.
// Partitions to one destination both hold, each with its own route.
func TestTwoFaultsOnOneContainerNeverUndoEachOther(t *testing.T) {
	ps := startProbes(t, 1)
	a := ps[0]
	h, eth0 := a.netlinkIn()
	before := qdiscSummary(t, h, eth0)

	t.Run("qdisc", func(t *testing.T) {
		f1 := mustNew(t, "bandwidth", faults.Params{"rate": uint64(8_000_000)}, nil)
		f2 := mustNew(t, "bandwidth", faults.Params{"rate": uint64(4_000_000)}, nil)
		if f1.cfg.major == f2.cfg.major {
			f2.cfg.major = f1.cfg.major ^ 1 // 1 in 255: the test is about different runs
		}
		first, second := mustPrepare(t, f1, a.target), mustPrepare(t, f2, a.target)
		if err := first.Apply(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := second.Apply(t.Context()); err == nil || !strings.Contains(err.Error(), "root qdisc appeared since Prepare") {
			t.Fatalf("second Apply: %v; want it refused by the first's qdisc", err)
		}
		rec := second.Record()
		if err := second.Revert(t.Context()); err != nil {
			t.Fatal(err)
		}
		verifyOK(t, first)
		revived, err := NewReviver().Revive(roundTrip(t, rec))
		if err != nil {
			t.Fatal(err)
		}
		if err := revived.Revert(t.Context()); err != nil {
			t.Fatal(err)
		}
		verifyOK(t, first)
		if err := first.Revert(t.Context()); err != nil {
			t.Fatal(err)
		}
		if q := qdiscSummary(t, h, eth0); !slices.Equal(q, before) {
			t.Errorf("qdiscs after both reverts %v, before %v", q, before)
		}
	})

	t.Run("routes", func(t *testing.T) {
		to := faults.Params{"to": []faults.Destination{{CIDR: "10.96.0.0/16"}}, "direction": "egress"}
		f1, f2 := mustNew(t, "partition", to, nil), mustNew(t, "partition", to, nil)
		if f1.cfg.major == f2.cfg.major {
			f2.cfg.major = f1.cfg.major ^ 1
		}
		first, second := mustPrepare(t, f1, a.target), mustPrepare(t, f2, a.target)
		for _, act := range []*action{first, second} {
			if err := act.Apply(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if err := first.Revert(t.Context()); err != nil {
			t.Fatal(err)
		}
		verifyOK(t, second)
		if ourRoute(t, h, "10.96.0.0/16", routeMetric(f2.cfg.major)) == nil {
			t.Fatal("the first partition's revert deleted the second's route")
		}
		if err := second.Revert(t.Context()); err != nil {
			t.Fatal(err)
		}
		if ourRoute(t, h, "10.96.0.0/16", routeMetric(f2.cfg.major)) != nil || ourRoute(t, h, "10.96.0.0/16", routeMetric(f1.cfg.major)) != nil {
			t.Error("a route is left after both reverts")
		}
	})

	t.Run("record of an apply that never started", func(t *testing.T) {
		f1 := mustNew(t, "bandwidth", faults.Params{"rate": uint64(8_000_000)}, nil)
		prepared := mustPrepare(t, f1, a.target)
		rec := prepared.Record() // journaled; the run dies before its start
		if rec.Phase != faults.PhasePrepared {
			t.Fatalf("record phase %q, want %q", rec.Phase, faults.PhasePrepared)
		}
		prepared.Release()
		// Another fault with the same handle (the worst case) is applied meanwhile.
		f2 := mustNew(t, "bandwidth", faults.Params{"rate": uint64(4_000_000)}, nil)
		f2.cfg.major = f1.cfg.major
		other := mustPrepare(t, f2, a.target)
		if err := other.Apply(t.Context()); err != nil {
			t.Fatal(err)
		}
		revived, err := NewReviver().Revive(roundTrip(t, rec))
		if err != nil {
			t.Fatal(err)
		}
		if err := revived.Revert(t.Context()); err != nil {
			t.Fatal(err)
		}
		verifyOK(t, other)
		if err := other.Revert(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

func roundTrip(t *testing.T, rec faults.Record) faults.Record {
	t.Helper()
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var out faults.Record
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPreparedAfterARestartEntersTheNewNamespace: the plan saw the container's first
// process; an earlier fault restarted it. Prepare asks the engine again and impairs
// the new namespace; without an engine it refuses the stale PID instead of opening it.
func TestPreparedAfterARestartEntersTheNewNamespace(t *testing.T) {
	ps := startProbes(t, 1)
	a := ps[0]
	planned := a.target
	ctx, cancel := context.WithTimeout(t.Context(), dockertest.Timeout)
	defer cancel()
	if _, err := a.cli.ContainerRestart(ctx, a.id, client.ContainerRestartOptions{}); err != nil {
		t.Fatal(err)
	}
	dockertest.WaitLog(t, a.cli, a.id, "ready")
	a.refresh()
	if a.target.PID == planned.PID {
		t.Fatal("the restart kept the PID: the test proves nothing")
	}

	blind := mustNew(t, "bandwidth", faults.Params{"rate": uint64(8_000_000)}, nil)
	if act, err := blind.Prepare(t.Context(), planned); err == nil {
		act.(faults.Releaser).Release()
		t.Fatal("Prepare without an engine opened the planned, stale PID")
	}

	f, err := New("bandwidth", faults.Params{"rate": uint64(8_000_000)}, nil, WithEngine(a.cli))
	if err != nil {
		t.Fatal(err)
	}
	act := mustPrepare(t, f, planned)
	if got := act.Record().Target.PID; got != a.target.PID {
		t.Fatalf("record names PID %d, want the restarted container's %d", got, a.target.PID)
	}
	if err := act.Apply(t.Context()); err != nil {
		t.Fatal(err)
	}
	h, eth0 := a.netlinkIn() // the new namespace
	if q := qdiscSummary(t, h, eth0); !slices.ContainsFunc(q, func(s string) bool { return strings.HasPrefix(s, "tbf "+handleString(f.(*fault).cfg.major)) }) {
		t.Errorf("the new namespace has qdiscs %v, not our tbf", q)
	}
	verifyOK(t, act)
}
