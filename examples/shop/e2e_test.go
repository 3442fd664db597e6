package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/cmd"
	"github.com/faultline/faultline/internal/dockertest"
	"github.com/faultline/faultline/internal/promtest"
	"github.com/faultline/faultline/internal/testreal"
	"github.com/faultline/faultline/result"
	"github.com/moby/moby/client"
)

// e2eUnit is the demo's var.unit for the short version: about a minute.
const e2eUnit = 4

// TestDemoEndToEnd runs examples/shop/experiment.hcl, shortened, against the shop on
// the real Docker Engine, watched as `make demo` watches it: by faultline's embedded
// Prometheus, nothing installed. It checks that the report tells the demo's story:
// the faults happened at their planned times and were reverted, the retries hid the
// lost and the frozen replica, the bandwidth cap broke the latency SLO while it held,
// and latency recovered after. Then the same experiment runs (dry) on a real
// Prometheus server scraping the shop: the external path.
func TestDemoEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		testreal.Missing(t, "the demo's bandwidth fault needs root (CAP_NET_ADMIN in the frontend's namespace)")
	}
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli, "./examples/shop")
	nw := dockertest.Network(t, cli, dockertest.NetworkOptions{Name: "shop"})
	stack := nw.Name
	run := func(role, replica string, args ...string) dockertest.Container {
		labels := map[string]string{"shop.stack": stack, "shop.role": role}
		name := "shop-" + role
		if replica != "" {
			labels["shop.replica"] = replica
			name += "-" + replica
		}
		return dockertest.Run(t, cli, dockertest.RunOptions{Name: name, Image: img, Cmd: args, Labels: labels, Networks: []string{nw.Name}})
	}
	var backends, scrape []string
	for _, r := range []string{"1", "2", "3"} {
		c := run("backend", r, "backend", "--listen", ":8080", "--work", "5ms", "--payload", "4096")
		backends = append(backends, c.Name+":8080")
		scrape = append(scrape, addr(t, cli, c, nw.Name, "8080"))
	}
	fe := run("frontend", "", "frontend", "--listen", ":8080", "--backends", strings.Join(backends, ","), "--timeout", "300ms", "--retries", "2")
	lg := run("loadgen", "", "loadgen", "--target", "http://"+fe.Name+":8080/api/item", "--rps", "20", "--timeout", "10s", "--listen", ":9100")
	scrape = append(scrape, addr(t, cli, fe, nw.Name, "8080"), addr(t, cli, lg, nw.Name, "9100"))

	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	env := &cmd.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: os.Getenv, Context: context.Background()}
	code := cmd.MainArgs(env, []string{"run",
		"--var", "stack=" + stack, "--var", fmt.Sprintf("unit=%d", e2eUnit),
		"--state-dir", t.TempDir(), "--out", out, "--format", "html", "experiment.hcl"})
	t.Logf("faultline run exited %d\n%s\n%s", code, stdout.String(), stderr.String())
	res, err := result.ReadFile(filepath.Join(out, "result.json"))
	if err != nil {
		t.Fatalf("no result: %v", err)
	}
	if code != 1 || res.Status != result.StatusFailed {
		t.Fatalf("exit %d, status %s (%s); want 1, failed: only the latency SLO breaks", code, res.Status, res.Reason)
	}

	// Injected and reverted, each at its planned time, without error.
	if len(res.Events) != 6 {
		t.Fatalf("%d events, want 3 injections and 3 reverts", len(res.Events))
	}
	window := map[string][2]time.Time{} // fault -> [injected, reverted]
	for _, ev := range res.Events {
		if ev.Error != "" || ev.Started == nil {
			t.Fatalf("%s %s: error %q", ev.Type, ev.Fault, ev.Error)
		}
		// Correctness, not speed: never early, and within 2 s of plan on a loaded
		// machine (the demo's actions are at least a unit, 4 s, apart).
		if d := ev.Started.Sub(ev.Planned); d < 0 || d > 2*time.Second {
			t.Errorf("%s %s sent %s after its planned time", ev.Type, ev.Fault, d)
		}
		w := window[ev.Fault]
		if ev.Type == result.EventInject {
			w[0] = ev.Actual
		} else {
			w[1] = ev.Actual
		}
		window[ev.Fault] = w
	}

	verdicts := map[string]result.CheckResult{}
	for _, c := range res.Checks {
		verdicts[c.Name] = c
	}
	want := map[string]bool{"retries_hide_failures": true, "latency_slo": false, "latency_recovers": true}
	for name, pass := range want {
		if c := verdicts[name]; c.Passed != pass {
			t.Errorf("check %s: verdict %s (%s), want passed=%v", name, c.Verdict, c.Reason, pass)
		}
	}
	// The latency SLO broke under the bandwidth cap, not elsewhere: every violation lies
	// between the cap's injection and a rate window after its revert.
	cap := window["thin_frontend_link"]
	for _, ev := range verdicts["latency_slo"].Evidence {
		if ev.Note == "" {
			continue
		}
		if ev.Time.Before(cap[0]) || ev.Time.After(cap[1].Add(6*time.Second)) {
			t.Errorf("latency violation at %s outside the bandwidth cap %s..%s", ev.Time, cap[0], cap[1])
		}
	}
	// The frontend's retries were busy while a replica was dead or frozen, and only then.
	failures := metricSeries(t, res, "upstream_failures")
	kill, pause := window["replica_dies"], window["replica_freezes"]
	var during, baseline float64
	for _, s := range failures.Samples {
		switch {
		case s.Time.Before(res.Timeline.FaultStart):
			baseline = max(baseline, s.Value)
		case inWindow(s.Time, kill) || inWindow(s.Time, pause):
			during = max(during, s.Value)
		}
	}
	// A dead or frozen replica fails about a third of the first attempts (several per
	// second); in the baseline a loaded machine may still see the odd 300ms timeout,
	// but far fewer.
	if during <= 0 || baseline > during/4 {
		t.Errorf("upstream failures: baseline max %g/s, max while a replica was down %g/s; want the baseline under a quarter of it", baseline, during)
	}
	if failures.Impact == nil || !failures.Impact.Significant {
		t.Errorf("upstream failures: impact %+v, want a significant one", failures.Impact)
	}
	html, err := os.ReadFile(filepath.Join(out, "result.html"))
	if err != nil || !bytes.Contains(html, []byte("latency_slo")) {
		t.Fatalf("HTML report missing or without the checks: %v", err)
	}
	if blocks, _ := filepath.Glob(filepath.Join(out, "tsdb", "*", "meta.json")); len(blocks) == 0 {
		t.Errorf("the embedded store's TSDB is not kept in %s/tsdb", out)
	}

	// The external path: the same experiment, its metrics evaluated on a real
	// Prometheus server scraping the shop (dry: the faults were shown above).
	prom := promtest.Start(t, promtest.Options{Targets: scrape, Job: "shop", ScrapeInterval: time.Second})
	prom.WaitTargetsUp(t, 60*time.Second)
	prom.WaitForSamples(t, `loadgen_requests_total{code="200"}`, 60*time.Second)
	stdout.Reset()
	stderr.Reset()
	extOut := t.TempDir()
	code = cmd.MainArgs(env, []string{"run", "--dry-run",
		"--var", "source=prometheus", "--var", "prometheus_url=" + prom.URL, "--var", "stack=" + stack, "--var", "unit=1",
		"--state-dir", t.TempDir(), "--out", extOut, "--format", "text", "experiment.hcl"})
	ext, err := result.ReadFile(filepath.Join(extOut, "result.json"))
	if err != nil || (code != result.ExitPassed && code != result.ExitCheckFailed) {
		t.Fatalf("on Prometheus: exit %d, result %v\n%s\n%s", code, err, stdout.String(), stderr.String())
	}
	if s := metricSeries(t, ext, "failed_ratio"); len(s.Samples) < 5 {
		t.Errorf("on Prometheus: failed_ratio has %d samples, want one per step", len(s.Samples))
	}
	// The netem variant needs sch_netem: on a kernel without it, preflight says so
	// before any fault (exit 5); with it, preflight passes (checked with a dry run).
	stdout.Reset()
	stderr.Reset()
	code = cmd.MainArgs(env, []string{"run", "--dry-run",
		"--var", "stack=" + stack, "--var", "unit=1",
		"--state-dir", t.TempDir(), "--out", t.TempDir(), "--format", "text", "netem.hcl"})
	switch {
	case code == result.ExitPreflight:
		if !strings.Contains(stderr.String(), "sch_netem") {
			t.Errorf("netem preflight failed without naming sch_netem:\n%s", stderr.String())
		}
	case code == result.ExitPassed || code == result.ExitCheckFailed:
		t.Logf("this kernel has sch_netem: the netem variant ran (dry) with exit %d", code)
	default:
		t.Errorf("netem.hcl: exit %d\n%s", code, stderr.String())
	}

	// Nothing of ours is left: every container runs, unpaused.
	for _, c := range []string{fe.ID, lg.ID} {
		if in := dockertest.Inspect(t, cli, c); !dockertest.Running(in) || dockertest.Paused(in) {
			t.Errorf("container %s not running unpaused after the run", in.Name)
		}
	}
}

func inWindow(t time.Time, w [2]time.Time) bool {
	return !t.Before(w[0]) && !t.After(w[1].Add(6*time.Second))
}

func metricSeries(t *testing.T, res *result.Result, name string) result.Series {
	t.Helper()
	for _, m := range res.Metrics {
		if m.Name == name && len(m.Series) == 1 {
			return m.Series[0]
		}
	}
	t.Fatalf("metric %s has no single series in the result", name)
	return result.Series{}
}

// addr is the container's address on the network, host:port, as Prometheus on the host
// reaches it.
func addr(t *testing.T, cli *client.Client, c dockertest.Container, network, port string) string {
	t.Helper()
	in := dockertest.Wait(t, cli, c.ID, "running", dockertest.Running)
	ep := in.NetworkSettings.Networks[network]
	if ep == nil || !ep.IPAddress.IsValid() {
		t.Fatalf("container %s has no address on %s", c.Name, network)
	}
	return ep.IPAddress.String() + ":" + port
}
