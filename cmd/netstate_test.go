package cmd

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// canShapeNetworks reports whether this test process may enter container network
// namespaces, as network faults must.
func canShapeNetworks() bool { return os.Geteuid() == 0 }

// netState summarises what network faults change inside the network namespace of pid:
// the root qdisc of every non-loopback interface and the blackhole routes.
func netState(t *testing.T, pid int) string {
	t.Helper()
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		t.Fatalf("network namespace of pid %d: %v", pid, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, l := range links {
		if l.Attrs().Flags&(1<<2) != 0 || l.Type() == "loopback" { // IFF_LOOPBACK
			continue
		}
		qs, err := h.QdiscList(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if q.Attrs().Parent == netlink.HANDLE_ROOT {
				parts = append(parts, fmt.Sprintf("%s root %s", l.Attrs().Name, q.Type()))
			}
		}
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Type == unix.RTN_BLACKHOLE {
			parts = append(parts, fmt.Sprintf("blackhole %v", r.Dst))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}
