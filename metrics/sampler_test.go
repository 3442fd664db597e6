package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/result"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestSamplerRecordsGapsNotFailures(t *testing.T) {
	t.Parallel()
	ms := []Query{
		{Name: "ok", Expr: "ok"}, {Name: "empty", Expr: "empty"},
		{Name: "slow", Expr: "slow"}, {Name: "broken", Expr: "broken"}, {Name: "nan", Expr: "nan"},
	}
	query := func(ctx context.Context, q string, at time.Time) ([]Series, error) {
		switch q {
		case "ok":
			return []Series{
				{Labels: map[string]string{"route": "/a"}, Samples: []Sample{{at, 1}}},
				{Labels: map[string]string{"route": "/b"}, Samples: []Sample{{at, 2}}},
			}, nil
		case "empty":
			return nil, nil
		case "slow":
			return nil, fmt.Errorf("prometheus did not answer: %w", context.DeadlineExceeded)
		case "nan":
			return []Series{{Labels: map[string]string{}, Samples: []Sample{{at, math.NaN()}}}}, nil
		}
		return nil, errors.New("bad_data: parse error")
	}
	s := NewSampler(query, ms)
	rec := NewRecorder(ms, 5*time.Second)
	for i := 0; i < 3; i++ {
		obs := s.Sample(context.Background(), t0.Add(time.Duration(i)*5*time.Second))
		if len(obs) != len(ms) {
			t.Fatalf("want one observation per metric, got %d", len(obs))
		}
		rec.Add(obs...)
	}
	got := map[string]string{}
	for _, m := range rec.Metrics() {
		var parts []string
		for _, s := range m.Series {
			parts = append(parts, fmt.Sprintf("%s:%d samples,%d gaps", result.LabelString(s.Labels), len(s.Samples), len(s.Gaps)))
		}
		for _, g := range m.Gaps {
			parts = append(parts, fmt.Sprintf("gap %s %s-%s", g.Reason, g.Start.Sub(t0), g.End.Sub(t0)))
		}
		got[m.Name] = strings.Join(parts, "; ")
	}
	want := map[string]string{
		"ok":     `{route="/a"}:3 samples,0 gaps; {route="/b"}:3 samples,0 gaps`,
		"empty":  "gap empty result 0s-15s",
		"slow":   "gap timeout 0s-15s",
		"broken": "gap error: bad_data: parse error 0s-15s",
		"nan":    "{}:0 samples,1 gaps",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("metric %s: got %q, want %q", name, got[name], w)
		}
	}
	if s := rec.Series("ok"); len(s) != 2 || s[1].Samples[2].Value != 2 || !s[1].Samples[2].Time.Equal(t0.Add(10*time.Second)) {
		t.Errorf("Series(ok) = %+v", s)
	}
}

func TestFromRangeMarksMissingSteps(t *testing.T) {
	t.Parallel()
	m := Query{Name: "m", Expr: "q", Unit: "s"}
	step := time.Second
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * step) }
	series := []Series{{Labels: map[string]string{"a": "b"}, Samples: []Sample{
		{at(0), 1}, {at(1), 1}, {at(3), math.NaN()}, {at(4), math.Inf(1)}, {at(5), 2},
	}}}
	got := FromRange(m, series, at(0), at(6), step)
	if got.Name != "m" || got.Unit != "s" || len(got.Series) != 1 {
		t.Fatalf("FromRange = %+v", got)
	}
	s := got.Series[0]
	if len(s.Samples) != 4 || !math.IsInf(s.Samples[2].Value, 1) {
		t.Errorf("want 4 samples, +Inf among them (NaN is the only gap), got %+v", s.Samples)
	}
	var gaps []string
	for _, g := range s.Gaps {
		gaps = append(gaps, fmt.Sprintf("%s %s-%s", g.Reason, g.Start.Sub(t0), g.End.Sub(t0)))
	}
	want := []string{"no value at this step 2s-3s", "not a number 3s-4s", "no value at this step 6s-7s"}
	if strings.Join(gaps, "|") != strings.Join(want, "|") {
		t.Errorf("gaps %q, want %q", gaps, want)
	}
	empty := FromRange(m, nil, at(0), at(6), step)
	if len(empty.Series) != 0 || len(empty.Gaps) != 1 || empty.Gaps[0].Reason != result.GapEmpty {
		t.Errorf("an empty result should be one gap over the run: %+v", empty)
	}
}

func TestNewClientRejectsBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  ClientConfig
		want string
	}{
		{"not a url", ClientConfig{URL: "127.0.0.1:9090"}, "is not an http(s) URL"},
		{"missing token file", ClientConfig{URL: "http://127.0.0.1:9090", BearerTokenFile: dir + "/nope"}, "bearer_token_file"},
		{"unset token env", ClientConfig{URL: "http://127.0.0.1:9090", BearerTokenEnv: "FAULTLINE_TEST_UNSET"}, "FAULTLINE_TEST_UNSET is empty or unset"},
		{"cert without key", ClientConfig{URL: "https://127.0.0.1:9090", TLS: &TLSConfig{CertFile: "c.pem"}}, "cert_file and key_file go together"},
		{"password in url is hidden", ClientConfig{URL: "ftp://u:hunter2@127.0.0.1:9090"}, "u:xxxxx@"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewClient(&tt.cfg, func(string) string { return "" })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewClient error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
	if _, err := NewClient(nil, nil); err == nil {
		t.Error("a nil prometheus block must be an error")
	}
}

// Prometheus rounds a start time to the millisecond; steps must still line up.
func TestFromRangeSubMillisecondStart(t *testing.T) {
	t.Parallel()
	start := t0.Add(700 * time.Microsecond)
	var samples []Sample
	for k := 0; k <= 4; k++ {
		samples = append(samples, Sample{t0.Add(time.Millisecond + time.Duration(k)*time.Second), float64(k)})
	}
	got := FromRange(Query{Name: "m"}, []Series{{Labels: map[string]string{}, Samples: samples}}, start, start.Add(4*time.Second), time.Second)
	if s := got.Series[0]; len(s.Samples) != 5 || len(s.Gaps) != 0 || s.Samples[4].Value != 4 {
		t.Errorf("samples %+v gaps %+v, want 5 samples and no gap", s.Samples, s.Gaps)
	}
}

// A server that does not answer within the timeout is a timeout gap, not an error.
func TestSamplerTimeoutAgainstSlowServer(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // hold the request until the client gives up or the test ends
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	c, err := NewClient(&ClientConfig{URL: slow.URL, Timeout: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obs := NewSampler(c.Query, []Query{{Name: "m", Expr: "up"}}).Sample(context.Background(), t0)
	if len(obs) != 1 || obs[0].Gap != result.GapTimeout {
		t.Errorf("observation %+v, want a timeout gap", obs)
	}
}
