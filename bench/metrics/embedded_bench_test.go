package metrics_bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/metrics/local"
	"github.com/faultline/faultline/metrics/probe"
)

// BenchmarkEmbeddedStorePeakRSS runs the embedded Prometheus as a run would for
// FAULTLINE_RSS_DURATION (default 10m): it scrapes 20 series every second, samples
// five queries every second, runs one HTTP probe every second, and ends with the final
// range query of each metric. It reports the process's peak resident set size
// (VmHWM), the Go heap in use at the end and the size of the TSDB directory. The
// exporter runs in the same process, so the figure is an upper bound. Run it once:
// -benchtime 1x (bench/metrics/rss.sh).
func BenchmarkEmbeddedStorePeakRSS(b *testing.B) {
	duration := 10 * time.Minute
	if s := os.Getenv("FAULTLINE_RSS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("FAULTLINE_RSS_DURATION=%q: %v", s, err)
		}
		duration = d
	}
	exp := httptest.NewServer(exporter())
	b.Cleanup(exp.Close)
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }))
	b.Cleanup(health.Close)
	dir := filepath.Join(b.TempDir(), "tsdb")

	for b.Loop() {
		start := time.Now()
		store, err := local.Open(local.Options{Dir: dir, Interval: time.Second,
			Jobs: []local.Job{{Name: "bench", Targets: []string{exp.Listener.Addr().String()}}}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := store.WaitScraped(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		p, err := probe.NewHTTP(probe.HTTPSpec{Name: "health", URL: health.URL, Interval: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		probeCtx, stopProbes := context.WithCancel(context.Background())
		probesDone := make(chan struct{})
		go func() { probe.Run(probeCtx, store, []*probe.Probe{p}, nil); close(probesDone) }()

		ms := []metrics.Query{
			{Name: "p", Expr: `max(faultline_bench_latency_seconds)`},
			{Name: "r", Expr: `sum by (route) (avg_over_time(faultline_bench_latency_seconds[30s]))`},
			{Name: "q", Expr: `quantile(0.99, faultline_bench_latency_seconds)`},
			{Name: "u", Expr: `avg_over_time(faultline_probe_success{probe="health"}[10s])`},
			{Name: "d", Expr: `max_over_time(faultline_probe_duration_seconds[30s])`},
		}
		sampler := metrics.NewSampler(store.Query, ms)
		tick := time.NewTicker(time.Second)
		gaps := 0
		for time.Since(start) < duration {
			<-tick.C
			for _, o := range sampler.Sample(context.Background(), time.Now()) {
				if o.Gap != "" {
					gaps++
				}
			}
		}
		tick.Stop()
		stopProbes()
		<-probesDone
		for _, m := range ms {
			if _, err := store.RangeQuery(context.Background(), m.Expr, start, time.Now(), time.Second); err != nil {
				b.Fatalf("final range query %s: %v", m.Name, err)
			}
		}
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		if err := store.Close(); err != nil {
			b.Fatal(err)
		}
		if gaps > len(ms) { // the probe series may lag the first sample
			b.Errorf("%d gaps while sampling", gaps)
		}
		b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-rss-MB")
		b.ReportMetric(float64(mem.HeapInuse)/(1<<20), "heap-inuse-MB")
		b.ReportMetric(float64(dirSize(b, dir))/(1<<20), "tsdb-MB")
		b.ReportMetric(duration.Seconds(), "run-s")
	}
}

// peakRSS is the process's high-water resident set size in bytes (VmHWM).
func peakRSS(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatalf("peak RSS: %v (Linux only)", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

func dirSize(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
