package network

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/waitfor"

	"github.com/faultline/faultline/faults"
)

func TestNewRejectsBadParameters(t *testing.T) {
	t.Parallel()
	peers := func(string) []faults.Target { return nil }
	cases := []struct {
		name, kind string
		params     faults.Params
		peers      Peers
		want       string
	}{
		{"unknown kind", "kill", faults.Params{}, nil, "not a network fault kind"},
		{"delay without latency", "delay", faults.Params{"latency": time.Duration(0)}, nil, "latency must be above 0"},
		{"jitter without latency", "netem", faults.Params{"jitter": 10 * time.Millisecond, "loss": 5.0}, nil, "jitter needs latency"},
		{"reorder without latency", "netem", faults.Params{"reorder": 10.0}, nil, "reorder needs latency"},
		{"empty netem", "netem", faults.Params{}, nil, "at least one"},
		{"loss zero", "loss", faults.Params{"percent": 0.0}, nil, "above 0"},
		{"loss over 100", "loss", faults.Params{"percent": 120.0}, nil, "at most 100"},
		{"bad correlation", "loss", faults.Params{"percent": 10.0, "correlation": 101.0}, nil, "loss correlation"},
		{"bad cidr", "delay", faults.Params{"latency": time.Second, "to": []faults.Destination{{CIDR: "10.0.0/8x"}}}, nil, "neither a CIDR"},
		{"ipv6 filter", "delay", faults.Params{"latency": time.Second, "to": []faults.Destination{{CIDR: "fd00::/8"}}}, nil, "IPv4 destinations only"},
		{"target without resolver", "delay", faults.Params{"latency": time.Second, "to": []faults.Destination{{Target: "db"}}}, nil, "no target resolver"},
		{"bad port range", "loss", faults.Params{"percent": 1.0, "ports": []faults.PortRange{{From: 90, To: 80}}}, nil, "low end first"},
		{"bad interface", "loss", faults.Params{"percent": 1.0, "interface": "eth0/../x"}, nil, "not a valid interface name"},
		{"partition without to", "partition", faults.Params{"direction": "both"}, nil, "`to` is required"},
		{"partition with ports", "partition", faults.Params{"to": []faults.Destination{{CIDR: "10.0.0.0/8"}}, "ports": []faults.PortRange{{From: 80, To: 80}}}, nil, "`ports` is not supported"},
		{"partition bad direction", "partition", faults.Params{"to": []faults.Destination{{CIDR: "10.0.0.0/8"}}, "direction": "ingress"}, peers, "direction"},
		{"bandwidth too slow for a frame", "bandwidth", faults.Params{"rate": uint64(800)}, nil, "too low"},
		{"bandwidth burst below a frame", "bandwidth", faults.Params{"rate": uint64(8_000_000), "burst": int64(500)}, nil, "smaller than one frame"},
		{"bandwidth zero rate", "bandwidth", faults.Params{"rate": uint64(0)}, nil, "at least 8bit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(c.kind, c.params, c.peers)
			if err == nil {
				t.Fatalf("New accepted %v", c.params)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}

func TestNewAcceptsEveryKind(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		kind   string
		params faults.Params
	}{
		{"delay", faults.Params{"latency": 100 * time.Millisecond, "jitter": 10 * time.Millisecond, "correlation": 25.0}},
		{"loss", faults.Params{"percent": 30.0}},
		{"duplicate", faults.Params{"percent": 5.0}},
		{"corrupt", faults.Params{"percent": 5.0}},
		{"reorder", faults.Params{"percent": 25.0, "latency": 10 * time.Millisecond, "gap": int64(5)}},
		{"rate", faults.Params{"rate": uint64(1_000_000)}},
		{"netem", faults.Params{"latency": 10 * time.Millisecond, "loss": 1.0, "rate": uint64(1_000_000)}},
		{"bandwidth", faults.Params{"rate": uint64(1_000_000), "to": []faults.Destination{{CIDR: "10.1.2.3"}}, "ports": []faults.PortRange{{From: 80, To: 80}}}},
		{"partition", faults.Params{"to": []faults.Destination{{CIDR: "10.0.0.0/8"}, {CIDR: "fd00::/8"}}, "direction": "egress"}},
	} {
		f, err := New(c.kind, c.params, nil)
		if err != nil {
			t.Errorf("New(%s, %v): %v", c.kind, c.params, err)
			continue
		}
		if f.Kind() != c.kind {
			t.Errorf("Kind() = %q, want %q", f.Kind(), c.kind)
		}
	}
}

func TestTbfSettings(t *testing.T) {
	t.Parallel()
	const ticksPerMicro = 15.625 // 64 ns ticks, as /proc/net/psched reports on current kernels
	cases := []struct {
		name                string
		spec                tbfSpec
		mtu                 int
		hz                  float64
		burst, limit, ticks uint32
	}{
		// 1mbit = 125000 B/s: a millisecond is 125 bytes, so one frame (1514) is the floor.
		{"slow rate gets one frame", tbfSpec{RateBytes: 125000}, 1500, 1e9, 1514, 1514 + 6250, 189250},
		// 100mbit: 12.5 MB/s, a millisecond of traffic is 12500 bytes.
		{"fast rate gets a millisecond", tbfSpec{RateBytes: 12_500_000}, 1500, 1e9, 12500, 12500 + 625000, 15625},
		// A kernel with HZ=100 reported: 10 ms of traffic.
		{"coarse timer", tbfSpec{RateBytes: 12_500_000}, 1500, 100, 125000, 125000 + 625000, 156250},
		{"jumbo frames", tbfSpec{RateBytes: 125000}, 9000, 1e9, 9014, 9014 + 6250, 1126750},
		{"explicit burst and limit", tbfSpec{RateBytes: 125000, Burst: 32000, Limit: 64000}, 1500, 1e9, 32000, 64000, 4000000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := tbfSettings(&c.spec, c.mtu, c.hz, ticksPerMicro)
			if err != nil {
				t.Fatal(err)
			}
			if got.BurstBytes != c.burst || got.LimitBytes != c.limit {
				t.Errorf("burst/limit = %d/%d, want %d/%d", got.BurstBytes, got.LimitBytes, c.burst, c.limit)
			}
			// buffer = burst / rate seconds, in 64 ns ticks.
			if diff := int64(got.BufferTicks) - int64(c.ticks); diff < -1 || diff > 1 {
				t.Errorf("buffer = %d ticks, want %d", got.BufferTicks, c.ticks)
			}
		})
	}
}

func TestPortBlocksCoverRangesExactly(t *testing.T) {
	t.Parallel()
	for _, r := range []faults.PortRange{{From: 80, To: 80}, {From: 9000, To: 9100}, {From: 1, To: 65535}, {From: 1024, To: 2047}, {From: 65535, To: 65535}, {From: 1000, To: 1001}} {
		blocks := portBlocks(r)
		covered := map[uint32]int{}
		for _, b := range blocks {
			for p := uint32(0); p <= 0xffff; p++ {
				if uint16(p)&b.Mask == b.Value {
					covered[p]++
				}
			}
		}
		for p := uint32(0); p <= 0xffff; p++ {
			in := p >= uint32(r.From) && p <= uint32(r.To)
			switch {
			case in && covered[p] != 1:
				t.Errorf("range %v: port %d matched %d times", r, p, covered[p])
			case !in && covered[p] != 0:
				t.Errorf("range %v: port %d outside the range matched", r, p)
			}
		}
		if r == (faults.PortRange{From: 1024, To: 2047}) && len(blocks) != 1 {
			t.Errorf("aligned range 1024-2047 took %d blocks, want 1", len(blocks))
		}
	}
}

// fakeProc is a stand-in for /proc: per PID a network namespace (a file whose inode
// names it) and a cgroup.
type fakeProc struct {
	t    *testing.T
	root string
	ns   map[string]string // namespace name -> its file
}

func newFakeProc(t *testing.T, namespaces ...string) *fakeProc {
	p := &fakeProc{t: t, root: t.TempDir(), ns: map[string]string{}}
	for _, n := range namespaces {
		p.ns[n] = filepath.Join(p.root, "ns-"+n)
		if err := os.WriteFile(p.ns[n], nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (p *fakeProc) add(pid int, ns, cgroup string) {
	dir := filepath.Join(p.root, strconv.Itoa(pid))
	if err := os.MkdirAll(filepath.Join(dir, "ns"), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.Symlink(p.ns[ns], filepath.Join(dir, "ns", "net")); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(cgroup), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p *fakeProc) id(ns string) nsID {
	id, err := nsIDOfPath(p.ns[ns])
	if err != nil {
		p.t.Fatal(err)
	}
	return id
}

func TestSharersCountsOtherCgroupsInTheNamespace(t *testing.T) {
	t.Parallel()
	p := newFakeProc(t, "a", "b")
	p.add(100, "a", "0::/docker/target\n")
	p.add(101, "a", "0::/docker/target\n") // same container: not a sharer
	p.add(102, "a", "0::/docker/sidecar\n")
	p.add(103, "a", "0::/docker/sidecar\n") // same other cgroup: counted once
	p.add(104, "a", "0::/user.slice\n")
	p.add(105, "b", "0::/docker/elsewhere\n") // another namespace
	x := &procIndex{root: p.root}
	if got := x.sharers(100, p.id("a")); got != 2 {
		t.Errorf("sharers of 100 = %d, want 2 (sidecar and user.slice)", got)
	}
	if got := x.sharers(105, p.id("b")); got != 0 {
		t.Errorf("sharers of 105 = %d, want 0", got)
	}
}

// A container that joins the namespace right after one Prepare must be seen by the
// next: one long-lived fault prepares its targets again for every repeat.
func TestSharersSeesAContainerThatJustJoined(t *testing.T) {
	t.Parallel()
	p := newFakeProc(t, "a")
	p.add(100, "a", "0::/docker/target\n")
	x := &procIndex{root: p.root}
	if got := x.sharers(100, p.id("a")); got != 0 {
		t.Fatalf("sharers before anyone joined = %d, want 0", got)
	}
	p.add(200, "a", "0::/docker/joiner\n")
	if got := x.sharers(100, p.id("a")); got != 1 {
		t.Errorf("sharers right after a container joined = %d, want 1: an earlier scan answered", got)
	}
}

// Checks that wait together share a scan of /proc: an injection on many targets reads
// /proc about once, not once per target, and never from before it asked.
func TestSharersOfOneRoundShareAScan(t *testing.T) {
	t.Parallel()
	p := newFakeProc(t, "a")
	const targets = 40
	for i := range targets {
		p.add(1000+i, "a", "0::/docker/c"+strconv.Itoa(i)+"\n")
	}
	release := make(chan struct{})
	first := true
	x := &procIndex{root: p.root}
	x.beforeScan = func() {
		if first { // hold the first scan until every other check waits for the next
			first = false
			<-release
		}
	}
	results := make(chan int, targets)
	go func() { results <- x.sharers(1000, p.id("a")) }()
	waitFor(t, func() bool { x.mu.Lock(); defer x.mu.Unlock(); return x.scans == 1 })
	for i := 1; i < targets; i++ {
		go func() { results <- x.sharers(1000+i, p.id("a")) }()
	}
	waitFor(t, func() bool { x.mu.Lock(); defer x.mu.Unlock(); return x.next != nil && x.next.waiters == targets-1 })
	close(release)
	for range targets {
		if got := <-results; got != targets-1 {
			t.Fatalf("sharers = %d, want %d", got, targets-1)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.scans != 2 {
		t.Errorf("%d checks took %d scans of /proc, want 2 (the first alone, the rest together)", targets, x.scans)
	}
}

// waitFor polls cond until it holds, failing t after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	waitfor.Condition(t, 10*time.Second, "the condition", cond)
}
