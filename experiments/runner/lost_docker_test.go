package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/experiments/journal"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/faults/network"
	"github.com/faultline/faultline/internal/dockertest"
	"github.com/faultline/faultline/internal/testreal"
	"github.com/faultline/faultline/result"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The tests in this file undo a fault by hand while the runner holds it, on the real
// Docker Engine and the host kernel, and look at what the run reports.

// lostPlan is one fault on container c, held for hold, on the 1s step of dockerPlan.
func lostPlan(t *testing.T, cli *client.Client, c dockertest.Container, spec *experiments.FaultSpec) *experiments.Plan {
	return dockerPlan(map[string][]faults.Target{"a": {targetOf(t, cli, c, "a")}}, spec)
}

func runLost(t *testing.T, plan *experiments.Plan, ff FaultFactory, progress func(Update)) *result.Result {
	t.Helper()
	j, err := journal.Create(t.TempDir(), "lost", "docker")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Config{Plan: plan, Faults: ff, Journal: j, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("journal left entries after the run: %v", err)
	}
	return res
}

// handOnce runs undo at the first injection event that is not a reapplication, and
// records when it returned.
type handOnce struct {
	once sync.Once
	mu   sync.Mutex
	at   time.Time
}

func (h *handOnce) progress(t *testing.T, undo func(ev *result.Event) error) func(Update) {
	return func(u Update) {
		if u.Event == nil || u.Event.Type != result.EventInject || u.Event.Reapply || u.Event.Error != "" {
			return
		}
		h.once.Do(func() {
			if err := undo(u.Event); err != nil {
				t.Errorf("undoing the fault by hand: %v", err)
				return
			}
			h.mu.Lock()
			h.at = time.Now()
			h.mu.Unlock()
		})
	}
}

func (h *handOnce) when(t *testing.T) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.at.IsZero() {
		t.Fatal("the fault was never undone by hand: the test proves nothing")
	}
	return h.at
}

// wantLostSoonAfter checks that the run reports one lost fault, found within two
// steps of the moment it was undone by hand.
func wantLostSoonAfter(t *testing.T, res *result.Result, undoneAt time.Time, found string) result.LostFault {
	t.Helper()
	if len(res.LostFaults) != 1 {
		t.Fatalf("lost faults %+v (status %s: %s), want one", res.LostFaults, res.Status, res.Reason)
	}
	l := res.LostFaults[0]
	step := time.Duration(res.Experiment.StepSeconds * float64(time.Second))
	if d := l.DetectedAt.Sub(undoneAt); d < 0 || d > 2*step {
		t.Errorf("lost fault detected %s after it was undone by hand, want within two steps (%s)", d, 2*step)
	}
	if l.LastSeenAt.After(undoneAt) || !strings.Contains(l.Found, found) {
		t.Errorf("last seen %s (undone at %s), found %q; want seen before and %q", l.LastSeenAt, undoneAt, l.Found, found)
	}
	t.Logf("lost: detected %s after the removal; found %s", l.DetectedAt.Sub(undoneAt).Round(time.Millisecond), l.Found)
	return l
}

func TestRealPauseUnpausedByHandIsLost(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli, dockertest.Sleeper)
	c := dockertest.Run(t, cli, dockertest.RunOptions{Name: "lost-pause", Image: img})
	dockertest.WaitLog(t, cli, c.ID, "ready")
	pause := &experiments.FaultSpec{Kind: "pause", Name: "freeze", Target: "a", Duration: 5 * time.Second, Params: faults.Params{}}
	var hand handOnce
	res := runLost(t, lostPlan(t, cli, c, pause), containerFaults(cli), hand.progress(t, func(ev *result.Event) error {
		ctx, cancel := context.WithTimeout(context.Background(), dockertest.Timeout)
		defer cancel()
		_, err := cli.ContainerUnpause(ctx, ev.Target.ID, client.ContainerUnpauseOptions{}) // `docker unpause` by hand
		return err
	}))
	wantLostSoonAfter(t, res, hand.when(t), "found running")
	if res.Status != result.StatusFailed || res.ExitCode != 1 || !strings.Contains(res.Reason, "not applied again") {
		t.Fatalf("status %s exit %d reason %q; want failed, 1, naming the lost fault", res.Status, res.ExitCode, res.Reason)
	}
	if in := dockertest.Inspect(t, cli, c.ID); !dockertest.Running(in) || dockertest.Paused(in) {
		t.Fatal("not running unpaused after the run")
	}
}

// TestRealStopAndSqueezeUndoneByHandAreLost: a stopped target started again by hand
// (`docker start`) and a squeezed one given its limits back (`docker update`) are
// found within two steps, and fail the run as lost faults.
func TestRealStopAndSqueezeUndoneByHandAreLost(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli, dockertest.Sleeper)
	for _, tc := range []struct {
		name  string
		spec  *experiments.FaultSpec
		undo  func(ctx context.Context, id string) error
		found string
	}{
		{"stop", &experiments.FaultSpec{Kind: "stop", Name: "down", Target: "a", Duration: 6 * time.Second, Params: faults.Params{}},
			func(ctx context.Context, id string) error {
				_, err := cli.ContainerStart(ctx, id, client.ContainerStartOptions{})
				return err
			}, "found running"},
		{"resources", &experiments.FaultSpec{Kind: "resources", Name: "squeeze", Target: "a", Duration: 6 * time.Second, Params: faults.Params{"cpus": 0.5}},
			func(ctx context.Context, id string) error {
				// `docker update --cpu-quota -1`: no CPU limit.
				_, err := cli.ContainerUpdate(ctx, id, client.ContainerUpdateOptions{Resources: &container.Resources{CPUQuota: -1}})
				return err
			}, "cpus unlimited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dockertest.Run(t, cli, dockertest.RunOptions{Name: "lost-" + tc.name, Image: img})
			dockertest.WaitLog(t, cli, c.ID, "ready")
			var hand handOnce
			res := runLost(t, lostPlan(t, cli, c, tc.spec), containerFaults(cli), hand.progress(t, func(ev *result.Event) error {
				ctx, cancel := context.WithTimeout(context.Background(), dockertest.Timeout)
				defer cancel()
				return tc.undo(ctx, ev.Target.ID)
			}))
			wantLostSoonAfter(t, res, hand.when(t), tc.found)
			if res.Status != result.StatusFailed || res.ExitCode != 1 || !strings.Contains(res.Reason, "not applied again") {
				t.Fatalf("status %s exit %d reason %q; want failed, 1, naming the lost fault", res.Status, res.ExitCode, res.Reason)
			}
			if in := dockertest.Inspect(t, cli, c.ID); !dockertest.Running(in) || (in.HostConfig != nil && (in.HostConfig.NanoCPUs != 0 || in.HostConfig.CPUQuota > 0)) {
				t.Fatal("not running without limits after the run")
			}
		})
	}
}

// nsHandle opens netlink in the network namespace of a running container, for the
// test's own hand. It may run on the runner's goroutines: it reports, never t.Fatal.
func nsHandle(t *testing.T, cli *client.Client, id string) (*netlink.Handle, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dockertest.Timeout)
	defer cancel()
	in, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, err
	}
	ns, err := netns.GetFromPid(in.Container.State.Pid)
	if err != nil {
		return nil, err
	}
	defer ns.Close() // the handle keeps its own reference to the namespace
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	t.Cleanup(h.Close)
	return h, nil
}

// rootTbf returns the tbf at the root of eth0 of container id, or nil.
func rootTbf(t *testing.T, cli *client.Client, id string) (netlink.Qdisc, *netlink.Handle, error) {
	h, err := nsHandle(t, cli, id)
	if err != nil {
		return nil, nil, err
	}
	l, err := h.LinkByName("eth0")
	if err != nil {
		return nil, nil, err
	}
	qs, err := h.QdiscList(l)
	if err != nil {
		return nil, nil, err
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT && q.Type() == "tbf" {
			return q, h, nil
		}
	}
	return nil, h, nil
}

func needNetworkPrivileges(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testreal.Missing(t, "network faults need root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to enter container namespaces")
	}
}

func networkFaults(cli *client.Client) FaultFactory {
	return func(spec *experiments.FaultSpec) (faults.Fault, error) {
		return network.New(spec.Kind, spec.Params, nil, network.WithEngine(cli))
	}
}

// netContainer runs a sleeper on a private network the test made.
func netContainer(t *testing.T, cli *client.Client, name string) dockertest.Container {
	t.Helper()
	img := dockertest.Image(t, cli, dockertest.Sleeper)
	nw := dockertest.Network(t, cli, dockertest.NetworkOptions{Internal: true})
	c := dockertest.Run(t, cli, dockertest.RunOptions{Name: name, Image: img, Networks: []string{nw.Name}})
	dockertest.WaitLog(t, cli, c.ID, "ready")
	return c
}

func TestRealNetworkFaultsDeletedByHandAreLost(t *testing.T) {
	t.Parallel()
	needNetworkPrivileges(t)
	cli := dockertest.Client(t)
	tests := []struct {
		name  string
		spec  *experiments.FaultSpec
		undo  func(t *testing.T, cli *client.Client, id string) error
		found string
	}{
		{"tbf qdisc", &experiments.FaultSpec{Kind: "bandwidth", Name: "cap", Target: "a", Duration: 5 * time.Second,
			Params: faults.Params{"rate": uint64(8_000_000)}},
			func(t *testing.T, cli *client.Client, id string) error {
				q, h, err := rootTbf(t, cli, id)
				if err != nil || q == nil {
					return fmt.Errorf("no tbf at the root of eth0 while the fault holds (%v)", err)
				}
				return h.QdiscDel(q) // `tc qdisc del dev eth0 root` by hand
			}, "found absent"},
		{"blackhole route", &experiments.FaultSpec{Kind: "partition", Name: "cut", Target: "a", Duration: 5 * time.Second,
			Params: faults.Params{"to": []faults.Destination{{CIDR: "10.98.0.0/16"}}, "direction": "egress"}},
			func(t *testing.T, cli *client.Client, id string) error {
				h, err := nsHandle(t, cli, id)
				if err != nil {
					return err
				}
				routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
				if err != nil {
					return err
				}
				for _, r := range routes {
					if r.Dst != nil && r.Dst.String() == "10.98.0.0/16" && r.Type == unix.RTN_BLACKHOLE {
						return h.RouteDel(&r) // `ip route del blackhole 10.98.0.0/16` by hand
					}
				}
				return errors.New("no blackhole route while the fault holds")
			}, "10.98.0.0/16: found absent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := netContainer(t, cli, "lost-"+tc.spec.Kind)
			var hand handOnce
			res := runLost(t, lostPlan(t, cli, c, tc.spec), networkFaults(cli), hand.progress(t, func(*result.Event) error { return tc.undo(t, cli, c.ID) }))
			wantLostSoonAfter(t, res, hand.when(t), tc.found)
			if res.ExitCode != 1 || res.Status != result.StatusFailed {
				t.Fatalf("status %s exit %d (%s); want failed, 1", res.Status, res.ExitCode, res.Reason)
			}
			for _, ev := range res.Events {
				if ev.Type == result.EventRevert && ev.Error != "" {
					t.Errorf("revert of what was left: %s", ev.Error)
				}
			}
		})
	}
}

// TestRealRestartMidFaultIsReapplied: a container restarted during a bandwidth cap has
// a new network namespace without the cap. The run reports the loss; with reapply the
// cap is prepared and applied in the new namespace, reads back, is seen there by hand,
// and the final revert leaves the container clean.
func TestRealRestartMidFaultIsReapplied(t *testing.T) {
	t.Parallel()
	needNetworkPrivileges(t)
	cli := dockertest.Client(t)
	c := netContainer(t, cli, "lost-restart")
	spec := &experiments.FaultSpec{Kind: "bandwidth", Name: "cap", Target: "a", Duration: 8 * time.Second,
		Params: faults.Params{"rate": uint64(8_000_000)}, Reapply: true}
	plan := lostPlan(t, cli, c, spec)
	planned := plan.Targets["a"][0]
	var hand handOnce
	var mu sync.Mutex
	var inNewNamespace netlink.Qdisc
	restart := hand.progress(t, func(ev *result.Event) error {
		ctx, cancel := context.WithTimeout(context.Background(), dockertest.Timeout)
		defer cancel()
		zero := 0
		_, err := cli.ContainerRestart(ctx, ev.Target.ID, client.ContainerRestartOptions{Timeout: &zero})
		return err
	})
	res := runLost(t, plan, networkFaults(cli), func(u Update) {
		restart(u)
		if u.Event != nil && u.Event.Reapply && u.Event.Error == "" {
			q, _, err := rootTbf(t, cli, c.ID) // the new namespace, while the fault holds
			if err != nil {
				t.Errorf("looking into the new namespace: %v", err)
			}
			mu.Lock()
			inNewNamespace = q
			mu.Unlock()
		}
	})
	if pid := dockertest.Inspect(t, cli, c.ID).State.Pid; pid == planned.PID {
		t.Fatal("the restart kept the PID: the test proves nothing")
	}
	l := wantLostSoonAfter(t, res, hand.when(t), "network namespace")
	if !l.Reapplied() || l.ReappliedAt.Sub(l.DetectedAt) > 2*time.Second {
		t.Fatalf("lost fault %+v; want it applied again soon after it was found", l)
	}
	reapplied := false
	for _, ev := range res.Events {
		if ev.Reapply {
			reapplied = ev.Error == "" && ev.Verification != nil && ev.Verification.OK() && strings.Contains(verificationText(ev.Verification), "tbf rate 8mbit")
		}
	}
	mu.Lock()
	seen := inNewNamespace
	mu.Unlock()
	if !reapplied || seen == nil {
		t.Fatalf("reapplication read back %v, seen by hand in the new namespace %v; want both", reapplied, seen)
	}
	if res.ExitCode != 0 || res.Status != result.StatusPassed {
		t.Fatalf("status %s exit %d (%s); want passed: the fault was applied again", res.Status, res.ExitCode, res.Reason)
	}
	if q, _, err := rootTbf(t, cli, c.ID); err != nil || q != nil {
		t.Fatalf("after the run eth0 still has %v at its root (%v)", q, err)
	}
}

func verificationText(v *result.Verification) string {
	var b strings.Builder
	for _, c := range v.Checks {
		b.WriteString(c.What + ": " + c.Found + "; ")
	}
	return b.String()
}

// TestRealKillThenBandwidthEntersTheNewNamespace: a network fault planned after a kill
// with restore of the same container finds the namespace of the process started
// again, not the stale PID resolved before the run: it reads back as injected there,
// the run passes, and nothing is left.
func TestRealKillThenBandwidthEntersTheNewNamespace(t *testing.T) {
	t.Parallel()
	needNetworkPrivileges(t)
	cli := dockertest.Client(t)
	c := netContainer(t, cli, "kill-then-cap")
	kill := &experiments.FaultSpec{Kind: "kill", Name: "crash", Target: "a", Duration: time.Second,
		Params: faults.Params{"signal": "SIGKILL", "restore": true}}
	capped := &experiments.FaultSpec{Kind: "bandwidth", Name: "cap", Target: "a", Start: 2 * time.Second, Duration: 3 * time.Second,
		Params: faults.Params{"rate": uint64(8_000_000)}}
	planned := targetOf(t, cli, c, "a")
	plan := dockerPlan(map[string][]faults.Target{"a": {planned}}, kill, capped)
	containers, nets := containerFaults(cli), networkFaults(cli)
	ff := func(spec *experiments.FaultSpec) (faults.Fault, error) {
		if spec.Kind == "kill" {
			return containers(spec)
		}
		return nets(spec)
	}
	j, err := journal.Create(t.TempDir(), "kill-then-cap", "docker")
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	res, err := Run(context.Background(), Config{Plan: plan, Faults: ff, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	if pid := dockertest.Inspect(t, cli, c.ID).State.Pid; pid == planned.PID {
		t.Fatal("the kill with restore kept the PID: the test proves nothing")
	}
	if res.ExitCode != 0 || res.Status != result.StatusPassed || len(res.Warnings) != 0 {
		t.Fatalf("status %s exit %d (%s), warnings %v; want passed without a warning", res.Status, res.ExitCode, res.Reason, res.Warnings)
	}
	injected := false
	for _, ev := range res.Events {
		if ev.Error != "" {
			t.Errorf("%s %s: %s", ev.Type, ev.Fault, ev.Error)
		}
		if ev.Type == result.EventInject && ev.Fault == "cap" {
			injected = ev.Verification != nil && ev.Verification.OK() && strings.Contains(verificationText(ev.Verification), "tbf rate 8mbit")
		}
	}
	if !injected {
		t.Fatalf("the cap did not read back as injected in the new namespace: %+v", res.Events)
	}
	if q, _, err := rootTbf(t, cli, c.ID); err != nil || q != nil {
		t.Fatalf("after the run eth0 still has %v at its root (%v)", q, err)
	}
}
