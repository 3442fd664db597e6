package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type frontendConfig struct {
	listen   string
	backends []string
	timeout  time.Duration
	retries  int
}

func runFrontend(ctx context.Context, args []string, _, stderr io.Writer) error {
	var cfg frontendConfig
	var backends string
	fs := flag.NewFlagSet("frontend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.listen, "listen", ":8080", "address to serve on")
	fs.StringVar(&backends, "backends", "", "comma-separated backend addresses host:port (required)")
	fs.DurationVar(&cfg.timeout, "timeout", 300*time.Millisecond, "timeout of each call to a backend")
	fs.IntVar(&cfg.retries, "retries", 2, "further attempts, each on the next backend, after a failed call")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, b := range strings.Split(backends, ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(b); err != nil {
			return usagef("--backends: %q is not host:port: %w", b, err)
		}
		cfg.backends = append(cfg.backends, b)
	}
	if len(cfg.backends) == 0 {
		return usagef("--backends is required, e.g. --backends backend-1:8080,backend-2:8080")
	}
	if cfg.timeout <= 0 {
		return usagef("--timeout must be positive, got %s", cfg.timeout)
	}
	if cfg.retries < 0 || cfg.retries > 10 {
		return usagef("--retries must be between 0 and 10, got %d", cfg.retries)
	}
	reg := newRegistry()
	metrics := newHTTPMetrics(reg)
	fe := newFrontend(cfg, reg, newLogger(stderr, "frontend"))
	mux := baseMux(reg)
	mux.Handle("/api/item", metrics.instrument("/api/item", fe))
	return serve(ctx, cfg.listen, mux, fe.log)
}

// frontend answers /api/item by calling the backends round-robin: a call that fails or
// takes longer than the timeout is retried on the next backend.
type frontend struct {
	cfg    frontendConfig
	client *http.Client
	next   atomic.Uint64
	log    *slog.Logger

	upstream *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newFrontend(cfg frontendConfig, reg prometheus.Registerer, log *slog.Logger) *frontend {
	f := &frontend{
		cfg: cfg,
		log: log,
		client: &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		}},
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "upstream_requests_total",
			Help: "Calls to backends, by backend and outcome (ok, error, timeout, bad_status).",
		}, []string{"backend", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "upstream_request_duration_seconds",
			Help:    "Time of each call to a backend, by backend.",
			Buckets: latencyBuckets,
		}, []string{"backend"}),
	}
	reg.MustRegister(f.upstream, f.latency)
	return f
}

func (f *frontend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var lastErr error
	// Round-robin picks the first backend; each retry goes to the one after the
	// previous attempt's, so a request never waits twice on the same bad replica
	// (while there are enough replicas).
	first := f.next.Add(1)
	for attempt := 0; attempt <= f.cfg.retries; attempt++ {
		if r.Context().Err() != nil {
			w.WriteHeader(statusClientClosed)
			return
		}
		backend := f.cfg.backends[(first+uint64(attempt))%uint64(len(f.cfg.backends))]
		body, servedBy, err := f.call(r.Context(), backend)
		if err == nil {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("X-Served-By", servedBy)
			w.Write(body)
			return
		}
		lastErr = err
	}
	code := http.StatusBadGateway
	if errors.Is(lastErr, context.DeadlineExceeded) {
		code = http.StatusGatewayTimeout
	}
	http.Error(w, fmt.Sprintf("all %d attempts failed, last: %v", f.cfg.retries+1, lastErr), code)
}

// call makes one attempt on one backend and records its outcome.
func (f *frontend) call(ctx context.Context, backend string) (body []byte, servedBy string, err error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.timeout)
	defer cancel()
	start := time.Now()
	outcome := "ok"
	defer func() {
		f.upstream.WithLabelValues(backend, outcome).Inc()
		f.latency.WithLabelValues(backend).Observe(time.Since(start).Seconds())
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+backend+"/api/item", nil)
	if err != nil {
		outcome = "error"
		return nil, "", fmt.Errorf("build request to %s: %w", backend, err)
	}
	resp, err := f.client.Do(req)
	if err == nil {
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		outcome = "timeout"
		return nil, "", fmt.Errorf("backend %s: no answer within %s: %w", backend, f.cfg.timeout, context.DeadlineExceeded)
	case err != nil:
		outcome = "error"
		return nil, "", fmt.Errorf("backend %s: %w", backend, err)
	case resp.StatusCode != http.StatusOK:
		outcome = "bad_status"
		return nil, "", fmt.Errorf("backend %s answered %s", backend, resp.Status)
	}
	return body, resp.Header.Get("X-Served-By"), nil
}
