package network

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/internal/kernelsandbox"
	"github.com/faultline/faultline/internal/testreal"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// envHolder makes the test binary a namespace holder: a process that sits in a fresh
// network namespace until its stdin closes, giving the namespace a PID like a container's.
const envHolder = "FAULTLINE_TEST_NETNS_HOLDER"

func TestMain(m *testing.M) {
	if os.Getenv(envHolder) == "1" {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(kernelsandbox.Main(m))
}

// needRoot skips (or fails in CI) when the test cannot create namespaces.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testreal.Missing(t, "network namespace tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)")
	}
}

// needSandbox skips tests that need netem or prio unless they run in the kernel sandbox.
func needSandbox(t *testing.T) {
	t.Helper()
	if !kernelsandbox.InSandbox() {
		t.Skip("needs sch_netem and sch_prio: runs in the kernel sandbox (make test-kernel)")
	}
}

// testNS is a network namespace held open by a process of its own.
type testNS struct {
	pid int
	ns  netns.NsHandle
	nl  *netlink.Handle
}

var nsCounter atomic.Int64

// newTestNS starts a holder process in a new network namespace, with loopback up.
func newTestNS(t *testing.T) *testNS {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Args[0] = fmt.Sprintf("faultline-test-netns-%d", nsCounter.Add(1))
	// A race-enabled holder would otherwise sleep a second at exit.
	cmd.Env = append(os.Environ(), envHolder+"=1", "GORACE=atexit_sleep_ms=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start namespace holder: %v", err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			cmd.Process.Kill()
		}
	})
	ns, err := netns.GetFromPid(cmd.Process.Pid)
	if err != nil {
		t.Fatalf("open namespace of holder: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink in holder's namespace: %v", err)
	}
	t.Cleanup(h.Close)
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	return &testNS{pid: cmd.Process.Pid, ns: ns, nl: h}
}

// pair is two namespaces joined by a veth pair, a at .1 and b at .2 of a /24.
type pair struct {
	a, b     *testNS
	aIP, bIP net.IP
	aLink    netlink.Link
}

var subnetCounter atomic.Int64

func newPair(t *testing.T) *pair {
	t.Helper()
	needRoot(t)
	p := &pair{a: newTestNS(t), b: newTestNS(t)}
	n := subnetCounter.Add(1)
	p.aIP = net.IPv4(10, 213, byte(n), 1).To4()
	p.bIP = net.IPv4(10, 213, byte(n), 2).To4()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(p.b.ns)}
	if err := p.a.nl.LinkAdd(veth); err != nil {
		testreal.Missing(t, "cannot create a veth pair: %v", err)
	}
	for _, side := range []struct {
		ns *testNS
		ip net.IP
	}{{p.a, p.aIP}, {p.b, p.bIP}} {
		l, err := side.ns.nl.LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: side.ip, Mask: net.CIDRMask(24, 32)}}
		if err := side.ns.nl.AddrAdd(l, addr); err != nil {
			t.Fatal(err)
		}
		if err := side.ns.nl.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if p.aLink, err = p.a.nl.LinkByName("eth0"); err != nil {
		t.Fatal(err)
	}
	return p
}

// target describes a namespace the way the plan describes a container.
func (n *testNS) target(name string, ip net.IP) faults.Target {
	return faults.Target{ID: name, Name: name, PID: n.pid, State: "running",
		Networks: []faults.Network{{Name: "faultline-test-net", IP: ip, PrefixLen: 24}}}
}

// in runs fn on a thread inside the namespace; sockets fn creates stay there.
func (n *testNS) in(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(n.ns); err != nil {
			done <- err
			return
		}
		fn()
		if err := netns.Set(orig); err != nil {
			done <- err // the thread stays locked and dies with the goroutine
			return
		}
		runtime.UnlockOSThread()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatalf("enter namespace: %v", err)
	}
}

// listenTCP starts a server in n that reads and discards everything.
func (n *testNS) listenTCP(t *testing.T, ip net.IP, port int) {
	t.Helper()
	var ln net.Listener
	var err error
	n.in(t, func() { ln, err = net.Listen("tcp4", net.JoinHostPort(ip.String(), fmt.Sprint(port))) })
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
}

// dialTCP connects from n.
func (n *testNS) dialTCP(t *testing.T, ip net.IP, port int, timeout time.Duration) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	var err error
	n.in(t, func() {
		d := net.Dialer{Timeout: timeout}
		c, err = d.Dial("tcp4", net.JoinHostPort(ip.String(), fmt.Sprint(port)))
	})
	return c, err
}

// throughput sends size bytes from n to ip:port over TCP and returns bytes per second.
func (n *testNS) throughput(t *testing.T, ip net.IP, port int, size int) float64 {
	t.Helper()
	c, err := n.dialTCP(t, ip, port, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s:%d: %v", ip, port, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, 64<<10)
	start := time.Now()
	for sent := 0; sent < size; {
		k := min(len(buf), size-sent)
		w, err := c.Write(buf[:k])
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		sent += w
	}
	// The last bytes may still sit in the queue: close and wait for the peer's FIN
	// acknowledging everything, so the time covers the whole transfer.
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
		tc.Read(make([]byte, 1)) // returns at the peer's close
	}
	return float64(size) / time.Since(start).Seconds()
}

// qdiscs lists "kind handle parent" of every qdisc on the link, for comparisons.
func qdiscSummary(t *testing.T, h *netlink.Handle, l netlink.Link) []string {
	t.Helper()
	qs, err := h.QdiscList(l)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, q := range qs {
		out = append(out, fmt.Sprintf("%s %s parent %s", q.Type(), netlink.HandleStr(q.Attrs().Handle), netlink.HandleStr(q.Attrs().Parent)))
	}
	return out
}

// rootHandle is the handle of the link's root qdisc.
func rootHandle(t *testing.T, h *netlink.Handle, l netlink.Link) uint32 {
	t.Helper()
	qs, err := h.QdiscList(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT {
			return q.Attrs().Handle
		}
	}
	t.Fatal("no root qdisc")
	return 0
}

// oursLeft lists the qdiscs on the link with a handle of faultline's (root or child).
func oursLeft(t *testing.T, h *netlink.Handle, l netlink.Link) []string {
	t.Helper()
	qs, err := h.QdiscList(l)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, q := range qs {
		major, _ := netlink.MajorMinor(q.Attrs().Handle)
		if ours(major) || ours(major-childOffset) {
			out = append(out, q.Type()+" "+netlink.HandleStr(q.Attrs().Handle))
		}
	}
	return out
}

func routeSummary(t *testing.T, h *netlink.Handle) []string {
	t.Helper()
	rs, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%v type %d proto %d", r.Dst, r.Type, r.Protocol))
	}
	return out
}

func mustNew(t *testing.T, kind string, p faults.Params, peers Peers) *fault {
	t.Helper()
	f, err := New(kind, p, peers)
	if err != nil {
		t.Fatalf("New(%s): %v", kind, err)
	}
	return f.(*fault)
}

func mustPrepare(t *testing.T, f faults.Fault, tg faults.Target) *action {
	t.Helper()
	a, err := f.Prepare(t.Context(), tg)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	act := a.(*action)
	t.Cleanup(func() {
		if err := act.Revert(t.Context()); err != nil && !errors.Is(err, faults.ErrTargetGone) {
			t.Errorf("cleanup revert: %v", err)
		}
	})
	return act
}

// uncappedFloor is the least throughput that shows traffic is no longer held to a cap
// of capBps bytes per second: twice the 1.5x the tests allow under the cap. It is a
// bound on the cap, not a ratio to the measured capped rate, so that a loaded machine
// (where an uncapped transfer is slower, CPU-bound) does not fail a correct revert,
// while traffic still held to the cap fails it.
func uncappedFloor(capBps float64) float64 { return 3 * capBps }
