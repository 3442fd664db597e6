package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/internal/dockertest"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// These tests run faults against real containers on a private Docker network. The
// containers run testdata/netprobe, which dials and sends on request, so the host
// measures each container's egress through it.

const netprobe = "./faults/network/testdata/netprobe"

type probeContainer struct {
	t      *testing.T
	cli    *client.Client
	id     string
	target faults.Target
	ip     net.IP
}

// containerTarget describes an inspected container the way the plan does.
func containerTarget(c container.InspectResponse) faults.Target {
	t := faults.Target{ID: c.ID, Name: strings.TrimPrefix(c.Name, "/"), State: string(c.State.Status), PID: c.State.Pid}
	for name, ep := range c.NetworkSettings.Networks {
		n := faults.Network{Name: name, PrefixLen: ep.IPPrefixLen}
		if ep.IPAddress.IsValid() {
			n.IP = net.IP(ep.IPAddress.AsSlice())
		}
		t.Networks = append(t.Networks, n)
	}
	return t
}

func startProbes(t *testing.T, count int) []*probeContainer {
	t.Helper()
	needRoot(t)
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli, netprobe)
	nw := dockertest.Network(t, cli, dockertest.NetworkOptions{Internal: true})
	var out []*probeContainer
	for i := 0; i < count; i++ {
		c := dockertest.Run(t, cli, dockertest.RunOptions{Name: fmt.Sprintf("%s-%d", t.Name(), i), Image: img, Networks: []string{nw.Name}})
		dockertest.WaitLog(t, cli, c.ID, "ready")
		p := &probeContainer{t: t, cli: cli, id: c.ID}
		p.refresh()
		out = append(out, p)
	}
	return out
}

// refresh reads the container's PID and address again (after a restart).
func (p *probeContainer) refresh() {
	st := dockertest.Wait(p.t, p.cli, p.id, "running", dockertest.Running)
	p.target = containerTarget(st)
	if len(p.target.Networks) != 1 || p.target.Networks[0].IP == nil {
		p.t.Fatalf("container %s has networks %+v, want one with an address", p.target.Name, p.target.Networks)
	}
	p.ip = p.target.Networks[0].IP
}

func (p *probeContainer) call(path string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(p.t.Context(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(p.ip.String(), "8080")+path, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", res.Status, strings.TrimSpace(string(body)))
	}
	return strings.TrimSpace(string(body)), nil
}

// dial asks the container to open a TCP connection to ip:port.
func (p *probeContainer) dial(ip net.IP, port int) error {
	_, err := p.call(fmt.Sprintf("/dial?addr=%s", net.JoinHostPort(ip.String(), strconv.Itoa(port))), 10*time.Second)
	return err
}

// throughput asks the container to send size bytes to ip:port; bytes per second.
func (p *probeContainer) throughput(ip net.IP, port, size int) float64 {
	out, err := p.call(fmt.Sprintf("/send?addr=%s&bytes=%d", net.JoinHostPort(ip.String(), strconv.Itoa(port)), size), 90*time.Second)
	if err != nil {
		p.t.Fatalf("send from %s: %v", p.target.Name, err)
	}
	secs, err := strconv.ParseFloat(out, 64)
	if err != nil || secs <= 0 {
		p.t.Fatalf("send from %s answered %q", p.target.Name, out)
	}
	return float64(size) / secs
}

// netlinkIn opens a handle in the container's namespace, for the test's own checks.
func (p *probeContainer) netlinkIn() (*netlink.Handle, netlink.Link) {
	ns, err := netns.GetFromPid(p.target.PID)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { ns.Close() })
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(h.Close)
	l, err := h.LinkByName("eth0")
	if err != nil {
		p.t.Fatal(err)
	}
	return h, l
}

func TestContainerBandwidthAndReviveFromRecord(t *testing.T) {
	ps := startProbes(t, 2)
	a, b := ps[0], ps[1]
	h, eth0 := a.netlinkIn()
	qBefore := qdiscSummary(t, h, eth0)
	const rate = 8_000_000
	before := a.throughput(b.ip, 9000, 8<<20)
	f := mustNew(t, "bandwidth", faults.Params{"rate": uint64(rate)}, nil)
	act := mustPrepare(t, f, a.target)
	if err := act.Apply(t.Context()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	during := a.throughput(b.ip, 9000, 1<<20)

	// Revert as `faultline recover` would: from the journal record, in a new action.
	raw, _ := json.Marshal(act.Record())
	var rec faults.Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	revived, err := NewReviver().Revive(rec)
	if err != nil {
		t.Fatalf("Revive: %v", err)
	}
	if err := revived.Revert(t.Context()); err != nil {
		t.Fatalf("revert of the revived action: %v", err)
	}
	if err := act.Revert(t.Context()); err != nil {
		t.Errorf("the original action's revert after the revived one: %v; want nil (idempotent)", err)
	}
	after := a.throughput(b.ip, 9000, 8<<20)
	t.Logf("container throughput before %.0f B/s, during %.0f B/s (cap %d B/s), after %.0f B/s", before, during, rate/8, after)
	if during > 1.5*rate/8 || during < 0.3*rate/8 {
		t.Errorf("during the fault %.0f B/s, want close to the cap %d B/s", during, rate/8)
	}
	if after < uncappedFloor(rate/8) {
		t.Errorf("after revert %.0f B/s is not clearly above the cap of %d B/s (capped: %.0f B/s)", after, rate/8, during)
	}
	if q := qdiscSummary(t, h, eth0); !slices.Equal(q, qBefore) {
		t.Errorf("qdiscs after revert %v, before %v", q, qBefore)
	}
}

func TestContainerPartitionBothWays(t *testing.T) {
	ps := startProbes(t, 2)
	a, b := ps[0], ps[1]
	peers := func(name string) []faults.Target {
		if name == "db" {
			return []faults.Target{b.target}
		}
		return nil
	}
	if err := a.dial(b.ip, 9000); err != nil {
		t.Fatalf("before the fault: %v", err)
	}
	f := mustNew(t, "partition", faults.Params{"to": []faults.Destination{{Target: "db"}}, "direction": "both"}, peers)
	act := mustPrepare(t, f, a.target)
	if err := act.Apply(t.Context()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := a.dial(b.ip, 9000); err == nil {
		t.Error("during the partition a still reaches b")
	}
	if err := b.dial(a.ip, 9000); err == nil {
		t.Error("during a two-way partition b still reaches a")
	}
	for i := 0; i < 2; i++ {
		if err := act.Revert(t.Context()); err != nil {
			t.Fatalf("Revert %d: %v", i, err)
		}
	}
	if err := a.dial(b.ip, 9000); err != nil {
		t.Errorf("after revert a cannot reach b: %v", err)
	}
	if err := b.dial(a.ip, 9000); err != nil {
		t.Errorf("after revert b cannot reach a: %v", err)
	}
}

func TestContainerFilteredBandwidthUsesU32(t *testing.T) {
	ps := startProbes(t, 2)
	a, b := ps[0], ps[1]
	peers := func(string) []faults.Target { return []faults.Target{b.target} }
	const rate = 8_000_000
	f := mustNew(t, "bandwidth", faults.Params{"rate": uint64(rate),
		"to": []faults.Destination{{Target: "db"}}, "ports": []faults.PortRange{{From: 9000, To: 9000}}}, peers)
	if !kernelHasPrio() {
		f.cfg.classfulRoot = "htb" // see the package comment
	}
	act := mustPrepare(t, f, a.target)
	if err := act.Apply(t.Context()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	matching := a.throughput(b.ip, 9000, 1<<20)
	other := a.throughput(b.ip, 9002, 8<<20)
	t.Logf("to %s:9000 (filtered) %.0f B/s, to :9002 %.0f B/s, cap %d B/s", b.ip, matching, other, rate/8)
	if matching > 1.5*rate/8 {
		t.Errorf("filtered traffic ran at %.0f B/s, above the cap", matching)
	}
	if other < uncappedFloor(rate/8) {
		t.Errorf("unfiltered traffic ran at %.0f B/s, not clearly above the cap of %d B/s (filtered: %.0f B/s)", other, rate/8, matching)
	}
}

func TestContainerRefusalsAndRestart(t *testing.T) {
	ps := startProbes(t, 1)
	a := ps[0]
	h, eth0 := a.netlinkIn()
	bw := mustNew(t, "bandwidth", faults.Params{"rate": uint64(8_000_000)}, nil)

	t.Run("shared namespace warns", func(t *testing.T) {
		warnings := func() []string {
			// A fault of its own each time: one fault's /proc scan answers for 2 s.
			act := mustPrepare(t, mustNew(t, "bandwidth", faults.Params{"rate": uint64(8_000_000)}, nil), a.target)
			defer act.Revert(context.Background()) // releases the namespace; nothing was applied
			return faults.Action(act).(faults.Warner).Warnings()
		}
		if w := warnings(); len(w) != 0 {
			t.Fatalf("warnings before anyone joined the namespace: %v", w)
		}
		j := dockertest.Run(t, a.cli, dockertest.RunOptions{Name: "joiner", Image: dockertest.Image(t, a.cli, dockertest.Sleeper),
			Networks: []string{"container:" + a.id}})
		dockertest.WaitLog(t, a.cli, j.ID, "ready")
		w := warnings()
		if len(w) != 1 || !strings.Contains(w[0], "shares its network namespace with 1 other") {
			t.Errorf("warnings %q, want one naming the one container that shares the namespace", w)
		}
	})

	t.Run("release frees the namespace without reverting", func(t *testing.T) {
		before := openFDs(t)
		act := mustPrepare(t, bw, a.target)
		if openFDs(t) <= before {
			t.Fatal("Prepare holds no namespace handle: the test proves nothing")
		}
		faults.Action(act).(faults.Releaser).Release()
		if after := openFDs(t); after != before {
			t.Errorf("%d open files after Release, %d before Prepare", after, before)
		}
	})

	t.Run("foreign root qdisc", func(t *testing.T) {
		foreign := &netlink.Tbf{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: eth0.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
			Rate: 1 << 20, Limit: 1 << 16, Buffer: 1 << 16}
		if err := h.QdiscAdd(foreign); err != nil {
			t.Fatal(err)
		}
		defer h.QdiscDel(foreign)
		if _, err := bw.Prepare(t.Context(), a.target); err == nil || !strings.Contains(err.Error(), "tbf 1:") {
			t.Errorf("Prepare over a foreign tbf: %v; want a refusal naming it", err)
		}
	})
	t.Run("host network", func(t *testing.T) {
		c := dockertest.Run(t, a.cli, dockertest.RunOptions{Name: "hostnet", Image: dockertest.Image(t, a.cli, dockertest.Sleeper), Networks: []string{"host"}})
		dockertest.WaitLog(t, a.cli, c.ID, "ready")
		tg := containerTarget(dockertest.Wait(t, a.cli, c.ID, "running", dockertest.Running))
		if _, err := bw.Prepare(t.Context(), tg); err == nil || !strings.Contains(err.Error(), "host's") {
			t.Errorf("Prepare on a container with the host's network: %v; want a refusal", err)
		}
	})
	t.Run("missing netem", func(t *testing.T) {
		if Preflight(t.Context(), []string{NeedNetem}) == nil {
			t.Skip("this kernel has sch_netem")
		}
		act := mustPrepare(t, mustNew(t, "delay", faults.Params{"latency": 100 * time.Millisecond}, nil), a.target)
		if err := act.Apply(t.Context()); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "modprobe sch_netem") {
			t.Errorf("Apply(delay) without netem: %v", err)
		}
	})
	t.Run("restarted container needs no revert", func(t *testing.T) {
		act := mustPrepare(t, bw, a.target)
		if err := act.Apply(t.Context()); err != nil {
			t.Fatal(err)
		}
		rec := act.Record()
		ctx, cancel := context.WithTimeout(t.Context(), dockertest.Timeout)
		defer cancel()
		if _, err := a.cli.ContainerRestart(ctx, a.id, client.ContainerRestartOptions{}); err != nil {
			t.Fatal(err)
		}
		dockertest.WaitLog(t, a.cli, a.id, "ready")
		a.refresh()
		if err := act.Revert(t.Context()); !errors.Is(err, faults.ErrTargetGone) {
			t.Errorf("Revert after a restart: %v; want ErrTargetGone", err)
		}
		if _, err := NewReviver().Revive(rec); !errors.Is(err, faults.ErrTargetGone) {
			t.Errorf("Revive after a restart: %v; want ErrTargetGone", err)
		}
	})
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
