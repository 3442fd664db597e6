// Package promtest starts a real Prometheus server for tests: Debian's `prometheus`
// binary on a free loopback port, with a temporary configuration and data directory,
// scraping the targets a test names at a short interval. The server and its directory
// are removed in t.Cleanup. When the binary is missing the test is skipped, or fails
// in CI (testreal.Missing).
//
// Typical use:
//
//	exp := httptest.NewServer(myExporter)            // serves /metrics
//	prom := promtest.Start(t, promtest.Options{Targets: []string{exp.Listener.Addr().String()}})
//	prom.WaitTargetsUp(t, 30*time.Second)
//	// query prom.URL with the client under test
//
// The scrape job is named Options.Job ("faultline-test" by default), so queries can
// select {job="faultline-test"}.
package promtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testreal"
)

// Options describe the server to start.
type Options struct {
	// Targets are host:port addresses to scrape over plain HTTP.
	Targets []string
	// MetricsPath is the path scraped on every target (default /metrics).
	MetricsPath string
	// Job is the scrape job's name (default "faultline-test").
	Job string
	// ScrapeInterval is the scrape and rule evaluation interval (default 1s).
	ScrapeInterval time.Duration
	// Binary is the prometheus executable (default: "prometheus" on PATH).
	Binary string
	// StartTimeout bounds the wait for /-/ready (default 30s).
	StartTimeout time.Duration
}

// Server is a running Prometheus.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL string
	// Addr is 127.0.0.1:PORT.
	Addr string
	// Dir holds the configuration, the data and the server's log (prometheus.log).
	Dir string
	// Job is the scrape job's name.
	Job string

	cmd      *exec.Cmd
	log      *syncBuffer
	done     chan struct{}
	stopOnce sync.Once
}

// Start starts Prometheus and waits until it is ready. Everything is removed in t.Cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Binary == "" {
		opts.Binary = "prometheus"
	}
	bin, err := exec.LookPath(opts.Binary)
	if err != nil {
		testreal.Missing(t, "no prometheus binary on PATH (apt-get install prometheus)")
		return nil
	}
	if opts.Job == "" {
		opts.Job = "faultline-test"
	}
	if opts.MetricsPath == "" {
		opts.MetricsPath = "/metrics"
	}
	if opts.ScrapeInterval <= 0 {
		opts.ScrapeInterval = time.Second
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 30 * time.Second
	}
	dir, err := os.MkdirTemp("", "faultline-test-prometheus-")
	if err != nil {
		t.Fatalf("promtest: temporary directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config(opts)), 0o644); err != nil {
		t.Fatalf("promtest: write config: %v", err)
	}

	// A port picked by the kernel may be taken again before Prometheus binds it: retry.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		addr, err := freeLoopbackAddr()
		if err != nil {
			t.Fatalf("promtest: free port: %v", err)
		}
		s := &Server{URL: "http://" + addr, Addr: addr, Dir: dir, Job: opts.Job, log: &syncBuffer{}, done: make(chan struct{})}
		s.cmd = exec.Command(bin,
			"--config.file="+cfgPath,
			"--storage.tsdb.path="+filepath.Join(dir, fmt.Sprintf("data-%d", attempt)),
			"--web.listen-address="+addr,
			"--log.level=warn",
		)
		s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
		// Its own process group, so a Ctrl-C meant for `go test` reaches the test, whose
		// cleanup then stops the server. No Pdeathsig: it fires when the forking OS thread
		// exits, which tests that lock threads for network namespaces make happen early.
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := s.cmd.Start(); err != nil {
			t.Fatalf("promtest: start %s: %v", bin, err)
		}
		go func() { s.cmd.Wait(); close(s.done) }()
		t.Cleanup(func() {
			s.Stop()
			if t.Failed() {
				t.Logf("promtest: prometheus log:\n%s", s.log.String())
			}
		})
		if lastErr = s.waitReady(opts.StartTimeout); lastErr == nil {
			return s
		}
		s.Stop()
		if !strings.Contains(s.log.String(), "address already in use") {
			break
		}
	}
	t.Fatalf("promtest: %v", lastErr)
	return nil
}

// Stop stops the server (SIGTERM, then SIGKILL after 10s) and waits for it to exit. It
// is idempotent; a test that needs Prometheus to disappear mid-run calls it.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd.Process == nil {
			return
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// Log returns what the server has logged so far.
func (s *Server) Log() string { return s.log.String() }

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-s.done:
			return fmt.Errorf("prometheus exited before it was ready:\n%s", s.log.String())
		default:
		}
		resp, err := client.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("prometheus at %s not ready after %s (last: %v):\n%s", s.URL, timeout, err, s.log.String())
		}
		waitOrDone(s.done, 50*time.Millisecond)
	}
}

// WaitTargetsUp waits until every scrape target of the server is up (its last scrape
// succeeded), or fails the test after timeout.
func (s *Server) WaitTargetsUp(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		up, state, err := s.targetsUp(context.Background())
		if err == nil && up {
			return
		}
		last = state
		if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("promtest: targets not up after %s: %s", timeout, last)
		}
		waitOrDone(s.done, 100*time.Millisecond)
	}
}

// WaitForSamples waits until an instant query returns at least one series, or fails
// the test after timeout. It returns the number of series.
func (s *Server) WaitForSamples(t testing.TB, query string, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n, err := s.seriesCount(query)
		if err == nil && n > 0 {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("promtest: query %q returned nothing after %s (last error: %v)", query, timeout, err)
		}
		waitOrDone(s.done, 100*time.Millisecond)
	}
}

func (s *Server) targetsUp(ctx context.Context) (bool, string, error) {
	var body struct {
		Data struct {
			ActiveTargets []struct {
				ScrapeURL string `json:"scrapeUrl"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := s.getJSON(ctx, "/api/v1/targets?state=active", &body); err != nil {
		return false, "", err
	}
	if len(body.Data.ActiveTargets) == 0 {
		return false, "no active targets yet", nil
	}
	var states []string
	up := true
	for _, tg := range body.Data.ActiveTargets {
		states = append(states, fmt.Sprintf("%s %s %s", tg.ScrapeURL, tg.Health, tg.LastError))
		up = up && tg.Health == "up"
	}
	return up, strings.Join(states, "; "), nil
}

func (s *Server) seriesCount(query string) (int, error) {
	var body struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/api/v1/query", nil)
	q := req.URL.Query()
	q.Set("query", query)
	req.URL.RawQuery = q.Encode()
	if err := s.getJSON(context.Background(), "/api/v1/query?"+req.URL.RawQuery, &body); err != nil {
		return 0, err
	}
	return len(body.Data.Result), nil
}

func (s *Server) getJSON(ctx context.Context, path string, into any) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

func config(o Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\n  scrape_timeout: %s\n",
		o.ScrapeInterval, o.ScrapeInterval, o.ScrapeInterval)
	fmt.Fprintf(&b, "scrape_configs:\n  - job_name: %q\n    metrics_path: %q\n    static_configs:\n      - targets: [", o.Job, o.MetricsPath)
	for i, tg := range o.Targets {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", tg)
	}
	b.WriteString("]\n")
	return b.String()
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitOrDone waits d, or less if done closes; it paces polling loops, never
// synchronises on its own.
func waitOrDone(done <-chan struct{}, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
