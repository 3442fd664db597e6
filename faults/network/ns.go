package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netlinkTimeout bounds one netlink request, so a wedged namespace cannot hang a revert.
const netlinkTimeout = 5 * time.Second

// nsID identifies a network namespace: the device and inode of its nsfs file.
type nsID struct{ Dev, Ino uint64 }

func nsIDOfPath(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{Dev: uint64(st.Dev), Ino: st.Ino}, nil
}

func nsIDOfFd(fd int) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nsID{}, err
	}
	return nsID{Dev: uint64(st.Dev), Ino: st.Ino}, nil
}

func nsPath(pid int) string { return filepath.Join("/proc", strconv.Itoa(pid), "ns", "net") }

// hostNamespaces returns the namespaces faultline never impairs, with what they are:
// the host's (PID 1's; where PID 1 hides its namespace from us, kthreadd's, which
// always lives in the initial one) and faultline's own, whose traffic carries the
// observation of the experiment.
func hostNamespaces() (map[nsID]string, error) {
	out := map[nsID]string{}
	if id, err := nsIDOfPath(nsPath(1)); err == nil {
		out[id] = "the host's network namespace (network_mode host?)"
	} else if comm, cerr := os.ReadFile("/proc/2/comm"); cerr == nil && strings.TrimSpace(string(comm)) == "kthreadd" {
		if id, kerr := nsIDOfPath(nsPath(2)); kerr == nil {
			out[id] = "the host's network namespace (network_mode host?)"
		}
	}
	if id, err := nsIDOfPath("/proc/self/ns/net"); err == nil {
		if _, dup := out[id]; !dup {
			out[id] = "faultline's own network namespace"
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cannot read /proc/1/ns/net or /proc/self/ns/net to tell the host's network namespace apart: is /proc mounted?")
	}
	return out, nil
}

// conn is an open network namespace of one process and a netlink handle inside it.
type conn struct {
	pid int
	id  nsID
	ns  netns.NsHandle
	nl  *netlink.Handle
}

// errNoProcess marks a PID whose process no longer exists.
var errNoProcess = errors.New("process is gone")

// open enters the network namespace of pid: it keeps the namespace file open (so the
// namespace outlives a container that stops meanwhile) and opens a NETLINK_ROUTE handle
// there. Naming the family matters: a handle opened with none also opens XFRM and
// NETFILTER sockets, which fails where those are unloaded modules.
func open(pid int) (*conn, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("no PID: the container is not running")
	}
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("open network namespace of PID %d: %w", pid, errNoProcess)
		}
		return nil, fmt.Errorf("open network namespace of PID %d: %w (faultline needs root or CAP_SYS_ADMIN and CAP_NET_ADMIN)", pid, err)
	}
	id, err := nsIDOfFd(int(ns))
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("identify network namespace of PID %d: %w", pid, err)
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("open netlink in the network namespace of PID %d: %w", pid, err)
	}
	if err := h.SetSocketTimeout(netlinkTimeout); err != nil {
		h.Close()
		ns.Close()
		return nil, fmt.Errorf("set netlink timeout: %w", err)
	}
	return &conn{pid: pid, id: id, ns: ns, nl: h}, nil
}

func (c *conn) close() {
	if c == nil {
		return
	}
	c.nl.Close()
	c.ns.Close()
}

// current reports whether pid still lives in the namespace c holds open. A container
// that restarted has a new init process and a new namespace.
func (c *conn) current() bool {
	id, err := nsIDOfPath(nsPath(c.pid))
	return err == nil && id.Ino == c.id.Ino
}

// refuseHost fails when c is the host's own network namespace.
func (c *conn) refuseHost(name string) error {
	hosts, err := hostNamespaces()
	if err != nil {
		return err
	}
	if what, ok := hosts[c.id]; ok {
		return fmt.Errorf("target %s runs in %s: faultline refuses to impair the host's own network; pick a container with its own network", name, what)
	}
	return nil
}

// procIndex maps network namespace inodes to the PIDs living in them, for the
// sharing check. Checks that wait at the same time (one injection preparing many
// targets at once) share one scan of /proc, and a scan answers only the checks asked
// before it began: a container that joined a namespace before its Prepare is always
// seen, however soon after an earlier Prepare it came.
type procIndex struct {
	mu      sync.Mutex
	root    string    // /proc
	next    *procScan // the scan the next checks wait for; it begins when the running one ends
	running bool      // a scan loop runs
	scans   int       // scans begun, for tests
	// beforeScan, when set (tests), runs as a scan begins.
	beforeScan func()
}

// procScan is one reading of /proc, shared by the checks waiting for it.
type procScan struct {
	done    chan struct{} // closed when byIno is complete
	waiters int
	byIno   map[uint64][]int
}

func (x *procIndex) pidsIn(ino uint64) []int {
	x.mu.Lock()
	s := x.next
	if s == nil {
		s = &procScan{done: make(chan struct{})}
		x.next = s
	}
	s.waiters++
	if !x.running {
		x.running = true
		go x.scanLoop()
	}
	x.mu.Unlock()
	<-s.done
	return s.byIno[ino]
}

// scanLoop runs the waited-for scans one after another, until none is waited for.
func (x *procIndex) scanLoop() {
	for {
		x.mu.Lock()
		s := x.next
		if s == nil {
			x.running = false
			x.mu.Unlock()
			return
		}
		x.next = nil
		x.scans++
		hook := x.beforeScan
		x.mu.Unlock()
		if hook != nil {
			hook()
		}
		s.byIno = scanProc(x.root)
		close(s.done)
	}
}

// scanProc reads the network namespace of every process under root.
func scanProc(root string) map[uint64][]int {
	byIno := map[uint64][]int{}
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if id, err := nsIDOfPath(filepath.Join(root, e.Name(), "ns", "net")); err == nil {
			byIno[id.Ino] = append(byIno[id.Ino], pid)
		}
	}
	return byIno
}

// sharers counts the cgroups other than pid's whose processes live in pid's network
// namespace: another container joined it (--network container:X) or a host process
// entered it.
func (x *procIndex) sharers(pid int, id nsID) int {
	read := func(p int) string {
		b, _ := os.ReadFile(filepath.Join(x.root, strconv.Itoa(p), "cgroup"))
		return string(b)
	}
	own := read(pid)
	if own == "" {
		return 0
	}
	seen := map[string]bool{}
	for _, other := range x.pidsIn(id.Ino) {
		if other == pid {
			continue
		}
		// The namespace may have changed since the scan: check it again.
		if oid, err := nsIDOfPath(filepath.Join(x.root, strconv.Itoa(other), "ns", "net")); err != nil || oid.Ino != id.Ino {
			continue
		}
		if cg := read(other); cg != "" && cg != own {
			seen[cg] = true
		}
	}
	return len(seen)
}

// targetRef is the journal's identity of a target: its container and namespace.
func targetRef(t faults.Target, id nsID) faults.TargetRef {
	return faults.TargetRef{ID: t.ID, Name: t.Name, PID: t.PID, NetNS: id.Ino}
}
