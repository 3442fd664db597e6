// Package metrics_bench measures one sampling round (an instant query per watched
// metric, the work faultline does every step of a run) against a real Prometheus:
// faultline's Sampler against the obvious alternatives, the same queries one after the
// other in process, and curl run per query as a shell script would.
package metrics_bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/promtest"
	"github.com/faultline/faultline/internal/testreal"
	"github.com/faultline/faultline/metrics"
)

// exporter serves 20 series of a latency gauge, enough for queries to do some work.
func exporter() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "# TYPE faultline_bench_latency_seconds gauge")
		for i := 0; i < 20; i++ {
			fmt.Fprintf(w, "faultline_bench_latency_seconds{route=\"/r%d\"} %g\n", i, 0.1+float64(i)/100)
		}
	})
}

func BenchmarkSamplingRound(b *testing.B) {
	exp := httptest.NewServer(exporter())
	b.Cleanup(exp.Close)
	prom := promtest.Start(b, promtest.Options{Targets: []string{exp.Listener.Addr().String()}})
	prom.WaitTargetsUp(b, 30*time.Second)
	prom.WaitForSamples(b, "faultline_bench_latency_seconds", 30*time.Second)
	client, err := metrics.NewClient(&metrics.ClientConfig{URL: prom.URL, Timeout: 10 * time.Second}, nil)
	if err != nil {
		b.Fatal(err)
	}
	curl, curlErr := exec.LookPath("curl")

	for _, n := range []int{1, 5, 20} {
		ms := make([]metrics.Query, n)
		for i := range ms {
			ms[i] = metrics.Query{Name: fmt.Sprintf("m%d", i),
				Expr: fmt.Sprintf(`max by (route) (max_over_time(faultline_bench_latency_seconds[30s])) * %d`, i+1)}
		}
		sampler := metrics.NewSampler(client.Query, ms)
		b.Run(fmt.Sprintf("metrics=%d/faultline", n), func(b *testing.B) {
			for b.Loop() {
				for _, o := range sampler.Sample(context.Background(), time.Now()) {
					if o.Gap != "" {
						b.Fatalf("gap: %s", o.Gap)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "round-ms")
		})
		b.Run(fmt.Sprintf("metrics=%d/sequential", n), func(b *testing.B) {
			for b.Loop() {
				for _, m := range ms {
					if _, err := client.Query(context.Background(), m.Expr, time.Now()); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "round-ms")
		})
		b.Run(fmt.Sprintf("metrics=%d/curl", n), func(b *testing.B) {
			if curlErr != nil {
				testreal.Missing(b, "no curl on PATH")
			}
			for b.Loop() {
				for _, m := range ms {
					u := prom.URL + "/api/v1/query?query=" + url.QueryEscape(m.Expr)
					if out, err := exec.Command(curl, "-fsS", u).CombinedOutput(); err != nil {
						b.Fatalf("curl: %v: %s", err, out)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "round-ms")
		})
	}
}
