// Package notify sends webhook notifications of `faultline serve`: a JSON POST with a
// Slack-compatible "text" field, signed with HMAC-SHA256 when a secret is set, retried
// with backoff on a queue of its own so that a slow or dead receiver never holds up a
// run. URLs and secrets are never logged: a webhook URL is a credential.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Headers of a signed notification. The signature is HMAC-SHA256 over
// timestamp + "." + body, hex, prefixed "sha256=", so that a receiver can refuse a
// replayed body.
const (
	SignatureHeader = "X-Faultline-Signature"
	TimestampHeader = "X-Faultline-Timestamp"
	EventHeader     = "X-Faultline-Event"
)

// Sign returns the signature header value of body sent at ts.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Webhook is one receiver.
type Webhook struct {
	Name   string
	URL    string
	Secret string
	// On holds the events it wants.
	On map[string]bool
}

// Message is one notification. Text is what a chat shows; the rest is for programs.
type Message struct {
	Text       string    `json:"text"`
	Event      string    `json:"event"`
	Run        string    `json:"run,omitempty"`
	Schedule   string    `json:"schedule,omitempty"`
	Experiment string    `json:"experiment,omitempty"`
	Status     string    `json:"status,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Score      *float64  `json:"score,omitempty"`
	URL        string    `json:"url,omitempty"`
	Time       time.Time `json:"time"`
}

// Notifier delivers messages to webhooks in the background.
type Notifier struct {
	hooks  []Webhook
	client *http.Client
	log    *slog.Logger
	// Backoff is the wait before each retry; its length is the count of retries.
	Backoff []time.Duration
	// AttemptTimeout bounds each POST.
	AttemptTimeout time.Duration

	queue chan job
	wg    sync.WaitGroup
	once  sync.Once
}

type job struct {
	hook Webhook
	msg  Message
}

// QueueSize bounds the notifications waiting; beyond it new ones are dropped (and
// logged), never waited for.
const QueueSize = 256

// New builds a notifier; Start it before sending.
func New(hooks []Webhook, log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Notifier{
		hooks:          hooks,
		client:         &http.Client{Timeout: 15 * time.Second},
		log:            log,
		Backoff:        []time.Duration{time.Second, 4 * time.Second, 15 * time.Second},
		AttemptTimeout: 10 * time.Second,
		queue:          make(chan job, QueueSize),
	}
}

// Start runs the delivery worker until Close.
func (n *Notifier) Start() {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for j := range n.queue {
			n.deliver(j)
		}
	}()
}

// Close stops taking messages and waits up to timeout for the queue to drain.
func (n *Notifier) Close(timeout time.Duration) {
	n.once.Do(func() { close(n.queue) })
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		n.log.Warn("notifications still queued at shutdown were dropped")
	}
}

// Send queues msg for every webhook that wants its event; it never blocks.
func (n *Notifier) Send(msg Message) {
	if msg.Time.IsZero() {
		msg.Time = time.Now().UTC()
	}
	for _, h := range n.hooks {
		if !h.On[msg.Event] {
			continue
		}
		select {
		case n.queue <- job{hook: h, msg: msg}:
		default:
			n.log.Warn("notification dropped: the queue is full", "notifier", h.Name, "event", msg.Event, "run", msg.Run)
		}
	}
}

func (n *Notifier) deliver(j job) {
	body, err := json.Marshal(j.msg)
	if err != nil {
		n.log.Error("notification not sent", "notifier", j.hook.Name, "err", err)
		return
	}
	for attempt := 0; ; attempt++ {
		err := n.post(j.hook, j.msg.Event, body)
		if err == nil {
			n.log.Info("notification sent", "notifier", j.hook.Name, "event", j.msg.Event, "run", j.msg.Run)
			return
		}
		retry := attempt < len(n.Backoff) && !isPermanent(err)
		n.log.Warn("notification failed", "notifier", j.hook.Name, "event", j.msg.Event, "run", j.msg.Run, "attempt", attempt+1, "retry", retry, "err", err)
		if !retry {
			return
		}
		time.Sleep(n.Backoff[attempt])
	}
}

type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("the receiver answered %d", e.code) }

// isPermanent: a 4xx other than 408 and 429 will not get better by retrying.
func isPermanent(err error) bool {
	se, ok := err.(*statusError)
	return ok && se.code >= 400 && se.code < 500 && se.code != 408 && se.code != 429
}

func (n *Notifier) post(h Webhook, event string, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), n.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build the request (check the URL in the environment variable): %w", redact(err, h.URL))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "faultline-serve")
	req.Header.Set(EventHeader, event)
	if h.Secret != "" {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set(TimestampHeader, ts)
		req.Header.Set(SignatureHeader, Sign([]byte(h.Secret), ts, body))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return redact(err, h.URL)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return &statusError{resp.StatusCode}
	}
	return nil
}

// redact keeps the URL (a credential) out of an error that net/http wrote it into.
func redact(err error, url string) error {
	if url == "" {
		return err
	}
	return fmt.Errorf("%s", bytes.ReplaceAll([]byte(err.Error()), []byte(url), []byte("<webhook URL>")))
}
