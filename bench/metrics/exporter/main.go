// Command exporter serves 20 gauge series on /metrics, the load of the embedded
// Prometheus's peak-RSS run (bench/metrics/run-rss.sh): faultline_bench_latency_seconds
// for 20 routes, each value moving a little at every request so that the TSDB stores
// changing samples, as it would for a real service. It prints "listening ADDR" once
// it serves.
package main

import (
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "exporter:", err)
		os.Exit(2)
	}
	fmt.Println("listening", ln.Addr())
	http.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		t := float64(time.Now().UnixMilli()) / 1000
		fmt.Fprintln(w, "# TYPE faultline_bench_latency_seconds gauge")
		for i := range 20 {
			v := 0.1 + float64(i)/100 + 0.02*math.Sin(t/7+float64(i))
			fmt.Fprintf(w, "faultline_bench_latency_seconds{route=\"/r%d\"} %.6f\n", i, v)
		}
	})
	if err := http.Serve(ln, nil); err != nil {
		fmt.Fprintln(os.Stderr, "exporter:", err)
		os.Exit(1)
	}
}
