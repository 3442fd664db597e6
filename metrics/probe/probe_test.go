package probe_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testpki"
	"github.com/faultline/faultline/internal/waitfor"

	"github.com/faultline/faultline/metrics/local"
	"github.com/faultline/faultline/metrics/probe"
)

// service answers as its mode says: ok, fail (HTTP 500), slow (no answer until the
// client gives up) or degraded (200 with the wrong body). It records the last request.
type service struct {
	mu       sync.Mutex
	mode     string
	method   string
	header   string
	body     string
	requests int
}

func (s *service) set(mode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = mode
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	mode := s.mode
	s.method, s.header, s.body = r.Method, r.Header.Get("X-Token"), string(body)
	s.requests++
	s.mu.Unlock()
	switch mode {
	case "fail":
		http.Error(w, "broken", http.StatusInternalServerError)
	case "slow":
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	case "degraded":
		fmt.Fprintln(w, "status: degraded")
	default:
		fmt.Fprintln(w, "status: ok")
	}
}

// recorder forwards to the real store and keeps every outcome the probes report.
type recorder struct {
	mu       sync.Mutex
	outcomes []probe.Outcome
	errs     []error
}

func (r *recorder) observe(o probe.Outcome, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes = append(r.outcomes, o)
	if err != nil {
		r.errs = append(r.errs, err)
	}
}

func (r *recorder) snapshot() []probe.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]probe.Outcome(nil), r.outcomes...)
}

// waitOutcomes waits until at least n outcomes from index from on satisfy match, or
// fails.
func (r *recorder) waitOutcomes(t *testing.T, what string, n, from int, match func(probe.Outcome) bool) {
	t.Helper()
	got := 0
	if !waitfor.Poll(30*time.Second, func() bool {
		got = 0
		for _, o := range r.snapshot()[from:] {
			if match(o) {
				got++
			}
		}
		return got >= n
	}) {
		t.Fatalf("%s: %d of %d outcomes after 30s: %+v", what, got, n, r.snapshot())
	}
}

func openStore(t *testing.T) *local.Store {
	t.Helper()
	s, err := local.Open(local.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// start runs the probes until the test ends, and checks they stop when told.
func start(t *testing.T, store probe.Appender, probes ...*probe.Probe) *recorder {
	t.Helper()
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		probe.Run(ctx, store, probes, rec.observe)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("probes still running 5s after cancel")
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, err := range rec.errs {
			t.Errorf("append: %v", err)
		}
	})
	return rec
}

func value(t *testing.T, s *local.Store, expr string, at time.Time) float64 {
	t.Helper()
	ss, err := s.Query(context.Background(), expr, at)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	if len(ss) != 1 {
		t.Fatalf("%s: %d series, want 1: %v", expr, len(ss), ss)
	}
	return ss[0].Samples[0].Value
}

func TestHTTPProbeFailsSlowsAndRecovers(t *testing.T) {
	t.Parallel()
	svc := &service{mode: "ok"}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	const timeout = 300 * time.Millisecond
	p, err := probe.NewHTTP(probe.HTTPSpec{
		Name: "x", URL: srv.URL + "/health", Method: "post",
		Headers: map[string]string{"X-Token": "s3cret"}, Body: `{"ping":1}`,
		ExpectStatus: []string{"200-299"}, ExpectBody: `status: ok`,
		Timeout: timeout, Interval: 400 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	store := openStore(t)
	rec := start(t, store, p)

	kind := func(o probe.Outcome) string {
		switch {
		case o.Success && o.StatusCode == 200:
			return "ok"
		case !o.Success && o.StatusCode == 500:
			return "fail"
		case !o.Success && o.StatusCode == 0 && strings.Contains(o.Err, "timeout"):
			return "slow"
		case !o.Success && o.StatusCode == 200 && strings.Contains(o.Err, "expect_body"):
			return "degraded"
		}
		return fmt.Sprintf("unexpected %+v", o)
	}
	phases := []string{"ok", "fail", "slow", "degraded", "ok"}
	for _, mode := range phases {
		svc.set(mode)
		rec.waitOutcomes(t, mode, 3, len(rec.snapshot()), func(o probe.Outcome) bool { return kind(o) == mode })
	}
	outcomes := rec.snapshot()

	// The outcomes follow the phases in order; a probe in flight at a switch may
	// belong to either side, nothing else.
	phase := 0
	for _, o := range outcomes {
		k := kind(o)
		for phase < len(phases) && k != phases[phase] {
			phase++
		}
		if phase == len(phases) {
			t.Fatalf("outcome %+v (%s) out of order; all: %+v", o, k, outcomes)
		}
		if k == "slow" && (o.Duration < timeout || o.Duration > timeout+2*time.Second) {
			t.Errorf("slow attempt took %s, want about the timeout %s", o.Duration, timeout)
		}
		if strings.Contains(o.Err, "s3cret") {
			t.Errorf("an error shows the header's secret: %s", o.Err)
		}
	}
	svc.mu.Lock()
	method, header, body := svc.method, svc.header, svc.body
	svc.mu.Unlock()
	if method != "POST" || header != "s3cret" || body != `{"ping":1}` {
		t.Errorf("the service saw %s, X-Token %q, body %q", method, header, body)
	}

	// Every outcome is a sample in the store, and PromQL reads the share of successes
	// over the last 10s exactly as the outcomes say.
	last := outcomes[len(outcomes)-1].Time
	at := last.Add(time.Millisecond)
	var inWindow, ok float64
	for _, o := range outcomes {
		if o.Time.After(at.Add(-10*time.Second)) && !o.Time.After(at) {
			inWindow++
			if o.Success {
				ok++
			}
		}
	}
	// Outcomes recorded after the snapshot are later than at: outside the window.
	share := value(t, store, `avg_over_time(faultline_probe_success{probe="x"}[10s])`, at)
	if math.Abs(share-ok/inWindow) > 1e-9 || share <= 0 || share >= 1 {
		t.Errorf("avg_over_time = %g, want %g (%g of %g attempts succeeded)", share, ok/inWindow, ok, inWindow)
	}
	if n := value(t, store, `count_over_time(faultline_probe_status_code{probe="x"}[1m])`, at); n != float64(len(outcomes)) {
		t.Errorf("%g status code samples, want one per attempt: %d", n, len(outcomes))
	}
	if v := value(t, store, `max_over_time(faultline_probe_duration_seconds{probe="x"}[1m])`, at); v < timeout.Seconds() {
		t.Errorf("longest attempt %gs, want at least the timeout %s (the slow phase)", v, timeout)
	}
}

func TestAClosedPortIsAFailedProbeNotAGap(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { open.Close() })
	go func() {
		for {
			c, err := open.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	var probes []*probe.Probe
	for _, spec := range []probe.TCPSpec{
		{Name: "tcp-closed", Address: closed, Interval: 200 * time.Millisecond},
		{Name: "tcp-open", Address: open.Addr().String(), Interval: 200 * time.Millisecond},
	} {
		p, err := probe.NewTCP(spec)
		if err != nil {
			t.Fatal(err)
		}
		probes = append(probes, p)
	}
	hp, err := probe.NewHTTP(probe.HTTPSpec{Name: "http-closed", URL: "http://" + closed + "/", Interval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	probes = append(probes, hp)
	store := openStore(t)
	rec := start(t, store, probes...)
	for _, name := range []string{"tcp-closed", "tcp-open", "http-closed"} {
		rec.waitOutcomes(t, name, 3, 0, func(o probe.Outcome) bool { return o.Probe == name })
	}
	for _, o := range rec.snapshot() {
		wantOK := o.Probe == "tcp-open"
		if o.Success != wantOK {
			t.Errorf("%s: success %v (%s), want %v", o.Probe, o.Success, o.Err, wantOK)
		}
		if !wantOK && !strings.Contains(o.Err, "connection refused") {
			t.Errorf("%s: error %q does not say the connection was refused", o.Probe, o.Err)
		}
	}
	at := time.Now()
	for name, want := range map[string]float64{"tcp-closed": 0, "tcp-open": 1, "http-closed": 0} {
		expr := fmt.Sprintf(`max_over_time(faultline_probe_success{probe=%q}[1m])`, name)
		if v := value(t, store, expr, at); v != want {
			t.Errorf("%s = %g, want %g", expr, v, want)
		}
		if n := value(t, store, fmt.Sprintf(`count_over_time(faultline_probe_success{probe=%q}[1m])`, name), at); n < 3 {
			t.Errorf("%s: %g samples, want one per attempt (at least 3)", name, n)
		}
	}
	if v := value(t, store, `max_over_time(faultline_probe_status_code{probe="http-closed"}[1m])`, at); v != 0 {
		t.Errorf("status code of a refused connection = %g, want 0", v)
	}
	if ss, _ := store.Query(context.Background(), `faultline_probe_status_code{probe=~"tcp.*"}`, at); len(ss) != 0 {
		t.Errorf("tcp probes wrote a status code: %v", ss)
	}
}

func TestHTTPSProbes(t *testing.T) {
	t.Parallel()
	pki := testpki.New(t, t.TempDir())
	caFile, cert := pki.CAFile, pki.Server
	srv := httptest.NewUnstartedServer(&service{mode: "ok"})
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		name    string
		tls     *probe.TLSSpec
		success bool
		err     string
		warning bool
	}{
		{"trusted-ca", &probe.TLSSpec{CAFile: caFile}, true, "", false},
		{"system-roots", nil, false, "certificate we do not trust", false},
		{"insecure", &probe.TLSSpec{Insecure: true}, true, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := probe.NewHTTP(probe.HTTPSpec{Name: tc.name, URL: srv.URL, TLS: tc.tls, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if (p.Warning() != "") != tc.warning {
				t.Errorf("warning %q, want one: %v", p.Warning(), tc.warning)
			}
			o := p.Once(context.Background())
			if o.Success != tc.success || !strings.Contains(o.Err, tc.err) {
				t.Errorf("outcome %+v, want success %v and an error with %q", o, tc.success, tc.err)
			}
		})
	}
}

func TestRunStopsAtOnceOnCancelEvenMidAttempt(t *testing.T) {
	t.Parallel()
	svc := &service{mode: "slow"}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	p, err := probe.NewHTTP(probe.HTTPSpec{Name: "slow", URL: srv.URL, Timeout: 10 * time.Second, Interval: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	store := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var recorded int
	go func() {
		probe.Run(ctx, store, []*probe.Probe{p}, func(probe.Outcome, error) { recorded++ })
		close(done)
	}()
	waitfor.Condition(t, 10*time.Second, "a request to reach the service", func() bool {
		svc.mu.Lock()
		defer svc.mu.Unlock()
		return svc.requests > 0
	})
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run still going 2s after cancel, with an attempt in flight")
	}
	if recorded != 0 {
		t.Errorf("%d outcomes recorded: an attempt cut short by cancel must not count as a failure", recorded)
	}
	if ss, _ := store.Query(context.Background(), `faultline_probe_success`, time.Now()); len(ss) != 0 {
		t.Errorf("the store holds %v", ss)
	}
}

func TestBadProbesAreRefusedWithWhatToDo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		spec probe.HTTPSpec
		want string
	}{
		{"no name", probe.HTTPSpec{URL: "http://127.0.0.1:1/"}, "no name"},
		{"no scheme", probe.HTTPSpec{Name: "a", URL: "127.0.0.1:1/health"}, "not an http(s) URL"},
		{"password in url", probe.HTTPSpec{Name: "a", URL: "ftp://u:hunter2@h/"}, "not an http(s) URL"},
		{"bad status", probe.HTTPSpec{Name: "a", URL: "http://h/", ExpectStatus: []string{"299-200"}}, `"200-299"`},
		{"status out of range", probe.HTTPSpec{Name: "a", URL: "http://h/", ExpectStatus: []string{"700"}}, "100 to 599"},
		{"bad regexp", probe.HTTPSpec{Name: "a", URL: "http://h/", ExpectBody: "(ok"}, "RE2"},
		{"timeout over interval", probe.HTTPSpec{Name: "a", URL: "http://h/", Timeout: 2 * time.Second, Interval: time.Second}, "at most the interval"},
		{"missing ca", probe.HTTPSpec{Name: "a", URL: "https://h/", TLS: &probe.TLSSpec{CAFile: "/nonexistent/ca.pem"}}, "ca_file"},
		{"bad method", probe.HTTPSpec{Name: "a", URL: "http://h/", Method: "GET /"}, "not an HTTP method"},
	} {
		_, err := probe.NewHTTP(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", tc.name, err)
		}
	}
	if _, err := probe.NewTCP(probe.TCPSpec{Name: "a", Address: "localhost"}); err == nil || !strings.Contains(err.Error(), "host:port") {
		t.Errorf("tcp without a port: %v", err)
	}
	rs, err := probe.ParseStatusRanges([]string{"200-204", "404"})
	if err != nil || len(rs) != 2 || rs[0] != (probe.StatusRange{Min: 200, Max: 204}) || rs[1] != (probe.StatusRange{Min: 404, Max: 404}) {
		t.Errorf("ParseStatusRanges = %v, %v", rs, err)
	}
}

var _ probe.Appender = (*local.Store)(nil)
