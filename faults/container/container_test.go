package container

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/internal/dockertest"
	"github.com/faultline/faultline/internal/testreal"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

var _ Client = (*client.Client)(nil)

func TestNewRejectsBadParameters(t *testing.T) {
	t.Parallel()
	cli := &client.Client{}
	tests := []struct {
		kind string
		p    faults.Params
		want string
	}{
		{"explode", nil, "not a container fault kind"},
		{"kill", faults.Params{"signal": "SIGNOPE"}, "is not a signal"},
		{"kill", faults.Params{"signal": "99"}, "out of range"},
		{"stop", faults.Params{"grace": -time.Second}, "must not be negative"},
		{"restart", faults.Params{"timeout": -time.Second}, "must not be negative"},
		{"resources", faults.Params{}, "needs cpus, memory or both"},
		{"resources", faults.Params{"cpus": 0.001}, "at least 0.01"},
		{"resources", faults.Params{"memory": int64(1024)}, "at least 6MiB"},
	}
	for _, tt := range tests {
		_, err := New(cli, tt.kind, tt.p)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%s, %v) = %v, want an error saying %q", tt.kind, tt.p, err, tt.want)
		}
	}
	if _, err := New(nil, "pause", nil); err == nil {
		t.Error("New without a client succeeded")
	}
}

func TestSqueezeAndRestoreRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		before      Limits
		sq          squeeze
		wantDuring  Limits
		wantRestore []container.Resources
	}{
		{"no limits: quota, not NanoCPUs; restore to the kernel's unlimited",
			Limits{}, squeeze{NanoCPUs: 5e8, Memory: 64 << 20},
			Limits{CPUQuota: 50000, CPUPeriod: 100000, Memory: 64 << 20, MemorySwap: 64 << 20},
			[]container.Resources{{CPUQuota: -1, CPUPeriod: 100000, Memory: unlimitedMemory, MemorySwap: unlimitedMemory}}},
		{"NanoCPUs stay NanoCPUs",
			Limits{NanoCPUs: 15e8, Memory: 128 << 20, MemorySwap: 256 << 20}, squeeze{NanoCPUs: 25e7},
			Limits{NanoCPUs: 25e7, Memory: 128 << 20, MemorySwap: 256 << 20},
			[]container.Resources{{NanoCPUs: 15e8}}},
		{"a quota keeps its period",
			Limits{CPUQuota: 20000, CPUPeriod: 50000}, squeeze{NanoCPUs: 1e8},
			Limits{CPUQuota: 5000, CPUPeriod: 50000},
			[]container.Resources{{CPUQuota: 20000, CPUPeriod: 50000}}},
		{"unlimited swap is lifted first, then recorded",
			Limits{Memory: 256 << 20, MemorySwap: -1}, squeeze{Memory: 32 << 20},
			Limits{Memory: 32 << 20, MemorySwap: 32 << 20},
			[]container.Resources{{Memory: 256 << 20, MemorySwap: unlimitedMemory}, {MemorySwap: -1}}},
	}
	for _, tt := range tests {
		during := squeezed(tt.before, tt.sq)
		if during != tt.wantDuring {
			t.Errorf("%s: during = %+v, want %+v", tt.name, during, tt.wantDuring)
		}
		got := restoreRequests(tt.before, during)
		if len(got) != len(tt.wantRestore) {
			t.Fatalf("%s: %d restore updates, want %d", tt.name, len(got), len(tt.wantRestore))
		}
		for i, g := range got {
			w := tt.wantRestore[i]
			if g.NanoCPUs != w.NanoCPUs || g.CPUQuota != w.CPUQuota || g.CPUPeriod != w.CPUPeriod || g.Memory != w.Memory || g.MemorySwap != w.MemorySwap {
				t.Errorf("%s: restore update %d = %+v, want %+v", tt.name, i, g, w)
			}
		}
		if Equivalent(during, tt.before) {
			t.Errorf("%s: squeezed limits count as the earlier ones", tt.name)
		}
	}
}

// env is one test's engine and image.
type env struct {
	cli *client.Client
	img string
}

func newEnv(t *testing.T) env {
	cli := dockertest.Client(t)
	return env{cli: cli, img: dockertest.Image(t, cli, dockertest.Sleeper)}
}

func (e env) run(t *testing.T, opts dockertest.RunOptions) (faults.Target, container.InspectResponse) {
	t.Helper()
	opts.Image = e.img
	c := dockertest.Run(t, e.cli, opts)
	dockertest.WaitLog(t, e.cli, c.ID, "ready")
	st := dockertest.Wait(t, e.cli, c.ID, "running", dockertest.Running)
	return faults.Target{ID: c.ID, Name: c.Name, State: "running", PID: st.State.Pid}, st
}

func prepare(t *testing.T, cli Client, kind string, p faults.Params, tg faults.Target) faults.Action {
	t.Helper()
	f, err := New(cli, kind, p)
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.Prepare(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestStateFaults(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	exited := func(code int) func(container.InspectResponse) bool {
		return func(c container.InspectResponse) bool { return dockertest.Exited(c) && c.State.ExitCode == code }
	}
	tests := []struct {
		name   string
		kind   string
		p      faults.Params
		cmd    []string
		during func(container.InspectResponse) bool
		// log the container must have printed during the fault
		log string
		// whether the container runs again after the revert
		runsAfter bool
	}{
		{name: "kill SIGKILL restores", kind: "kill", p: faults.Params{"signal": "SIGKILL", "restore": true}, during: exited(137), runsAfter: true},
		{name: "kill SIGTERM without restore", kind: "kill", p: faults.Params{"signal": "TERM", "restore": false}, during: exited(0), log: "signal SIGTERM"},
		{name: "kill SIGUSR1 keeps it running", kind: "kill", p: faults.Params{"signal": "10", "restore": true}, during: dockertest.Running, log: "signal SIGUSR1", runsAfter: true},
		{name: "stop past its grace", kind: "stop", p: faults.Params{"grace": time.Second}, cmd: []string{"-ignore-term"}, during: exited(137), log: "signal SIGTERM", runsAfter: true},
		{name: "stop gracefully", kind: "stop", p: faults.Params{"grace": 5 * time.Second}, during: exited(0), runsAfter: true},
		{name: "pause", kind: "pause", during: dockertest.Paused, runsAfter: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg, before := e.run(t, dockertest.RunOptions{Name: tt.kind, Cmd: tt.cmd})
			a := prepare(t, e.cli, tt.kind, tt.p, tg)
			if err := a.Apply(ctx); err != nil {
				t.Fatal(err)
			}
			dockertest.Wait(t, e.cli, tg.ID, "faulted", tt.during)
			if tt.log != "" {
				dockertest.WaitLog(t, e.cli, tg.ID, tt.log)
			}
			for i := range 2 { // the second revert proves idempotence
				if err := a.Revert(ctx); err != nil {
					t.Fatalf("revert %d: %v", i+1, err)
				}
			}
			after := dockertest.Inspect(t, e.cli, tg.ID)
			if tt.runsAfter {
				// The engine's record of a container paused moments ago can read paused
				// again for a moment after the unpause (see unpause): wait for it.
				after = dockertest.Wait(t, e.cli, tg.ID, "running after the revert", dockertest.Running)
			} else if after.State.Running {
				t.Fatalf("after a revert that restores nothing: running")
			}
			if after.RestartCount != before.RestartCount {
				t.Errorf("restart count %d -> %d; faultline's own start must not count as a policy restart", before.RestartCount, after.RestartCount)
			}
		})
	}

	t.Run("restart", func(t *testing.T) {
		t.Parallel()
		tg, before := e.run(t, dockertest.RunOptions{Name: "restart"})
		a := prepare(t, e.cli, "restart", faults.Params{"timeout": 2 * time.Second}, tg)
		if err := a.Apply(ctx); err != nil {
			t.Fatal(err)
		}
		after := dockertest.Wait(t, e.cli, tg.ID, "running again", dockertest.Running)
		if after.State.StartedAt == before.State.StartedAt || after.State.Pid == before.State.Pid {
			t.Errorf("StartedAt %s -> %s, pid %d -> %d: not restarted", before.State.StartedAt, after.State.StartedAt, before.State.Pid, after.State.Pid)
		}
		if out := dockertest.Logs(t, e.cli, tg.ID); !strings.Contains(out, "signal SIGTERM") {
			t.Errorf("restart did not stop it with SIGTERM first; output %q", out)
		}
		if err := a.Revert(ctx); err != nil {
			t.Errorf("revert of an instant fault: %v", err)
		}
		if again := dockertest.Inspect(t, e.cli, tg.ID); again.State.StartedAt != after.State.StartedAt {
			t.Errorf("revert of restart touched the container")
		}
	})

	t.Run("cancelled context still reverts", func(t *testing.T) {
		t.Parallel()
		tg, _ := e.run(t, dockertest.RunOptions{Name: "cancel"})
		runCtx, cancel := context.WithCancel(ctx)
		a := prepare(t, e.cli, "pause", nil, tg)
		if err := a.Apply(runCtx); err != nil {
			t.Fatal(err)
		}
		dockertest.Wait(t, e.cli, tg.ID, "paused", dockertest.Paused)
		cancel() // Ctrl-C mid-fault
		if err := a.Revert(runCtx); err != nil {
			t.Fatalf("revert on a cancelled context: %v", err)
		}
		dockertest.Wait(t, e.cli, tg.ID, "running and unpaused after the revert", dockertest.Running)
	})

	t.Run("container removed mid-fault", func(t *testing.T) {
		t.Parallel()
		for _, kind := range []string{"pause", "stop", "resources"} {
			tg, _ := e.run(t, dockertest.RunOptions{Name: "gone-" + kind})
			a := prepare(t, e.cli, kind, faults.Params{"memory": int64(32 << 20), "grace": time.Duration(0)}, tg)
			if err := a.Apply(ctx); err != nil {
				t.Fatal(err)
			}
			dockertest.Remove(t, e.cli, tg.ID)
			err := a.Revert(ctx)
			if !errors.Is(err, faults.ErrTargetGone) {
				t.Errorf("%s: revert after removal = %v, want ErrTargetGone", kind, err)
			}
		}
	})

	t.Run("revive from a record", func(t *testing.T) {
		t.Parallel()
		tg, _ := e.run(t, dockertest.RunOptions{Name: "revive"})
		a := prepare(t, e.cli, "stop", faults.Params{"grace": time.Duration(0)}, tg)
		// As the journal holds it when the run dies during Apply: marked applying.
		rec := a.Record()
		rec.Phase = faults.PhaseApplying
		raw, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Apply(ctx); err != nil {
			t.Fatal(err)
		}
		dockertest.Wait(t, e.cli, tg.ID, "stopped", dockertest.NotRunning)
		rec = faults.Record{}
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		revived, err := NewReviver(e.cli).Revive(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := revived.Revert(ctx); err != nil {
			t.Fatal(err)
		}
		dockertest.Wait(t, e.cli, tg.ID, "running", dockertest.Running)
	})
}

func TestPrepareRefuses(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tg, _ := e.run(t, dockertest.RunOptions{Name: "refuse"})
	if _, err := e.cli.ContainerPause(ctx, tg.ID, client.ContainerPauseOptions{}); err != nil {
		t.Fatal(err)
	}
	f, _ := New(e.cli, "pause", nil)
	if _, err := f.Prepare(ctx, tg); err == nil || !strings.Contains(err.Error(), "already paused") {
		t.Errorf("pause of a paused container: %v, want a refusal", err)
	}
	if _, err := e.cli.ContainerUnpause(ctx, tg.ID, client.ContainerUnpauseOptions{}); err != nil {
		t.Fatal(err)
	}
	dockertest.Remove(t, e.cli, tg.ID)
	if _, err := f.Prepare(ctx, tg); !errors.Is(err, faults.ErrTargetGone) {
		t.Errorf("prepare on a removed container: %v, want ErrTargetGone", err)
	}
}

// cgroupLimits reads the limits the kernel enforces for the container's init process.
func cgroupLimits(t *testing.T, pid int) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "cgroup"))
	if err != nil {
		testreal.Missing(t, "cannot read the container's cgroup (engine on another machine?): %v", err)
	}
	out := map[string]string{}
	read := func(key, path string) {
		if b, err := os.ReadFile(path); err == nil {
			out[key] = strings.TrimSpace(string(b))
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		ctrls, path := parts[1], parts[2]
		switch {
		case ctrls == "": // cgroup v2
			dir := filepath.Join("/sys/fs/cgroup", path)
			read("memory.max", filepath.Join(dir, "memory.max"))
			read("memory.swap.max", filepath.Join(dir, "memory.swap.max"))
			read("cpu.max", filepath.Join(dir, "cpu.max"))
		case ctrls == "memory":
			dir := filepath.Join("/sys/fs/cgroup/memory", path)
			read("memory.limit_in_bytes", filepath.Join(dir, "memory.limit_in_bytes"))
			read("memory.memsw.limit_in_bytes", filepath.Join(dir, "memory.memsw.limit_in_bytes"))
		case strings.Contains(","+ctrls+",", ",cpu,"):
			dir := filepath.Join("/sys/fs/cgroup", ctrls, path)
			read("cpu.cfs_quota_us", filepath.Join(dir, "cpu.cfs_quota_us"))
			read("cpu.cfs_period_us", filepath.Join(dir, "cpu.cfs_period_us"))
		}
	}
	if len(out) == 0 {
		testreal.Missing(t, "no memory or cpu cgroup files found for pid %d", pid)
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestResourcesRestoresExactly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		initial container.Resources
		p       faults.Params
		// exact: HostConfig's limits come back identical; otherwise equivalent, with the
		// kernel's own limits identical.
		exact bool
	}{
		{"no limits before", container.Resources{}, faults.Params{"cpus": 0.25, "memory": int64(32 << 20)}, false},
		{"NanoCPUs and memory before", container.Resources{NanoCPUs: 15e8, Memory: 128 << 20}, faults.Params{"cpus": 0.25, "memory": int64(32 << 20)}, true},
		{"CFS quota and unlimited swap before", container.Resources{CPUQuota: 150000, CPUPeriod: 100000, Memory: 256 << 20, MemorySwap: -1}, faults.Params{"cpus": 0.5, "memory": int64(32 << 20)}, true},
		{"only memory, none before", container.Resources{}, faults.Params{"memory": int64(48 << 20)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg, before := e.run(t, dockertest.RunOptions{Name: "resources", Resources: tt.initial})
			kernelBefore := cgroupLimits(t, before.State.Pid)
			a := prepare(t, e.cli, "resources", tt.p, tg)
			if err := a.Apply(ctx); err != nil {
				t.Fatal(err)
			}
			during := dockertest.Inspect(t, e.cli, tg.ID)
			lb, ld := limitsOf(before.HostConfig.Resources), limitsOf(during.HostConfig.Resources)
			if m, ok := tt.p["memory"].(int64); ok && ld.Memory != m {
				t.Errorf("during: memory %d, want %d", ld.Memory, m)
			}
			if c, ok := tt.p["cpus"].(float64); ok {
				got := float64(ld.NanoCPUs) / 1e9
				if ld.CPUQuota > 0 {
					got = float64(ld.CPUQuota) / float64(ld.CPUPeriod)
				}
				if got != c {
					t.Errorf("during: %v cpus (%+v), want %v", got, ld, c)
				}
			}
			kernelDuring := cgroupLimits(t, before.State.Pid)
			if equalMaps(kernelBefore, kernelDuring) {
				t.Errorf("kernel limits unchanged during the fault: %v", kernelDuring)
			}

			for i := range 2 {
				if err := a.Revert(ctx); err != nil {
					t.Fatalf("revert %d: %v", i+1, err)
				}
			}
			after := dockertest.Inspect(t, e.cli, tg.ID)
			la := limitsOf(after.HostConfig.Resources)
			if tt.exact && la != lb {
				t.Errorf("limits before %+v, after %+v: not restored exactly", lb, la)
			}
			if !Equivalent(la, lb) {
				t.Errorf("limits before %+v, after %+v: not equivalent", lb, la)
			}
			if kernelAfter := cgroupLimits(t, before.State.Pid); !equalMaps(kernelBefore, kernelAfter) {
				t.Errorf("kernel limits before %v, after %v", kernelBefore, kernelAfter)
			}
			t.Logf("HostConfig before %+v during %+v after %+v; kernel before %v during %v", lb, ld, la, kernelBefore, kernelDuring)

			// The restored limits must hold across a restart too: Docker re-applies HostConfig.
			if _, err := e.cli.ContainerRestart(ctx, tg.ID, client.ContainerRestartOptions{Timeout: new(int)}); err != nil {
				t.Fatal(err)
			}
			restarted := dockertest.Wait(t, e.cli, tg.ID, "running", dockertest.Running)
			if k := cgroupLimits(t, restarted.State.Pid); !equalMaps(kernelBefore, k) {
				t.Errorf("kernel limits after a restart %v, want %v", k, kernelBefore)
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestApplyAllAndRevertAll(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var actions []faults.Action
	var ids []string
	for range 6 {
		tg, _ := e.run(t, dockertest.RunOptions{Name: "many"})
		actions = append(actions, prepare(t, e.cli, "pause", nil, tg))
		ids = append(ids, tg.ID)
	}
	for i, err := range ApplyAll(ctx, actions, 3) {
		if err != nil {
			t.Errorf("apply %d: %v", i, err)
		}
	}
	for _, id := range ids {
		dockertest.Wait(t, e.cli, id, "paused", dockertest.Paused)
	}
	for i, err := range RevertAll(ctx, actions, 3) {
		if err != nil {
			t.Errorf("revert %d: %v", i, err)
		}
	}
	for _, id := range ids {
		dockertest.Wait(t, e.cli, id, "running after RevertAll", dockertest.Running)
	}
}
