// Package probe measures a service from outside, as its users meet it: HTTP requests
// and TCP connects on an interval, each outcome appended to a store as samples that
// PromQL reads like any scraped series:
//
//	faultline_probe_success{probe="NAME"}           1 or 0
//	faultline_probe_duration_seconds{probe="NAME"}  how long the attempt took
//	faultline_probe_status_code{probe="NAME"}       the HTTP status (0: no response); HTTP only
//
// A refused connection, a timeout, a TLS failure, an unexpected status or body is a
// failed probe (0) at its time, never a gap: what the user of the service would have
// seen. Every attempt has a deadline (the probe's timeout); probing stops when the
// context ends, and an attempt cut short by that is not recorded.
package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/metrics"
)

// Series names.
const (
	SuccessMetric    = "faultline_probe_success"
	DurationMetric   = "faultline_probe_duration_seconds"
	StatusCodeMetric = "faultline_probe_status_code"
	// ProbeLabel holds the probe's name.
	ProbeLabel = "probe"
)

// SeriesNames are the names of every series a probe writes.
var SeriesNames = []string{SuccessMetric, DurationMetric, StatusCodeMetric}

// Defaults.
const (
	// DefaultInterval applies when a probe sets none; callers pass the experiment's step.
	DefaultInterval = 5 * time.Second
	// maxDefaultTimeout caps the default timeout (the interval).
	maxDefaultTimeout = 10 * time.Second
	// maxBody is how much of a response is read for expect_body.
	maxBody = 1 << 20
)

var httpMethod = regexp.MustCompile(`^[A-Z]+$`)

// Appender stores samples (*local.Store is one).
type Appender interface {
	Append(ctx context.Context, series ...metrics.Series) error
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Min, Max int }

// ParseStatusRanges reads expect_status entries: "200-299" or a single "404". None
// means 200-299.
func ParseStatusRanges(specs []string) ([]StatusRange, error) {
	if len(specs) == 0 {
		return []StatusRange{{200, 299}}, nil
	}
	out := make([]StatusRange, 0, len(specs))
	for _, s := range specs {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
		a, errA := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var errB error
		if isRange {
			b, errB = strconv.Atoi(strings.TrimSpace(hi))
		}
		if errA != nil || errB != nil || a < 100 || b > 599 || a > b {
			return nil, fmt.Errorf("expect_status %q is not a status code or a range of them: write for example \"200-299\" or \"404\" (codes 100 to 599)", s)
		}
		out = append(out, StatusRange{a, b})
	}
	return out, nil
}

func statusOK(rs []StatusRange, code int) bool {
	for _, r := range rs {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}

// HTTPSpec is an http probe block.
type HTTPSpec struct {
	Name    string
	URL     string
	Method  string // default GET
	Headers map[string]string
	Body    string
	// ExpectStatus as ParseStatusRanges reads it; none means 200-299.
	ExpectStatus []string
	// ExpectBody is a regular expression (RE2) the body must match; empty: any body.
	ExpectBody string
	// Timeout bounds one attempt, connect to last byte; 0 means the interval, at most 10s.
	Timeout time.Duration
	// Interval between attempts; 0 means DefaultInterval.
	Interval time.Duration
	TLS      *TLSSpec
}

// TLSSpec is the TLS setup towards an https URL.
type TLSSpec struct {
	// CAFile holds the PEM certificates trusted instead of the system's.
	CAFile string
	// Insecure skips certificate verification.
	Insecure bool
}

// TCPSpec is a tcp probe block: a connect, then close.
type TCPSpec struct {
	Name     string
	Address  string // host:port
	Timeout  time.Duration
	Interval time.Duration
}

// Probe is one validated probe, ready to run.
type Probe struct {
	name     string
	interval time.Duration
	timeout  time.Duration
	kind     string
	warning  string
	attempt  func(ctx context.Context) Outcome
}

// Outcome is one attempt.
type Outcome struct {
	Probe    string
	Time     time.Time
	Success  bool
	Duration time.Duration
	// StatusCode is the HTTP status; 0 when there was no response (and for TCP).
	StatusCode int
	// Err says why the attempt failed, without secrets; empty on success.
	Err string
}

// Name is the probe's name, its probe label.
func (p *Probe) Name() string { return p.name }

// Interval is the time between attempts.
func (p *Probe) Interval() time.Duration { return p.interval }

// Timeout bounds one attempt.
func (p *Probe) Timeout() time.Duration { return p.timeout }

// Warning is what a reader of the report should know (disabled TLS verification), or "".
func (p *Probe) Warning() string { return p.warning }

func timing(name string, timeout, interval time.Duration) (time.Duration, time.Duration, error) {
	if interval == 0 {
		interval = DefaultInterval
	}
	if timeout == 0 {
		timeout = min(interval, maxDefaultTimeout)
	}
	if interval <= 0 {
		return 0, 0, fmt.Errorf("probe %q: interval %s must be positive, for example \"5s\"", name, interval)
	}
	if timeout <= 0 || timeout > interval {
		return 0, 0, fmt.Errorf("probe %q: timeout %s must be positive and at most the interval %s, so that attempts do not pile up", name, timeout, interval)
	}
	return timeout, interval, nil
}

// NewHTTP validates an http probe: its URL, method, status ranges, body expression
// and TLS files are checked now, not at the first attempt.
func NewHTTP(spec HTTPSpec) (*Probe, error) {
	if spec.Name == "" {
		return nil, errors.New("http probe has no name: name it (it becomes the probe label)")
	}
	u, err := url.Parse(spec.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("probe %q: url %q is not an http(s) URL such as http://127.0.0.1:8080/health", spec.Name, redact(spec.URL))
	}
	method := strings.ToUpper(spec.Method)
	if method == "" {
		method = http.MethodGet
	}
	if !httpMethod.MatchString(method) {
		return nil, fmt.Errorf("probe %q: method %q is not an HTTP method such as GET or POST", spec.Name, spec.Method)
	}
	statuses, err := ParseStatusRanges(spec.ExpectStatus)
	if err != nil {
		return nil, fmt.Errorf("probe %q: %w", spec.Name, err)
	}
	var bodyRE *regexp.Regexp
	if spec.ExpectBody != "" {
		if bodyRE, err = regexp.Compile(spec.ExpectBody); err != nil {
			return nil, fmt.Errorf("probe %q: expect_body is not a regular expression (RE2 syntax): %w", spec.Name, err)
		}
	}
	timeout, interval, err := timing(spec.Name, spec.Timeout, spec.Interval)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy: nil, // the service is probed directly, as its callers reach it
		DialContext: (&net.Dialer{
			Timeout: timeout,
		}).DialContext,
		// Every attempt opens its own connection, so that a refused or slow connect
		// shows in each probe and not only when a pooled connection breaks.
		DisableKeepAlives:     true,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ForceAttemptHTTP2:     true,
	}
	p := &Probe{name: spec.Name, interval: interval, timeout: timeout, kind: "http"}
	if spec.TLS != nil || u.Scheme == "https" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if t := spec.TLS; t != nil {
			if t.CAFile != "" {
				pem, err := os.ReadFile(t.CAFile)
				if err != nil {
					return nil, fmt.Errorf("probe %q: tls ca_file: %w", spec.Name, err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("probe %q: tls ca_file %s holds no PEM certificate", spec.Name, t.CAFile)
				}
				tc.RootCAs = pool
			}
			if t.Insecure {
				tc.InsecureSkipVerify = true
				p.warning = fmt.Sprintf("probe %q does not verify the TLS certificate of %s (insecure): it measures availability, not who answered", spec.Name, u.Host)
			}
		}
		tr.TLSClientConfig = tc
	}
	client := &http.Client{Transport: tr, Timeout: timeout}
	headers := http.Header{}
	for k, v := range spec.Headers {
		headers.Set(k, v)
	}
	target := u.String()
	shown := redact(spec.URL)
	p.attempt = func(ctx context.Context) Outcome {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		var body io.Reader
		if spec.Body != "" {
			body = strings.NewReader(spec.Body)
		}
		req, err := http.NewRequestWithContext(ctx, method, target, body)
		if err != nil {
			return Outcome{Err: fmt.Sprintf("request to %s: %v", shown, err)}
		}
		req.Header = headers.Clone()
		if req.Header.Get("User-Agent") == "" {
			req.Header.Set("User-Agent", "faultline-probe")
		}
		resp, err := client.Do(req)
		if err != nil {
			return Outcome{Err: describe(err, shown, timeout)}
		}
		defer resp.Body.Close()
		out := Outcome{StatusCode: resp.StatusCode}
		data, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		switch {
		case !statusOK(statuses, resp.StatusCode):
			out.Err = fmt.Sprintf("%s answered HTTP %d, outside expect_status", shown, resp.StatusCode)
		case readErr != nil:
			out.Err = describe(readErr, shown, timeout)
		case bodyRE != nil && !bodyRE.Match(data):
			out.Err = fmt.Sprintf("the body from %s does not match expect_body %q", shown, spec.ExpectBody)
		default:
			out.Success = true
		}
		return out
	}
	return p, nil
}

// NewTCP validates a tcp probe.
func NewTCP(spec TCPSpec) (*Probe, error) {
	if spec.Name == "" {
		return nil, errors.New("tcp probe has no name: name it (it becomes the probe label)")
	}
	host, port, err := net.SplitHostPort(spec.Address)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("probe %q: address %q is not host:port, for example 127.0.0.1:5432", spec.Name, spec.Address)
	}
	timeout, interval, err := timing(spec.Name, spec.Timeout, spec.Interval)
	if err != nil {
		return nil, err
	}
	p := &Probe{name: spec.Name, interval: interval, timeout: timeout, kind: "tcp"}
	var d net.Dialer
	p.attempt = func(ctx context.Context) Outcome {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		conn, err := d.DialContext(ctx, "tcp", spec.Address)
		if err != nil {
			return Outcome{Err: describe(err, spec.Address, timeout)}
		}
		conn.Close()
		return Outcome{Success: true}
	}
	return p, nil
}

// Once makes one attempt now. Its Time is when the attempt started.
func (p *Probe) Once(ctx context.Context) Outcome {
	start := time.Now()
	out := p.attempt(ctx)
	out.Probe, out.Time, out.Duration = p.name, start, time.Since(start)
	return out
}

// Series are the samples of one outcome.
func (p *Probe) Series(o Outcome) []metrics.Series {
	one := func(name string, v float64) metrics.Series {
		return metrics.Series{
			Labels:  map[string]string{"__name__": name, ProbeLabel: p.name},
			Samples: []metrics.Sample{{Time: o.Time, Value: v}},
		}
	}
	success := 0.0
	if o.Success {
		success = 1
	}
	out := []metrics.Series{one(SuccessMetric, success), one(DurationMetric, o.Duration.Seconds())}
	if p.kind == "http" {
		out = append(out, one(StatusCodeMetric, float64(o.StatusCode)))
	}
	return out
}

// Run makes every probe's attempts on its interval, the first at once, and appends
// each outcome to app, until ctx ends; it returns when every probe has stopped. An
// attempt cut short by ctx is not recorded. observe, when not nil, sees every
// recorded outcome and every append error (its Err then starts with "store: "); it is
// called from the probes' goroutines, one at a time.
func Run(ctx context.Context, app Appender, probes []*Probe, observe func(Outcome, error)) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	report := func(o Outcome, err error) {
		if observe == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		observe(o, err)
	}
	for _, p := range probes {
		wg.Go(func() {
			tick := time.NewTicker(p.interval)
			defer tick.Stop()
			for {
				o := p.Once(ctx)
				if ctx.Err() != nil {
					return
				}
				// The store is local: its own deadline, not the probe's.
				actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				err := app.Append(actx, p.Series(o)...)
				cancel()
				if err != nil {
					err = fmt.Errorf("store: probe %q: %w", p.name, err)
				}
				report(o, err)
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	wg.Wait()
}

// describe says why an attempt failed, without the URL's credentials or headers.
func describe(err error, target string, timeout time.Duration) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var nerr net.Error
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		return fmt.Sprintf("%s did not answer within the timeout (%s)", target, timeout)
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &certErr):
		return fmt.Sprintf("%s presented a certificate we do not trust (%v): set tls.ca_file", target, err)
	}
	return fmt.Sprintf("%s: %v", target, err)
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}
