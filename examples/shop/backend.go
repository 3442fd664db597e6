package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// statusClientClosed is the code recorded for requests the client abandoned.
const statusClientClosed = 499

type backendConfig struct {
	listen  string
	work    time.Duration
	payload int
	name    string
}

func runBackend(ctx context.Context, args []string, _, stderr io.Writer) error {
	host, _ := os.Hostname()
	var cfg backendConfig
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.listen, "listen", ":8080", "address to serve on")
	fs.DurationVar(&cfg.work, "work", 5*time.Millisecond, "time each /api/item request takes")
	fs.IntVar(&cfg.payload, "payload", 2048, "bytes in each /api/item response body")
	fs.StringVar(&cfg.name, "name", host, "name reported in responses")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if cfg.work < 0 {
		return usagef("--work must not be negative, got %s", cfg.work)
	}
	if cfg.payload < 0 || cfg.payload > 16<<20 {
		return usagef("--payload must be between 0 and 16777216 bytes, got %d", cfg.payload)
	}
	reg := newRegistry()
	metrics := newHTTPMetrics(reg)
	mux := baseMux(reg)
	mux.Handle("/api/item", metrics.instrument("/api/item", backendHandler(cfg)))
	return serve(ctx, cfg.listen, mux, newLogger(stderr, "backend"))
}

// backendHandler simulates a request's work, then answers with a body of cfg.payload
// bytes that names the replica, so a caller can see which backend answered.
func backendHandler(cfg backendConfig) http.Handler {
	head := fmt.Sprintf("item from %s\n", cfg.name)
	body := head
	if len(head) < cfg.payload {
		body += strings.Repeat(".", cfg.payload-len(head)-1) + "\n"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(cfg.work):
		case <-r.Context().Done():
			// The caller gave up (its timeout): recorded as nginx's 499 so the
			// backend's own metrics show abandoned requests.
			w.WriteHeader(statusClientClosed)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Served-By", cfg.name)
		io.WriteString(w, body)
	})
}
