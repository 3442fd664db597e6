package metrics_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/promtest"
	"github.com/faultline/faultline/internal/testpki"
	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/metrics/analysis"
	"github.com/faultline/faultline/report"
	"github.com/faultline/faultline/result"
)

// stepExporter serves a latency gauge for two routes; /checkout steps from 0.1 to 0.6
// while slow is set. /cart never changes. It notes when it served the step: on a
// loaded machine Prometheus may scrape a second or more after the test's tick, and
// where the step lies is judged from when Prometheus actually saw it.
type stepExporter struct {
	slow atomic.Bool

	mu                            sync.Mutex
	slowFrom, slowUntil, fastFrom time.Time // first and last scrape served 0.6; first 0.1 after
}

func (e *stepExporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v := 0.1
	now := time.Now()
	e.mu.Lock()
	if e.slow.Load() {
		v = 0.6
		if e.slowFrom.IsZero() {
			e.slowFrom = now
		}
		e.slowUntil = now
	} else if !e.slowFrom.IsZero() && e.fastFrom.IsZero() {
		e.fastFrom = now
	}
	e.mu.Unlock()
	fmt.Fprintln(w, "# TYPE faultline_test_latency_seconds gauge")
	fmt.Fprintf(w, "faultline_test_latency_seconds{route=\"/checkout\"} %g\n", v)
	fmt.Fprintln(w, "faultline_test_latency_seconds{route=\"/cart\"} 0.05")
}

func startPrometheus(t *testing.T, h http.Handler) *promtest.Server {
	t.Helper()
	exp := httptest.NewServer(h)
	t.Cleanup(exp.Close)
	prom := promtest.Start(t, promtest.Options{Targets: []string{exp.Listener.Addr().String()}})
	prom.WaitTargetsUp(t, 30*time.Second)
	return prom
}

const latencyQuery = `faultline_test_latency_seconds{job="faultline-test"}`

// waitUntil paces the test's own timeline: it returns at t (or when ctx ends).
func waitUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		<-timer.C
	}
}

// TestStepSeenWhereItHappened runs a small recorded timeline against a real Prometheus:
// 5s baseline, 5s with the latency stepped up, 5s recovery, sampling every second. The
// live samples, the range query and the analysis must all put the step where the
// exporter made it.
func TestStepSeenWhereItHappened(t *testing.T) {
	t.Parallel()
	exp := &stepExporter{}
	prom := startPrometheus(t, exp)
	prom.WaitForSamples(t, latencyQuery, 30*time.Second)

	client, err := metrics.NewClient(&metrics.ClientConfig{URL: prom.URL, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.Query{Name: "latency", Expr: latencyQuery, Unit: "s"}
	ms := []metrics.Query{m}
	if err := client.Preflight(context.Background(), ms); err != nil {
		t.Fatalf("preflight: %v", err)
	}

	const step = time.Second
	sampler := metrics.NewSampler(client.Query, ms)
	rec := metrics.NewRecorder(ms, step)
	start := time.Now().Truncate(time.Second).Add(time.Second)
	faultStart, faultEnd, end := start.Add(5*time.Second), start.Add(10*time.Second), start.Add(15*time.Second)
	for tick := start; !tick.After(end); tick = tick.Add(step) {
		waitUntil(tick)
		switch {
		case tick.Equal(faultStart):
			exp.slow.Store(true)
		case tick.Equal(faultEnd):
			exp.slow.Store(false)
		}
		rec.Add(sampler.Sample(context.Background(), time.Now())...)
	}

	exp.mu.Lock()
	slowFrom, slowUntil, fastFrom := exp.slowFrom, exp.slowUntil, exp.fastFrom
	exp.mu.Unlock()
	if slowFrom.IsZero() || fastFrom.IsZero() {
		t.Fatalf("Prometheus never scraped the step (served 0.6 from %v, 0.1 again from %v)", slowFrom, fastFrom)
	}
	t.Logf("the exporter served the step %v after the tick that set it, and its end %v after that tick",
		slowFrom.Sub(faultStart).Round(time.Millisecond), fastFrom.Sub(faultEnd).Round(time.Millisecond))
	// What faultline adds to where Prometheus saw the step: at most one step of the
	// query grid, and a little for the scrape's own time.
	const slack = 250 * time.Millisecond

	// Live samples: 0.1 until a step before Prometheus scraped the step (a scrape is
	// stamped when it starts, a little before the exporter serves it); 0.6 from a step
	// after that scrape (time to store it) until the last slow scrape.
	var live result.Series
	for _, s := range rec.Series("latency") {
		if s.Labels["route"] == "/checkout" {
			live = s
		}
	}
	if len(live.Samples) < 12 {
		t.Fatalf("want a live sample per second, got %+v", live.Samples)
	}
	liveSlow := 0
	for _, p := range live.Samples {
		switch {
		case !p.Time.After(slowFrom.Add(-step)) && p.Value != 0.1:
			t.Errorf("live sample %v before the step is %v, want 0.1", p.Time.Sub(start), p.Value)
		case !p.Time.Before(slowFrom.Add(step)) && !p.Time.After(slowUntil):
			if p.Value != 0.6 {
				t.Errorf("live sample %v after the step is %v, want 0.6", p.Time.Sub(start), p.Value)
			}
			liveSlow++
		}
	}
	if liveSlow == 0 {
		t.Errorf("no live sample while the step held (scraped %v to %v): %+v", slowFrom.Sub(start), slowUntil.Sub(start), live.Samples)
	}

	// Final range query, then the analysis. The start is off the millisecond grid, as a
	// runner's clock is: Prometheus rounds it, and the steps must still line up.
	observed, errs := metrics.Collect(context.Background(), client.RangeQuery, ms, start.Add(700*time.Microsecond), end, step)
	if len(errs) > 0 {
		t.Fatalf("collect: %v", errs)
	}
	if len(observed) != 1 || len(observed[0].Series) != 2 {
		t.Fatalf("want one metric with two series, got %+v", observed)
	}
	for _, s := range observed[0].Series {
		if len(s.Gaps) > 0 || len(s.Samples) != 16 {
			t.Errorf("series %v: %d samples, gaps %+v; want one per second, no gap", s.Labels, len(s.Samples), s.Gaps)
		}
	}
	var firstSlow time.Time
	for _, s := range observed[0].Series {
		if s.Labels["route"] != "/checkout" {
			continue
		}
		for _, p := range s.Samples {
			if p.Value == 0.6 {
				firstSlow = p.Time
				break
			}
		}
	}
	if lag := firstSlow.Sub(slowFrom); firstSlow.IsZero() || lag < -step || lag > step+slack {
		t.Fatalf("range query shows the step at %v, want within a step of its first scrape at %v", firstSlow, slowFrom)
	}

	tl := result.Timeline{BaselineStart: start, FaultStart: faultStart, FaultEnd: faultEnd, RecoveryEnd: end}
	below := 0.3
	out := analysis.Analyze(analysis.Input{
		Metrics:  []analysis.MetricSpec{{Name: m.Name}},
		Checks:   []analysis.CheckSpec{{Name: "fast", Metric: "latency", Below: &below, RecoverWithin: 3 * time.Second}},
		Timeline: tl,
		Observed: observed,
	})
	for _, s := range out.Metrics[0].Series {
		switch s.Labels["route"] {
		case "/checkout":
			if most := (slowFrom.Sub(faultStart) + step + slack).Seconds(); s.TimeToImpactSeconds == nil || *s.TimeToImpactSeconds > most {
				t.Errorf("time to impact %v, want at most %.2fs (a step after the scrape that saw it)", s.TimeToImpactSeconds, most)
			}
			if most := (fastFrom.Sub(faultEnd) + step + slack).Seconds(); !s.Recovered || *s.TimeToRecoverSeconds > most {
				t.Errorf("time to recover %v (recovered %v), want at most %.2fs (a step after the scrape that saw it)", s.TimeToRecoverSeconds, s.Recovered, most)
			}
			if s.Impact == nil || !s.Impact.Significant || s.Impact.Absolute < 0.3 {
				t.Errorf("impact %+v, want a significant rise of about 0.5", s.Impact)
			}
		case "/cart":
			if s.ImpactAt != nil || (s.Impact != nil && s.Impact.Significant) {
				t.Errorf("/cart never changed, yet impact %+v at %v", s.Impact, s.ImpactAt)
			}
		}
	}
	c := out.Checks[0]
	if c.Verdict != result.VerdictFail || len(c.Evidence) == 0 || !strings.Contains(c.Evidence[0].Series, `route="/checkout"`) {
		t.Fatalf("check %+v, want a failure with evidence on /checkout", c)
	}
	if ev := c.Evidence[0]; ev.Time.Before(slowFrom.Add(-step)) || ev.Time.After(slowFrom.Add(step+slack)) {
		t.Errorf("first violating sample at %v, want within a step of the step's first scrape at %v", ev.Time, slowFrom)
	}
	if c.RecoveredAfterSeconds == nil {
		t.Errorf("check should record the recovery: %+v", c)
	}

	// The recorded run renders in every format.
	res := &result.Result{SchemaVersion: result.SchemaVersion, Experiment: result.Experiment{Name: "faultline-test-step", StepSeconds: 1},
		StartedAt: start, EndedAt: end, Status: result.StatusFailed, Timeline: tl}
	out.Apply(res)
	for _, format := range report.Formats {
		var buf strings.Builder
		if err := report.Render(&buf, format, res); err != nil {
			t.Errorf("render %s: %v", format, err)
		}
		if format == "text" && !strings.Contains(buf.String(), "FAIL  fast") {
			t.Errorf("text report lacks the failed check:\n%s", buf.String())
		}
	}
}

// authProxy demands credentials in front of Prometheus, like the reverse proxies people
// put there.
type authProxy struct {
	next       http.Handler
	token      string
	user, pass string
	header     [2]string
}

func (p *authProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.token != "" && r.Header.Get("Authorization") != "Bearer "+p.token {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	if p.user != "" {
		u, pw, ok := r.BasicAuth()
		if !ok || u != p.user || pw != p.pass {
			http.Error(w, "bad basic auth", http.StatusUnauthorized)
			return
		}
	}
	if p.header[0] != "" && r.Header.Get(p.header[0]) != p.header[1] {
		http.Error(w, "missing header", http.StatusForbidden)
		return
	}
	p.next.ServeHTTP(w, r)
}

func TestAuthAgainstProxy(t *testing.T) {
	t.Parallel()
	prom := startPrometheus(t, &stepExporter{})
	target, _ := url.Parse(prom.URL)
	upstream := httputil.NewSingleHostReverseProxy(target)

	dir := t.TempDir()
	pki := testpki.New(t, dir)
	const token, password = "s3cr3t-token-value", "s3cr3t-password"
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokenFile, wrongTokenFile, passFile := write("token", token), write("wrong-token", "nope"), write("password", password)

	plain := func(h http.Handler) string {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return s.URL
	}
	mtls := func(h http.Handler) string {
		s := httptest.NewUnstartedServer(h)
		s.TLS = &tls.Config{Certificates: []tls.Certificate{pki.Server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.Pool}
		s.StartTLS()
		t.Cleanup(s.Close)
		return s.URL
	}
	bearerURL := plain(&authProxy{next: upstream, token: token})
	basicURL := plain(&authProxy{next: upstream, user: "sre", pass: password})
	headerURL := plain(&authProxy{next: upstream, header: [2]string{"X-Scope-OrgID", "team-a"}})
	tlsURL := mtls(upstream)
	tlsByName := strings.Replace(tlsURL, "127.0.0.1", "localhost", 1)

	env := map[string]string{"PROM_TOKEN": token}
	tests := []struct {
		name     string
		cfg      metrics.ClientConfig
		wantErr  string // empty: preflight passes
		wantWarn bool
	}{
		{"bearer from file", metrics.ClientConfig{URL: bearerURL, BearerTokenFile: tokenFile}, "", false},
		{"bearer from env", metrics.ClientConfig{URL: bearerURL, BearerTokenEnv: "PROM_TOKEN"}, "", false},
		{"wrong bearer", metrics.ClientConfig{URL: bearerURL, BearerTokenFile: wrongTokenFile}, "refused the credentials", false},
		{"no bearer", metrics.ClientConfig{URL: bearerURL}, "refused the credentials", false},
		{"basic auth", metrics.ClientConfig{URL: basicURL, BasicAuth: &metrics.BasicAuth{Username: "sre", PasswordFile: passFile}}, "", false},
		{"basic auth wrong user", metrics.ClientConfig{URL: basicURL, BasicAuth: &metrics.BasicAuth{Username: "dev", PasswordFile: passFile}}, "refused the credentials", false},
		{"extra header", metrics.ClientConfig{URL: headerURL, Headers: map[string]string{"x-scope-orgid": "team-a"}}, "", false},
		{"missing header", metrics.ClientConfig{URL: headerURL}, "refused the credentials", false},
		{"tls with CA and client cert", metrics.ClientConfig{URL: tlsURL, TLS: &metrics.TLSConfig{CAFile: pki.CAFile, CertFile: pki.CertFile, KeyFile: pki.KeyFile}}, "", false},
		{"tls server name", metrics.ClientConfig{URL: tlsByName, TLS: &metrics.TLSConfig{CAFile: pki.CAFile, CertFile: pki.CertFile, KeyFile: pki.KeyFile, ServerName: testpki.ServerName}}, "", false},
		{"tls without our CA", metrics.ClientConfig{URL: tlsURL, TLS: &metrics.TLSConfig{CertFile: pki.CertFile, KeyFile: pki.KeyFile}}, "certificate we do not trust", false},
		{"tls skip verify warns", metrics.ClientConfig{URL: tlsURL, TLS: &metrics.TLSConfig{InsecureSkipVerify: true, CertFile: pki.CertFile, KeyFile: pki.KeyFile}}, "", true},
		{"tls without client cert", metrics.ClientConfig{URL: tlsURL, TLS: &metrics.TLSConfig{CAFile: pki.CAFile}}, "TLS handshake", false},
	}
	ms := []metrics.Query{{Name: "latency", Expr: latencyQuery}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg.Timeout = 5 * time.Second
			c, err := metrics.NewClient(&tt.cfg, func(k string) string { return env[k] })
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			if got := len(c.Warnings()) > 0; got != tt.wantWarn {
				t.Errorf("warnings %q, want some: %v", c.Warnings(), tt.wantWarn)
			}
			err = c.Preflight(context.Background(), ms)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("preflight: %v", err)
				}
				series, err := c.Query(context.Background(), latencyQuery, time.Now())
				if err != nil || len(series) != 2 {
					t.Fatalf("query through the proxy: %d series, %v", len(series), err)
				}
				return
			}
			if !errors.Is(err, metrics.ErrPreflight) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("preflight error %v, want ErrPreflight saying %q", err, tt.wantErr)
			}
			for _, secret := range []string{token, password} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a secret: %v", err)
				}
			}
		})
	}
}

func TestPreflightErrors(t *testing.T) {
	t.Parallel()
	prom := startPrometheus(t, &stepExporter{})
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close() // nothing listens there any more

	tests := []struct {
		name    string
		url     string
		metrics []metrics.Query
		want    []string
	}{
		{"bad PromQL", prom.URL, []metrics.Query{
			{Name: "ok", Expr: latencyQuery, Where: "checkout.hcl:10"},
			{Name: "typo", Expr: `rate(http_requests_total[5m]`, Where: "checkout.hcl:14"},
			{Name: "bad_func", Expr: `histogram_quantil(0.99, x)`, Where: "checkout.hcl:18"},
		}, []string{`checkout.hcl:14: metric "typo"`, "unclosed left parenthesis", `checkout.hcl:18: metric "bad_func"`, "unknown function"}},
		// A range vector would bring back samples from before each sampling time.
		{"matrix", prom.URL, []metrics.Query{
			{Name: "ok", Expr: latencyQuery},
			{Name: "window", Expr: latencyQuery + "[1m]", Where: "checkout.hcl:22"},
			{Name: "text", Expr: `"hello"`, Where: "checkout.hcl:26"},
		}, []string{`checkout.hcl:22: metric "window"`, "must return an instant vector or a scalar", "range vector", `checkout.hcl:26: metric "text"`, "returned a string"}},
		{"unreachable server", closedURL, []metrics.Query{{Name: "ok", Expr: "up"}}, []string{"unreachable", "check the url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := metrics.NewClient(&metrics.ClientConfig{URL: tt.url, Timeout: 5 * time.Second}, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Preflight(context.Background(), tt.metrics)
			if !errors.Is(err, metrics.ErrPreflight) {
				t.Fatalf("preflight error %v, want ErrPreflight", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("preflight error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), `metric "ok"`) {
				t.Errorf("the valid metric is blamed too:\n%v", err)
			}
		})
	}
}
