package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/internal/kernelsandbox"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// These tests need sch_netem and sch_prio: they run as /init of a Debian kernel under
// qemu (make test-kernel) and skip elsewhere. Timing under emulation is slow and noisy,
// so the bounds are generous.

// Datagram kinds of the test protocol.
const (
	msgPing  = 'P' // echoed back as is
	msgData  = 'D' // counted: seq (4 bytes), crc32 of the payload (4 bytes), payload
	msgQuery = 'Q' // answered with the counts so far
)

type udpStats struct {
	Received, Corrupt, OutOfOrder, Distinct uint32
}

// udpServer answers pings and counts data datagrams, in namespace n.
func (n *testNS) udpServer(t *testing.T, ip net.IP, port int) {
	t.Helper()
	var c *net.UDPConn
	var err error
	n.in(t, func() { c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: ip, Port: port}) })
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	c.SetReadBuffer(4 << 20)
	t.Cleanup(func() { c.Close() })
	go func() {
		var st udpStats
		seen := map[uint32]bool{}
		var maxSeq uint32
		buf := make([]byte, 2048)
		for {
			k, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			msg := buf[:k]
			switch {
			case k > 0 && msg[0] == msgPing:
				c.WriteToUDP(msg, from)
			case k >= 9 && msg[0] == msgData:
				st.Received++
				seq, sum := binary.BigEndian.Uint32(msg[1:5]), binary.BigEndian.Uint32(msg[5:9])
				if crc32.ChecksumIEEE(msg[9:]) != sum {
					st.Corrupt++
					continue
				}
				if seq < maxSeq {
					st.OutOfOrder++
				}
				maxSeq = max(maxSeq, seq)
				if !seen[seq] {
					seen[seq] = true
					st.Distinct++
				}
			case k >= 1 && msg[0] == msgQuery:
				out := make([]byte, 1+16+len(msg)-1)
				out[0] = msgQuery
				for i, v := range []uint32{st.Received, st.Corrupt, st.OutOfOrder, st.Distinct} {
					binary.BigEndian.PutUint32(out[1+4*i:], v)
				}
				copy(out[17:], msg[1:]) // the query's nonce
				c.WriteToUDP(out, from)
			}
		}
	}()
}

// udpClient is a socket in namespace n connected to a udpServer.
type udpClient struct {
	t     *testing.T
	c     *net.UDPConn
	nonce uint32
}

func (n *testNS) udpClient(t *testing.T, ip net.IP, port int) *udpClient {
	t.Helper()
	var c *net.UDPConn
	var err error
	n.in(t, func() { c, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: ip, Port: port}) })
	if err != nil {
		t.Fatalf("dial udp: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpClient{t: t, c: c}
}

// roundTrip sends a ping and waits for its echo; false when none comes within timeout.
func (u *udpClient) roundTrip(timeout time.Duration) (time.Duration, bool) {
	u.nonce++
	msg := make([]byte, 5)
	msg[0] = msgPing
	binary.BigEndian.PutUint32(msg[1:], u.nonce)
	start := time.Now()
	if _, err := u.c.Write(msg); err != nil {
		u.t.Fatalf("send ping: %v", err)
	}
	deadline := start.Add(timeout)
	buf := make([]byte, 64)
	for {
		u.c.SetReadDeadline(deadline)
		k, err := u.c.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return 0, false
			}
			u.t.Fatalf("read echo: %v", err)
		}
		if k == 5 && buf[0] == msgPing && binary.BigEndian.Uint32(buf[1:]) == u.nonce {
			return time.Since(start), true
		}
	}
}

// medianRTT takes the median of count answered pings.
func (u *udpClient) medianRTT(count int) time.Duration {
	var rtts []time.Duration
	for attempts := 0; len(rtts) < count && attempts < 4*count; attempts++ {
		if d, ok := u.roundTrip(2 * time.Second); ok {
			rtts = append(rtts, d)
		}
	}
	if len(rtts) < count {
		u.t.Fatalf("only %d of %d pings answered", len(rtts), count)
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2]
}

// sendData sends count data datagrams numbered from first.
func (u *udpClient) sendData(first, count uint32) {
	payload := make([]byte, 9+200)
	for i := uint32(0); i < count; i++ {
		seq := first + i
		payload[0] = msgData
		for j := 9; j < len(payload); j++ {
			payload[j] = byte(seq) + byte(j)
		}
		binary.BigEndian.PutUint32(payload[1:5], seq)
		binary.BigEndian.PutUint32(payload[5:9], crc32.ChecksumIEEE(payload[9:]))
		if _, err := u.c.Write(payload); err != nil {
			u.t.Fatalf("send data: %v", err)
		}
	}
}

// stats asks the server for its counts, retrying lost queries. Datagrams on one path
// arrive in order unless reordered on purpose, so the answer covers what was sent before.
func (u *udpClient) stats() udpStats {
	for attempt := 0; attempt < 50; attempt++ {
		u.nonce++
		q := make([]byte, 5)
		q[0] = msgQuery
		binary.BigEndian.PutUint32(q[1:], u.nonce)
		if _, err := u.c.Write(q); err != nil {
			u.t.Fatalf("send query: %v", err)
		}
		u.c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 64)
		for {
			k, err := u.c.Read(buf)
			if err != nil {
				break // lost query or answer: ask again
			}
			if k == 21 && buf[0] == msgQuery && binary.BigEndian.Uint32(buf[17:]) == u.nonce {
				return udpStats{
					Received: binary.BigEndian.Uint32(buf[1:]), Corrupt: binary.BigEndian.Uint32(buf[5:]),
					OutOfOrder: binary.BigEndian.Uint32(buf[9:]), Distinct: binary.BigEndian.Uint32(buf[13:]),
				}
			}
		}
	}
	u.t.Fatal("the counting server never answered")
	return udpStats{}
}

// sendBatches sends total datagrams in batches small enough for the server's socket
// buffer, waiting for each batch to be counted, and returns the final counts.
func (u *udpClient) sendBatches(total, batch uint32) udpStats {
	var st udpStats
	for sent := uint32(0); sent < total; sent += batch {
		u.sendData(sent, min(batch, total-sent))
		st = u.stats()
	}
	return st
}

// withNetem applies a netem fault of kind to a's interface, checks that nothing of
// ours is left after revert, and returns the revert function.
func withNetem(t *testing.T, p *pair, kind string, params faults.Params) func() {
	t.Helper()
	before := qdiscSummary(t, p.a.nl, p.aLink)
	f := mustNew(t, kind, params, nil)
	a := mustPrepare(t, f, p.a.target("a", p.aIP))
	start := time.Now()
	if err := a.Apply(t.Context()); err != nil {
		t.Fatalf("Apply %s: %v", kind, err)
	}
	t.Logf("applied %s in %v", kind, time.Since(start))
	v, err := a.Verify(t.Context())
	if err != nil || !v.OK() || !strings.Contains(v.String(), "netem") {
		t.Fatalf("read-back after Apply %s: %v (%s); want our netem as applied", kind, err, v)
	}
	t.Logf("read back: %s", v)
	var once sync.Once
	return func() {
		once.Do(func() {
			if err := a.Revert(t.Context()); err != nil {
				t.Fatalf("Revert %s: %v", kind, err)
			}
			if v, err := a.Verify(t.Context()); err != nil || !v.OK() {
				t.Errorf("read-back after Revert %s: %v (%s); want clean", kind, err, v)
			}
			after := qdiscSummary(t, p.a.nl, p.aLink)
			if !slices.Equal(before, after) {
				t.Errorf("after revert qdiscs are %v, before %v", after, before)
			}
			if left := oursLeft(t, p.a.nl, p.aLink); len(left) > 0 {
				t.Errorf("our qdiscs are left after revert: %v", left)
			}
		})
	}
}

func TestSandboxDelay(t *testing.T) {
	needSandbox(t)
	p := newPair(t)
	p.b.udpServer(t, p.bIP, 7000)
	u := p.a.udpClient(t, p.bIP, 7000)
	base := u.medianRTT(5)
	revert := withNetem(t, p, "delay", faults.Params{"latency": 100 * time.Millisecond})
	during := u.medianRTT(9)
	revert()
	after := u.medianRTT(5)
	t.Logf("round trip: before %v, during %v, after %v", base, during, after)
	if during < 90*time.Millisecond || during > 150*time.Millisecond {
		t.Errorf("with a 100ms delay the round trip measured %v, want 90-150ms", during)
	}
	if after > 50*time.Millisecond {
		t.Errorf("after revert the round trip is still %v", after)
	}
}

func TestSandboxLoss(t *testing.T) {
	needSandbox(t)
	p := newPair(t)
	p.b.udpServer(t, p.bIP, 7000)
	u := p.a.udpClient(t, p.bIP, 7000)
	revert := withNetem(t, p, "loss", faults.Params{"percent": 30.0})
	const sent = 600
	st := u.sendBatches(sent, 50)
	revert()
	lost := 1 - float64(st.Received)/sent
	t.Logf("loss 30%%: %d of %d arrived, %.1f%% lost", st.Received, sent, 100*lost)
	if lost < 0.20 || lost > 0.40 {
		t.Errorf("measured %.1f%% loss, want 20-40%%", 100*lost)
	}
	after := u.sendBatches(100, 50)
	if got := after.Received - st.Received; got < 98 {
		t.Errorf("after revert only %d of 100 datagrams arrived", got)
	}
}

func TestSandboxDuplicate(t *testing.T) {
	needSandbox(t)
	p := newPair(t)
	p.b.udpServer(t, p.bIP, 7000)
	u := p.a.udpClient(t, p.bIP, 7000)
	revert := withNetem(t, p, "duplicate", faults.Params{"percent": 50.0})
	const sent = 300
	st := u.sendBatches(sent, 50)
	revert()
	t.Logf("duplicate 50%%: %d datagrams arrived for %d sent (%d distinct)", st.Received, sent, st.Distinct)
	if st.Received < sent*13/10 {
		t.Errorf("%d datagrams arrived for %d sent: duplication not observed", st.Received, sent)
	}
}

func TestSandboxCorrupt(t *testing.T) {
	needSandbox(t)
	p := newPair(t)
	p.b.udpServer(t, p.bIP, 7000)
	u := p.a.udpClient(t, p.bIP, 7000)
	revert := withNetem(t, p, "corrupt", faults.Params{"percent": 50.0})
	const sent = 300
	st := u.sendBatches(sent, 50)
	revert()
	// A flipped bit either fails a checksum in the kernel (the datagram vanishes) or
	// reaches the server with a payload that fails ours.
	damaged := sent - (st.Received - st.Corrupt)
	t.Logf("corrupt 50%%: %d sent, %d arrived, %d with a bad payload, %d damaged in all", sent, st.Received, st.Corrupt, damaged)
	if damaged < sent/5 {
		t.Errorf("only %d of %d datagrams were damaged: corruption not observed", damaged, sent)
	}
}

func TestSandboxReorder(t *testing.T) {
	needSandbox(t)
	p := newPair(t)
	p.b.udpServer(t, p.bIP, 7000)
	u := p.a.udpClient(t, p.bIP, 7000)
	revert := withNetem(t, p, "reorder", faults.Params{"percent": 50.0, "latency": 50 * time.Millisecond})
	const sent = 100
	u.sendData(0, sent)
	var st udpStats
	// The delayed datagrams trail the reordered ones by 50ms: wait until all are counted.
	deadline := time.Now().Add(10 * time.Second)
	for st = u.stats(); st.Distinct < sent && time.Now().Before(deadline); st = u.stats() {
	}
	revert()
	t.Logf("reorder 50%%: %d of %d arrived after a later one", st.OutOfOrder, sent)
	if st.OutOfOrder < 5 {
		t.Errorf("only %d datagrams arrived out of order: reordering not observed", st.OutOfOrder)
	}
}

func TestSandboxRate(t *testing.T) {
	needSandbox(t)
	p := newPair(t)
	p.b.listenTCP(t, p.bIP, 7003)
	const rate = 2_000_000 // bits per second: 250 kB/s
	revert := withNetem(t, p, "rate", faults.Params{"rate": uint64(rate)})
	during := p.a.throughput(t, p.bIP, 7003, 512<<10)
	revert()
	after := p.a.throughput(t, p.bIP, 7003, 4<<20)
	t.Logf("netem rate %d B/s: during %.0f B/s, after %.0f B/s", rate/8, during, after)
	if during > 1.5*rate/8 {
		t.Errorf("during the fault %.0f B/s exceeds the rate %d B/s", during, rate/8)
	}
	if after < uncappedFloor(rate/8) {
		t.Errorf("after revert %.0f B/s is not clearly above the rate of %d B/s (limited: %.0f B/s)", after, rate/8, during)
	}
}

func TestSandboxFilteredDelaySlowsOnlyMatchingDestinationAndPort(t *testing.T) {
	needSandbox(t)
	p := newPair(t)
	// A second address on b: same host, another destination.
	other := net.IPv4(p.bIP[0], p.bIP[1], p.bIP[2], 3).To4()
	bLink, err := p.b.nl.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.b.nl.AddrAdd(bLink, &netlink.Addr{IPNet: &net.IPNet{IP: other, Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatal(err)
	}
	for _, ip := range []net.IP{p.bIP, other} {
		for _, port := range []int{7001, 7002} {
			p.b.udpServer(t, ip, port)
		}
	}
	matching := p.a.udpClient(t, p.bIP, 7001)
	otherPort := p.a.udpClient(t, p.bIP, 7002)
	otherDest := p.a.udpClient(t, other, 7001)
	revert := withNetem(t, p, "delay", faults.Params{"latency": 100 * time.Millisecond,
		"to": []faults.Destination{{CIDR: p.bIP.String()}}, "ports": []faults.PortRange{{From: 7001, To: 7001}}})
	root := rootHandle(t, p.a.nl, p.aLink)
	filters, err := p.a.nl.FilterList(p.aLink, root)
	if err != nil {
		t.Fatal(err)
	}
	m, op, od := matching.medianRTT(5), otherPort.medianRTT(5), otherDest.medianRTT(5)
	revert()
	t.Logf("filtered delay with %d u32 filters under prio: %s:7001 %v, %s:7002 %v, %s:7001 %v", len(filters), p.bIP, m, p.bIP, op, other, od)
	if m < 90*time.Millisecond || m > 150*time.Millisecond {
		t.Errorf("matching traffic measured %v, want 90-150ms", m)
	}
	for what, d := range map[string]time.Duration{"another port": op, "another destination": od} {
		if d > 50*time.Millisecond {
			t.Errorf("traffic to %s was slowed too: %v", what, d)
		}
	}
	if f, err := p.a.nl.FilterList(p.aLink, root); err == nil && len(f) > 0 {
		t.Errorf("%d filters left after revert", len(f))
	}
}

func TestSandboxPreflightFindsNetem(t *testing.T) {
	needSandbox(t)
	if err := Preflight(t.Context(), []string{"delay", "loss", "netem", "bandwidth", "prio", "u32"}); err != nil {
		t.Errorf("Preflight on a kernel with netem, prio and u32: %v", err)
	}
}

// threadNS parks a locked thread in a new network namespace with a dummy eth0 and
// returns a target whose PID is the thread's id (/proc/TID/ns/net is its namespace).
// Threads cost far less memory than holder processes in the sandbox's small machine.
func threadNS(b *testing.B) faults.Target {
	b.Helper()
	type result struct {
		tid int
		err error
	}
	done := make(chan struct{})
	b.Cleanup(func() { close(done) })
	for {
		ready := make(chan result)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			if unix.Gettid() == os.Getpid() {
				// The process's main thread: its namespace is the process's. Keep it
				// parked here so that the next try gets another thread.
				ready <- result{tid: -1}
				<-done
				return
			}
			ns, err := netns.New()
			if err == nil {
				defer ns.Close()
				h, herr := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
				if err = herr; err == nil {
					eth0 := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}}
					if err = h.LinkAdd(eth0); err == nil {
						err = h.LinkSetUp(eth0)
					}
					h.Close()
				}
			}
			ready <- result{unix.Gettid(), err}
			<-done
		}()
		r := <-ready
		if r.err != nil {
			b.Fatalf("namespace on a thread: %v", r.err)
		}
		if r.tid > 0 {
			return faults.Target{ID: fmt.Sprintf("faultline-test-thread-%d", r.tid), Name: fmt.Sprintf("thread-%d", r.tid), PID: r.tid}
		}
	}
}

// BenchmarkSandboxNetem times netem apply and revert on 1, 10 and 50 namespaces in the
// kernel sandbox (FAULTLINE_SANDBOX_BENCH=BenchmarkSandboxNetem make test-kernel).
// Emulated timings: slower than hardware, and with nothing to compare against.
func BenchmarkSandboxNetem(b *testing.B) {
	if !kernelsandbox.InSandbox() {
		b.Skip("needs sch_netem: runs in the kernel sandbox")
	}
	var targets []faults.Target
	for i := 0; i < 50; i++ {
		targets = append(targets, threadNS(b))
	}
	f, err := New("delay", faults.Params{"latency": 100 * time.Millisecond}, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			var apply, revert time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				var actions []faults.Action
				for _, t := range targets[:n] {
					a, err := f.Prepare(b.Context(), t)
					if err != nil {
						b.Fatal(err)
					}
					if err := a.Apply(b.Context()); err != nil {
						b.Fatal(err)
					}
					actions = append(actions, a)
				}
				apply += time.Since(start)
				start = time.Now()
				for _, a := range actions {
					if err := a.Revert(b.Context()); err != nil {
						b.Fatal(err)
					}
				}
				revert += time.Since(start)
			}
			b.ReportMetric(float64(apply)/float64(time.Millisecond)/float64(b.N), "apply-ms")
			b.ReportMetric(float64(revert)/float64(time.Millisecond)/float64(b.N), "revert-ms")
		})
	}
}

// TestSandboxNetemReadBackSeesRemovalAndChange: for every netem kind, the read-back
// sees the fault as applied; a qdisc deleted by hand (tc qdisc del), or replaced with
// other parameters, makes it fail, saying what it found; the revert afterwards leaves
// nothing of ours and does not fail.
func TestSandboxNetemReadBackSeesRemovalAndChange(t *testing.T) {
	needSandbox(t)
	kinds := []struct {
		kind   string
		params faults.Params
	}{
		{"delay", faults.Params{"latency": 100 * time.Millisecond}},
		{"loss", faults.Params{"percent": 30.0}},
		{"duplicate", faults.Params{"percent": 20.0}},
		{"corrupt", faults.Params{"percent": 10.0}},
		{"reorder", faults.Params{"percent": 50.0, "latency": 50 * time.Millisecond}},
		{"rate", faults.Params{"rate": uint64(2_000_000)}},
	}
	for _, k := range kinds {
		for _, how := range []string{"deleted", "changed"} {
			t.Run(k.kind+"/"+how, func(t *testing.T) {
				p := newPair(t)
				f := mustNew(t, k.kind, k.params, nil)
				a := mustPrepare(t, f, p.a.target("a", p.aIP))
				if err := a.Apply(t.Context()); err != nil {
					t.Fatalf("Apply: %v", err)
				}
				if v, err := a.Verify(t.Context()); err != nil || !v.OK() {
					t.Fatalf("read-back after Apply: %v (%s)", err, v)
				}
				root := rootHandle(t, p.a.nl, p.aLink)
				switch how {
				case "deleted":
					qs, err := p.a.nl.QdiscList(p.aLink)
					if err != nil {
						t.Fatal(err)
					}
					for _, q := range qs {
						if q.Attrs().Handle == root {
							if err := p.a.nl.QdiscDel(q); err != nil {
								t.Fatalf("delete the qdisc by hand: %v", err)
							}
						}
					}
				case "changed":
					// The same handle, another netem: 7 ms of delay and nothing else.
					q := &netlink.Netem{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: p.aLink.Attrs().Index, Handle: root, Parent: netlink.HANDLE_ROOT}, Latency: 7000}
					if err := p.a.nl.QdiscReplace(q); err != nil {
						t.Fatalf("replace the qdisc by hand: %v", err)
					}
				}
				v, err := a.Verify(t.Context())
				if err == nil || v.OK() || !errors.Is(err, faults.ErrNotInjected) {
					t.Fatalf("read-back after the qdisc was %s by hand: %v (%s); want ErrNotInjected saying what it found", how, err, v)
				}
				t.Logf("%s by hand: %v", how, err)
				// The revert deletes what carries our handle and kind, and reads back clean.
				if err := a.Revert(t.Context()); err != nil {
					t.Errorf("revert after the qdisc was %s by hand: %v", how, err)
				}
				if left := oursLeft(t, p.a.nl, p.aLink); len(left) > 0 {
					t.Errorf("our qdiscs are left: %v", left)
				}
			})
		}
	}
}
