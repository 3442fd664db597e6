package main

import (
	"context"
	"flag"

	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type loadgenConfig struct {
	target      string
	rps         float64
	timeout     time.Duration
	maxInflight int
	listen      string
}

func runLoadgen(ctx context.Context, args []string, _, stderr io.Writer) error {
	var cfg loadgenConfig
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.target, "target", "", "URL to request (required), e.g. http://frontend:8080/api/item")
	fs.Float64Var(&cfg.rps, "rps", 20, "requests per second")
	fs.DurationVar(&cfg.timeout, "timeout", 2*time.Second, "timeout of each request")
	fs.IntVar(&cfg.maxInflight, "max-inflight", 200, "requests in flight at most; a request due beyond it is counted as dropped")
	fs.StringVar(&cfg.listen, "listen", ":9100", "address to serve /metrics on")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	u, err := url.Parse(cfg.target)
	if cfg.target == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--target must be an http(s) URL, e.g. http://frontend:8080/api/item, got %q", cfg.target)
	}
	if cfg.rps <= 0 || cfg.rps > 10000 {
		return usagef("--rps must be in (0, 10000], got %g", cfg.rps)
	}
	if cfg.timeout <= 0 {
		return usagef("--timeout must be positive, got %s", cfg.timeout)
	}
	if cfg.maxInflight < 1 {
		return usagef("--max-inflight must be at least 1, got %d", cfg.maxInflight)
	}
	reg := newRegistry()
	lg := newLoadgen(cfg, reg)
	log := newLogger(stderr, "loadgen")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, cfg.listen, baseMux(reg), log) }()
	log.Info("sending load", "target", cfg.target, "rps", cfg.rps)
	lg.run(ctx)
	cancel()
	return <-errc
}

// loadgen sends requests at a steady rate, whatever the answers take: a slow target
// gets more requests in flight, not fewer requests (an open-loop generator).
type loadgen struct {
	cfg    loadgenConfig
	client *http.Client

	requests *prometheus.CounterVec
	duration prometheus.Histogram
	dropped  prometheus.Counter
	inflight prometheus.Gauge
	// observe, when set, is told every request's outcome as it is counted: an
	// independent record to hold the metrics against.
	observe func(start, end time.Time, code string)
}

func newLoadgen(cfg loadgenConfig, reg prometheus.Registerer) *loadgen {
	l := &loadgen{
		cfg: cfg,
		client: &http.Client{Timeout: cfg.timeout, Transport: &http.Transport{
			MaxIdleConnsPerHost: cfg.maxInflight,
		}},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loadgen_requests_total",
			Help: "Requests sent, by status code (\"error\" when no answer came).",
		}, []string{"code"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "loadgen_request_duration_seconds",
			Help:    "Time from sending a request to reading its whole answer.",
			Buckets: latencyBuckets,
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loadgen_dropped_total",
			Help: "Requests not sent because --max-inflight were already in flight.",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loadgen_inflight_requests",
			Help: "Requests in flight.",
		}),
	}
	reg.MustRegister(l.requests, l.duration, l.dropped, l.inflight)
	return l
}

func (l *loadgen) run(ctx context.Context) {
	interval := time.Duration(float64(time.Second) / l.cfg.rps)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	slots := make(chan struct{}, l.cfg.maxInflight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case slots <- struct{}{}:
		default:
			l.dropped.Inc()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			l.once(ctx)
		}()
	}
}

func (l *loadgen) once(ctx context.Context) {
	l.inflight.Inc()
	defer l.inflight.Dec()
	start := time.Now()
	code := "error"
	defer func() {
		if ctx.Err() != nil {
			return // shutting down: not an answer of the target
		}
		end := time.Now()
		l.requests.WithLabelValues(code).Inc()
		l.duration.Observe(end.Sub(start).Seconds())
		if l.observe != nil {
			l.observe(start, end, code)
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.cfg.target, nil)
	if err != nil {
		return
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return
	}
	code = strconv.Itoa(resp.StatusCode)
}
