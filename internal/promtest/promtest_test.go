package promtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestStartScrapesTarget(t *testing.T) {
	t.Parallel()
	exp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "# TYPE faultline_test_answer gauge")
		fmt.Fprintln(w, "faultline_test_answer 42")
	}))
	t.Cleanup(exp.Close)
	s := Start(t, Options{Targets: []string{exp.Listener.Addr().String()}})
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("server URL %q is not on loopback", s.URL)
	}
	s.WaitTargetsUp(t, 30*time.Second)
	if n := s.WaitForSamples(t, `faultline_test_answer{job="faultline-test"} == 42`, 30*time.Second); n != 1 {
		t.Errorf("want one series, got %d", n)
	}
	s.Stop()
	s.Stop() // idempotent
	if _, err := http.Get(s.URL + "/-/ready"); err == nil {
		t.Error("server still answers after Stop")
	}
}

func TestConfigListsTargets(t *testing.T) {
	t.Parallel()
	got := config(Options{Targets: []string{"127.0.0.1:1", "127.0.0.1:2"}, Job: "j", MetricsPath: "/m", ScrapeInterval: time.Second})
	for _, want := range []string{`scrape_interval: 1s`, `job_name: "j"`, `metrics_path: "/m"`, `targets: ["127.0.0.1:1", "127.0.0.1:2"]`} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %q:\n%s", want, got)
		}
	}
}
