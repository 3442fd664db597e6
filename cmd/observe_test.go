package cmd

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/internal/dockertest"
	"github.com/faultline/faultline/result"
)

func TestScrapeJobs(t *testing.T) {
	t.Parallel()
	ctr := func(name, ip string, labels map[string]string) faults.Target {
		return faults.Target{ID: name, Name: name, Labels: labels, Networks: []faults.Network{
			{Name: "bridge"}, {Name: "shop", IP: net.ParseIP(ip)}, {Name: "other", IP: net.ParseIP("10.9.0.1")},
		}}
	}
	labelled := map[string]string{scrapeLabel: "true", portLabel: "9100", pathLabel: "/stats"}
	exp := &experiments.Experiment{Step: 2e9, ScrapeLabelled: true,
		Targets: []*experiments.Target{{Name: "api"}, {Name: "db"}},
		Scrapes: []*experiments.Scrape{
			{Job: "static", Addresses: []string{"127.0.0.1:9100"}, Path: "/metrics", Interval: 1e9},
			{Job: "api", Target: "api", Port: 8080, Path: "/metrics", Interval: 1e9, Network: "other"},
		}}
	resolved := map[string][]faults.Target{
		"api": {ctr("a1", "10.0.0.2", nil), ctr("a2", "10.0.0.3", nil)},
		"db":  {ctr("d1", "10.0.0.4", labelled), ctr("d2", "10.0.0.5", nil)},
	}
	jobs, err := scrapeJobs(exp, resolved)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, j := range jobs {
		got[j.Name] = j.Path + " " + strings.Join(j.Targets, ",")
	}
	want := map[string]string{
		"static": "/metrics 127.0.0.1:9100",
		"api":    "/metrics 10.9.0.1:8080", // both containers on "other" at one address: listed once
		"db":     "/stats 10.0.0.4:9100",   // only the labelled container, on its first network with an address
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("job %s: %q, want %q", k, got[k], v)
		}
	}

	if w := labelledWarning(exp, resolved); w != "" {
		t.Errorf("a labelled container among the targets, yet a warning: %s", w)
	}
	unlabelled := map[string][]faults.Target{"api": resolved["api"], "db": {resolved["db"][1]}}
	if w := labelledWarning(exp, unlabelled); !strings.Contains(w, "none of the 3 target container(s) is labelled "+scrapeLabel+"=true") {
		t.Errorf("scrape_labelled with no labelled container: warning %q", w)
	}

	// A labelled container without a port, and a network a container is not on.
	resolved["db"][0].Labels = map[string]string{scrapeLabel: "true"}
	exp.Scrapes[1].Network = "elsewhere"
	_, err = scrapeJobs(exp, resolved)
	if err == nil || !strings.Contains(err.Error(), portLabel) || !strings.Contains(err.Error(), `no address on network "elsewhere"`) {
		t.Errorf("err = %v, want both mistakes named", err)
	}
}

// TestRunOnTheEmbeddedStore runs an experiment without a prometheus block: a scrape
// block of an exporter on loopback, a target block scraped at its Docker address, and
// a probe. The run observes through the embedded store, keeps its TSDB beside the
// result, and an unreachable scrape target fails preflight naming it.
func TestRunOnTheEmbeddedStore(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli, "github.com/faultline/faultline/examples/shop")
	nw := dockertest.Network(t, cli, dockertest.NetworkOptions{Name: "embedded"})
	backend := dockertest.Run(t, cli, dockertest.RunOptions{Name: "embedded-backend", Image: img, Networks: []string{nw.Name},
		Cmd: []string{"backend", "--listen", ":8080"}})
	dockertest.Wait(t, cli, backend.ID, "running", dockertest.Running)

	var served atomic.Int64
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE embedded_test_scrapes_total counter\nembedded_test_scrapes_total %d\n", served.Add(1))
	}))
	t.Cleanup(exporter.Close)
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, `{"ok":true}`) }))
	t.Cleanup(health.Close)

	write := func(static string) string {
		path := filepath.Join(t.TempDir(), "embedded.hcl")
		src := fmt.Sprintf(`
experiment "embedded" {
  baseline    = "2s"
  recovery    = "2s"
  step        = "1s"
  max_targets = 1
}
target "backend" {
  name = "^%s$"
}
scrape "static" {
  targets = [%q]
}
scrape "shop" {
  target = target.backend
  port   = 8080
}
probe "http" "health" {
  url         = %q
  expect_body = "\"ok\":true"
}
fault "pause" "freeze" {
  target   = target.backend
  duration = "2s"
}
metric "scrapes" {
  query = "sum(increase(embedded_test_scrapes_total[3s]))"
}
metric "backend_up" {
  query = "up{job=\"shop\"}"
}
metric "health" {
  query = "faultline_probe_success{probe=\"health\"}"
}
`, backend.Name, static, health.URL)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	run := func(file, out string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		env := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: os.Getenv, Context: context.Background()}
		code := MainArgs(env, []string{"run", "--dry-run", "--state-dir", t.TempDir(), "--out", out, "--format", "text", file})
		return code, stdout.String(), stderr.String()
	}

	out := t.TempDir()
	code, stdout, stderr := run(write(strings.TrimPrefix(exporter.URL, "http://")), out)
	if code != result.ExitPassed {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	res, err := result.ReadFile(filepath.Join(out, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range res.Metrics {
		if len(m.Series) != 1 || len(m.Series[0].Samples) < 5 {
			t.Errorf("metric %s: %d series, want one with a sample every step (gaps %v)", m.Name, len(m.Series), m.Gaps)
			continue
		}
		first := m.Series[0].Samples[0]
		// Preflight waits for two scrapes, so even the increase() has a value at once.
		if !first.Time.Equal(res.Timeline.BaselineStart.Truncate(time.Millisecond)) || len(m.Series[0].Gaps) > 0 {
			t.Errorf("metric %s: first sample at %s, gaps %v; want the baseline's start %s and none: scraping starts before it", m.Name, first.Time, m.Series[0].Gaps, res.Timeline.BaselineStart)
		}
		if m.Name != "scrapes" && first.Value != 1 {
			t.Errorf("metric %s: first value %g, want 1", m.Name, first.Value)
		}
	}
	tsdb := filepath.Join(out, tsdbDirName)
	blocks, _ := filepath.Glob(filepath.Join(tsdb, "*", "meta.json"))
	if len(blocks) != 1 {
		t.Errorf("%s holds %d blocks, want the run's one", tsdb, len(blocks))
	}
	if !strings.Contains(stdout, "Embedded Prometheus data: "+tsdb) {
		t.Errorf("the run does not say where its TSDB is:\n%s", stdout)
	}

	// A scrape target nobody listens on: preflight fails (5) naming it, nothing runs.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	code, stdout, stderr = run(write(closed), t.TempDir())
	if code != result.ExitPreflight || !strings.Contains(stderr, closed) {
		t.Fatalf("unreachable scrape target: exit %d, want 5 naming %s\n%s\n%s", code, closed, stdout, stderr)
	}
}
