package notify

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWebhookSignedAndRetried(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []Message
	calls := 0
	secret := "s3cret"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first attempt fails: retried
			return
		}
		if want := Sign([]byte(secret), r.Header.Get(TimestampHeader), body); r.Header.Get(SignatureHeader) != want {
			t.Errorf("signature %q, want %q", r.Header.Get(SignatureHeader), want)
		}
		var m Message
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("body is not JSON: %v", err)
		}
		got = append(got, m)
	}))
	t.Cleanup(srv.Close)
	var logs bytes.Buffer
	n := New([]Webhook{{Name: "oncall", URL: srv.URL + "/hook?key=abc", Secret: secret, On: map[string]bool{"failed": true}}},
		slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil)))
	n.Backoff = []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}
	n.Start()
	n.Send(Message{Event: "passed", Text: "not wanted"})
	n.Send(Message{Event: "failed", Text: "checkout-weekly failed", Run: "r1"})
	n.Close(10 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Text != "checkout-weekly failed" || got[0].Event != "failed" || calls != 2 {
		t.Fatalf("received %+v in %d calls, want the failed message once after one retry", got, calls)
	}
	if strings.Contains(logs.String(), "key=abc") {
		t.Errorf("the webhook URL reached the log:\n%s", logs.String())
	}
}

// TestSendNeverBlocks: a receiver that hangs does not hold up the sender, and a full
// queue drops rather than waits.
func TestSendNeverBlocks(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(func() { close(release); srv.Close() })
	n := New([]Webhook{{Name: "slow", URL: srv.URL, On: map[string]bool{"failed": true}}}, nil)
	n.AttemptTimeout = 30 * time.Second
	n.Start()
	done := make(chan struct{})
	go func() {
		for i := 0; i < QueueSize*3; i++ {
			n.Send(Message{Event: "failed"})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Send blocked on a receiver that does not answer")
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
