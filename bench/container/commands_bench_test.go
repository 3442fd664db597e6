package containerbench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/dockertest"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"
)

// commandSize is how many containers BenchmarkCommands hits at once.
const commandSize = 50

// commandKind is one fault, as a command of every tool.
type commandKind struct {
	name string
	// kind is faultline's fault kind; name when empty.
	kind string
	// event is the engine event that marks the fault done on one container.
	event events.Action
	// hcl is the fault block of faultline's experiment (target and name added).
	hcl string
	// cli is the docker CLI call given every id (a shell script when it takes more
	// than one); pumba Pumba's given every name (nil: Pumba has no such command).
	cli   func(ids []string) []string
	pumba func(names []string) []string
	// dead: also time until every container's main process is dead.
	dead bool
}

var commandKinds = []commandKind{
	{name: "kill", event: events.ActionDie, dead: true,
		hcl:   `signal = "SIGKILL"` + "\n" + `restore = false`,
		cli:   func(ids []string) []string { return append([]string{"kill", "--signal", "SIGKILL"}, ids...) },
		pumba: func(names []string) []string { return append([]string{"kill", "--signal", "SIGKILL"}, names...) }},
	// A kill restored at once: the run ends once every container runs again.
	{name: "kill-restore", kind: "kill", event: events.ActionStart, dead: true,
		hcl: `signal = "SIGKILL"` + "\n" + `restore = true`,
		cli: func(ids []string) []string {
			all := strings.Join(ids, " ")
			return []string{"-c", "docker kill --signal SIGKILL " + all + " >/dev/null && docker start " + all + " >/dev/null"}
		}},
	{name: "pause", event: events.ActionPause,
		hcl:   `duration = "1s"`,
		cli:   func(ids []string) []string { return append([]string{"pause"}, ids...) },
		pumba: func(names []string) []string { return append([]string{"pause", "--duration", "1s"}, names...) }},
	// Pumba stops with a SIGTERM and, after the grace, a SIGKILL of its own, so the
	// engine never logs a "stop" for it: the process's death ("die") is the mark.
	{name: "stop", event: events.ActionDie,
		hcl:   `duration = "1s"` + "\n" + `grace = "10s"`,
		cli:   func(ids []string) []string { return append([]string{"stop", "--time", "10"}, ids...) },
		pumba: func(names []string) []string { return append([]string{"stop", "--time", "10"}, names...) }},
	{name: "restart", event: events.ActionRestart,
		hcl:   `timeout = "10s"`,
		cli:   func(ids []string) []string { return append([]string{"restart", "--time", "10"}, ids...) },
		pumba: func(names []string) []string { return append([]string{"restart", "--timeout", "10s"}, names...) }},
}

// BenchmarkCommands runs whole commands against 50 containers, side by side in each
// round: `faultline run` of an experiment with one fault on all of them (no baseline,
// no recovery), one docker CLI call given every id, and Pumba when the environment
// variable PUMBA names its binary. Each is timed from the command's start to the
// engine's 50th event of the fault (die, pause, stop, restart: read from the engine's
// event stream, with the engine's own timestamps), for kill also until every
// container's main process is dead (polled in /proc), and to the command's exit.
// Every round prints one line per measure ("round kill faultline event-ms 352.1"),
// which run.sh turns into ranges; the reported metrics are the means.
func BenchmarkCommands(b *testing.B) {
	cli := dockertest.Client(b)
	if _, err := exec.LookPath("docker"); err != nil {
		b.Skip("docker CLI not installed: nothing to compare against")
	}
	if os.Geteuid() != 0 {
		b.Skip("reading every container's process in /proc needs root")
	}
	pumba := os.Getenv("PUMBA")
	if pumba != "" {
		if _, err := exec.LookPath(pumba); err != nil {
			b.Fatalf("PUMBA=%s: %v", pumba, err)
		}
	}
	dir := b.TempDir()
	faultline := filepath.Join(dir, "faultline")
	build := exec.Command("go", "build", "-o", faultline, "github.com/faultline/faultline")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build faultline: %v\n%s", err, out)
	}
	img := dockertest.Image(b, cli, dockertest.Sleeper)
	group := strings.TrimPrefix(dockertest.UniqueName(b, "cmd"), dockertest.Prefix)
	var ids, names []string
	for range commandSize {
		c := dockertest.Run(b, cli, dockertest.RunOptions{Name: group, Image: img, Labels: map[string]string{"faultline.bench": group}})
		ids, names = append(ids, c.ID), append(names, c.Name)
	}
	h := &harness{b: b, cli: cli, ids: ids, names: names, dir: dir, faultline: faultline, pumba: pumba, group: group}
	h.reset()
	for _, k := range commandKinds {
		b.Run(k.name, func(b *testing.B) {
			h.b = b
			sums := map[string]float64{}
			for b.Loop() {
				b.StopTimer()
				h.round++
				for _, w := range h.ways(k) {
					got := h.measure(k, w)
					for _, m := range slices.Sorted(maps.Keys(got)) {
						b.Logf("round %s %s %s %.1f", k.name, w, m, got[m])
						sums[w+"-"+m] += got[m]
					}
					h.reset()
				}
				b.StartTimer()
			}
			for m, v := range sums {
				b.ReportMetric(v/float64(b.N), m)
			}
		})
	}
}

type harness struct {
	b                *testing.B
	cli              *client.Client
	ids, names       []string
	dir              string
	faultline, pumba string
	group            string
	round            int
}

func (h *harness) ways(k commandKind) []string {
	w := []string{"faultline", "docker-cli-all"}
	if h.pumba != "" && k.pumba != nil {
		w = append(w, "pumba")
	}
	return w
}

// command is what way w runs for kind k.
func (h *harness) command(k commandKind, w string) *exec.Cmd {
	switch w {
	case "faultline":
		file := filepath.Join(h.dir, k.name+".hcl")
		exp := fmt.Sprintf(`experiment "bench-%s" {
  baseline    = "0s"
  recovery    = "0s"
  step        = "1s"
  max_targets = %d
}

target "all" {
  labels = { "faultline.bench" = %q }
  pick   = "all"
}

fault %q "f" {
  target = target.all
  %s
}
`, k.name, len(h.ids), h.group, cmp.Or(k.kind, k.name), strings.ReplaceAll(k.hcl, "\n", "\n  "))
		if err := os.WriteFile(file, []byte(exp), 0o644); err != nil {
			h.b.Fatal(err)
		}
		out := filepath.Join(h.dir, fmt.Sprintf("out-%s-%d", k.name, h.round))
		return exec.Command(h.faultline, "run", "--state-dir", filepath.Join(h.dir, "state"), "--out", out, file)
	case "docker-cli-all":
		args := k.cli(h.ids)
		if args[0] == "-c" {
			return exec.Command("sh", args...)
		}
		return exec.Command("docker", args...)
	case "pumba":
		return exec.Command(h.pumba, append([]string{"--log-level", "error"}, k.pumba(h.names)...)...)
	}
	h.b.Fatalf("unknown way %q", w)
	return nil
}

// measure runs one command and returns its times in milliseconds from its start.
func (h *harness) measure(k commandKind, w string) map[string]float64 {
	b := h.b
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pids := h.pids(ctx)
	f := client.Filters{}.Add("type", "container").Add("event", string(k.event)).Add("container", h.ids...)
	evs := h.cli.Events(ctx, client.EventsListOptions{Filters: f})
	// Events returns once the engine has answered: the subscription is live.
	cmd := h.command(k, w)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out

	var dead time.Time
	deadDone := make(chan struct{})
	if k.dead {
		fds := pidfds(b, pids)
		defer closeAll(fds)
		go func() { defer close(deadDone); dead = waitDead(ctx, fds) }()
	} else {
		close(deadDone)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatalf("%s: %v", w, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var last time.Time
	seen := map[string]bool{}
	var exitAt time.Time
	var exitErr error
	for len(seen) < len(h.ids) || exitAt.IsZero() {
		select {
		case m := <-evs.Messages:
			if !seen[m.Actor.ID] {
				seen[m.Actor.ID] = true
				if t := time.Unix(0, m.TimeNano); t.After(last) {
					last = t
				}
			}
		case err := <-evs.Err:
			b.Fatalf("%s %s: engine events: %v", k.name, w, err)
		case exitErr = <-exited:
			exitAt = time.Now()
			exited = nil
			if exitErr != nil {
				b.Fatalf("%s %s: %v\n%s", k.name, w, exitErr, out.String())
			}
		case <-ctx.Done():
			b.Fatalf("%s %s: %d of %d %s events after %v\n%s", k.name, w, len(seen), len(h.ids), k.event, time.Since(start), out.String())
		}
	}
	<-deadDone
	ms := func(t time.Time) float64 { return float64(t.Sub(start).Microseconds()) / 1000 }
	res := map[string]float64{"event-ms": ms(last), "exit-ms": ms(exitAt)}
	if k.dead {
		if dead.IsZero() {
			b.Fatalf("%s %s: not every process died", k.name, w)
		}
		res["dead-ms"] = ms(dead)
	}
	if w == "faultline" && k.dead {
		res["engine-kills"] = float64(h.engineKills(cmd))
	}
	return res
}

// engineKills counts the kills of faultline's last run that went through the engine
// instead of a direct signal (result.json's "via").
func (h *harness) engineKills(cmd *exec.Cmd) int {
	out := cmd.Args[slices.Index(cmd.Args, "--out")+1]
	raw, err := os.ReadFile(filepath.Join(out, "result.json"))
	if err != nil {
		h.b.Fatal(err)
	}
	var res struct {
		Events []struct {
			Type string `json:"type"`
			Via  string `json:"via"`
		} `json:"events"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		h.b.Fatal(err)
	}
	n := 0
	for _, e := range res.Events {
		if e.Type == "inject" && e.Via != "pidfd" {
			n++
		}
	}
	return n
}

// pids are the main processes of the containers, which must all run.
func (h *harness) pids(ctx context.Context) []int {
	var pids []int
	for _, id := range h.ids {
		res, err := h.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			h.b.Fatal(err)
		}
		if !dockertest.Running(res.Container) {
			h.b.Fatalf("container %s is not running before the round", id)
		}
		pids = append(pids, res.Container.State.Pid)
	}
	return pids
}

// pidfds opens a pidfd on every process: the kernel makes it readable once the
// process has exited, which is what "dead" means here (a zombie is dead).
func pidfds(b *testing.B, pids []int) []int {
	var fds []int
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			closeAll(fds)
			b.Fatalf("pidfd of %d: %v", pid, err)
		}
		fds = append(fds, fd)
	}
	return fds
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// waitDead returns when every pidfd's process has exited, or zero when ctx ends first.
func waitDead(ctx context.Context, fds []int) time.Time {
	left := append([]int(nil), fds...)
	for len(left) > 0 {
		pfds := make([]unix.PollFd, len(left))
		for i, fd := range left {
			pfds[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
		}
		if _, err := unix.Poll(pfds, 100); err != nil && !errors.Is(err, unix.EINTR) {
			return time.Time{}
		}
		now := time.Now()
		alive := left[:0]
		for i, p := range pfds {
			if p.Revents == 0 {
				alive = append(alive, left[i])
			}
		}
		left = alive
		if len(left) == 0 {
			return now
		}
		if ctx.Err() != nil {
			return time.Time{}
		}
	}
	return time.Now()
}

// reset brings every container back to running and unpaused, untimed, and waits
// until the engine answers an inspection of each.
func (h *harness) reset() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, id := range h.ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := h.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
			if err != nil {
				h.b.Error(err)
				return
			}
			switch s := res.Container.State; {
			case s.Paused:
				_, err = h.cli.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{})
			case !s.Running:
				_, err = h.cli.ContainerStart(ctx, id, client.ContainerStartOptions{})
			}
			if err != nil {
				h.b.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, id := range h.ids {
		dockertest.Wait(h.b, h.cli, id, "running", dockertest.Running)
	}
}
