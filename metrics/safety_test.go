package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/metrics"
)

func TestSeriesBeyondTheCapAreDroppedAndCounted(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	many := make([]metrics.Series, metrics.MaxSeries+400)
	for i := range many {
		many[i] = metrics.Series{Labels: map[string]string{"pod": fmt.Sprintf("p%04d", i)}, Samples: []metrics.Sample{{Time: start, Value: 1}}}
	}
	q := metrics.Query{Name: "fanout", Expr: "up"}
	m := metrics.FromRange(q, many, start, start, time.Second)
	if len(m.Series) != metrics.MaxSeries || m.DroppedSeries != 400 {
		t.Fatalf("range: kept %d series, dropped %d; want %d kept and 400 dropped", len(m.Series), m.DroppedSeries, metrics.MaxSeries)
	}
	if w := metrics.DroppedWarning(m); !strings.Contains(w, "returned 500 series") || !strings.Contains(w, "other 400") {
		t.Errorf("warning %q", w)
	}
	rec := metrics.NewRecorder([]metrics.Query{q}, time.Second)
	rec.Add(metrics.Observation{Metric: "fanout", At: start, Series: many})
	rec.Add(metrics.Observation{Metric: "fanout", At: start.Add(time.Second), Series: many})
	live := rec.Metrics()[0]
	if len(live.Series) != metrics.MaxSeries || live.DroppedSeries != 400 || len(live.Series[0].Samples) != 2 {
		t.Fatalf("live: kept %d series (%d samples in the first), dropped %d", len(live.Series), len(live.Series[0].Samples), live.DroppedSeries)
	}
	if metrics.DroppedWarning(metrics.FromRange(q, many[:3], start, start, time.Second)) != "" {
		t.Error("a warning for a metric that dropped nothing")
	}
}

func TestErrorsNeverCarryCredentials(t *testing.T) {
	t.Parallel()
	// A broken proxy that echoes the request, headers included, in its error body.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "upstream failed for %s %s; headers: %v", r.Method, r.URL.Path, r.Header)
	}))
	t.Cleanup(echo.Close)
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	pass := filepath.Join(dir, "pass")
	os.WriteFile(token, []byte("s3cr3t-bearer-token\n"), 0o600)
	os.WriteFile(pass, []byte("hunter2-basic"), 0o600)
	for name, cfg := range map[string]*metrics.ClientConfig{
		"bearer": {URL: echo.URL, BearerTokenFile: token, Timeout: 5 * time.Second},
		"basic":  {URL: echo.URL, BasicAuth: &metrics.BasicAuth{Username: "ops", PasswordFile: pass}, Timeout: 5 * time.Second},
		"header": {URL: echo.URL, Headers: map[string]string{"X-Api-Key": "k3y-in-a-header"}, Timeout: 5 * time.Second},
	} {
		c, err := metrics.NewClient(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, qerr := c.Query(context.Background(), "up", time.Now())
		perr := c.Preflight(context.Background(), []metrics.Query{{Name: "up", Expr: "up"}})
		for _, err := range []error{qerr, perr} {
			if err == nil {
				t.Fatalf("%s: no error from a server that fails", name)
			}
			msg := err.Error()
			for _, secret := range []string{"s3cr3t-bearer-token", "hunter2-basic", "b3BzOmh1bnRlcjItYmFzaWM=", "k3y-in-a-header"} {
				if strings.Contains(msg, secret) {
					t.Errorf("%s: error carries a credential: %s", name, msg)
				}
			}
			if !strings.Contains(msg, "(redacted)") {
				t.Errorf("%s: error does not show where the echoed credential was: %s", name, msg)
			}
		}
	}
}
