package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/waitfor"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestBackendAnswersWithPayloadAndName(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(backendHandler(backendConfig{work: time.Millisecond, payload: 1000, name: "b1"}))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/api/item")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body) != 1000 || !strings.HasPrefix(string(body), "item from b1\n") {
		t.Fatalf("status %d, %d bytes, body starts %q", resp.StatusCode, len(body), body[:min(len(body), 20)])
	}
	if got := resp.Header.Get("X-Served-By"); got != "b1" {
		t.Fatalf("X-Served-By = %q, want b1", got)
	}
}

// deadAddr returns an address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func backendServer(t *testing.T, name string, work time.Duration) string {
	srv := httptest.NewServer(backendHandler(backendConfig{work: work, payload: 64, name: name}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestFrontendRetriesOnTheNextBackend(t *testing.T) {
	t.Parallel()
	good := backendServer(t, "good", 0)
	// The slow backend answers after a minute: only the frontend's timeout ends it
	// (its handler returns when the caller gives up). The timeout is a second, so a good
	// backend answers within it even on a loaded machine.
	slow := backendServer(t, "slow", time.Minute)
	dead := deadAddr(t)
	tests := []struct {
		name     string
		backends []string
		retries  int
		wantCode int
		wantBy   string
	}{
		{"retries past a dead and a slow backend", []string{dead, slow, good}, 2, 200, "good"},
		{"no retries, dead backend", []string{dead}, 0, http.StatusBadGateway, ""},
		{"no retries, slow backend", []string{slow}, 0, http.StatusGatewayTimeout, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			fe := newFrontend(frontendConfig{backends: tc.backends, timeout: time.Second, retries: tc.retries},
				reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			// Every start position of the round-robin must end the same way.
			for i := 0; i < len(tc.backends); i++ {
				rec := httptest.NewRecorder()
				fe.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/item", nil))
				if rec.Code != tc.wantCode || rec.Header().Get("X-Served-By") != tc.wantBy {
					t.Fatalf("request %d: code %d served by %q, want %d by %q (body %q)",
						i, rec.Code, rec.Header().Get("X-Served-By"), tc.wantCode, tc.wantBy, rec.Body.String())
				}
			}
			if n := gatheredSeries(t, reg, "upstream_requests_total"); n == 0 {
				t.Fatal("no upstream_requests_total series recorded")
			}
		})
	}
}

func TestRetriesNeverRepeatABackendUnderConcurrency(t *testing.T) {
	t.Parallel()
	good := backendServer(t, "good", 0)
	dead1, dead2 := deadAddr(t), deadAddr(t)
	// Dead backends refuse at once; the timeout only guards the good one, under load.
	fe := newFrontend(frontendConfig{backends: []string{dead1, dead2, good}, timeout: 5 * time.Second, retries: 2},
		prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(fe)
	t.Cleanup(srv.Close)
	errs := make(chan error, 60)
	for i := 0; i < 60; i++ {
		go func() {
			resp, err := http.Get(srv.URL)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
				}
			}
			errs <- err
		}()
	}
	for i := 0; i < 60; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("with two of three backends dead and two retries, a request failed: %v", err)
		}
	}
}

func TestMetricsCountRequestsByCode(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := newHTTPMetrics(reg)
	mux := baseMux(reg)
	mux.Handle("/api/item", m.instrument("/api/item", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("fail") != "" {
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	for _, q := range []string{"", "", "?fail=1"} {
		resp, err := http.Get(srv.URL + "/api/item" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`http_requests_total{code="200",handler="/api/item"} 2`,
		`http_requests_total{code="503",handler="/api/item"} 1`,
		`http_request_duration_seconds_count{handler="/api/item"} 3`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestLoadgenSendsRequests(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	lg := newLoadgen(loadgenConfig{target: srv.URL, rps: 200, timeout: time.Second, maxInflight: 10}, reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { lg.run(ctx); close(done) }()
	waitfor.Condition(t, 10*time.Second, "the loadgen to send 5 requests", func() bool {
		return counterValue(t, lg.requests.WithLabelValues("200")) >= 5
	})
	cancel()
	<-done
}

func TestBadUsageExitsTwo(t *testing.T) {
	t.Parallel()
	tests := [][]string{
		{},
		{"nope"},
		{"frontend"},
		{"frontend", "--backends", "nohostport"},
		{"backend", "--work", "-1s"},
		{"loadgen", "--target", "ftp://x"},
		{"loadgen", "--target", "http://x", "--rps", "0"},
		{"backend", "extra"},
	}
	for _, args := range tests {
		var stderr bytes.Buffer
		if code := run(context.Background(), args, io.Discard, &stderr); code != 2 {
			t.Errorf("shop %v: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
		if stderr.Len() == 0 {
			t.Errorf("shop %v: no message on stderr", args)
		}
	}
}

func TestBackendStopsGracefullyWhenCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- run(ctx, []string{"backend", "--listen", "127.0.0.1:0"}, io.Discard, io.Discard) }()
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d after cancel, want 0", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("backend did not stop within 10s of cancel")
	}
}

func gatheredSeries(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
