// Package metrics reads the watched metrics from a Prometheus server: the client behind
// our own small query function types, the preflight that proves every query evaluates
// before any fault is injected, live sampling for abort guards and the live view, and
// the final range query the analysis (metrics/analysis) reads.
package metrics

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/result"
	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Sample is one value of a series at one time. Value may be NaN or ±Inf as Prometheus
// returned it; the analysis records those as gaps.
type Sample struct {
	Time  time.Time
	Value float64
}

// Series is one labelled series a query returned.
type Series struct {
	Labels  map[string]string
	Samples []Sample
}

// QueryFunc evaluates an instant query at a time: one sample per returned series.
type QueryFunc func(ctx context.Context, query string, at time.Time) ([]Series, error)

// RangeQueryFunc evaluates a query over [start, end] at step resolution.
type RangeQueryFunc func(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error)

// MaxConcurrentQueries bounds the queries a Sampler runs at once.
const MaxConcurrentQueries = 8

// DefaultTimeout bounds one query when the experiment sets no timeout.
const DefaultTimeout = 10 * time.Second

// Client talks to one Prometheus server as an experiment's prometheus block says.
type Client struct {
	api      v1.API
	http     *http.Client
	base     *url.URL
	timeout  time.Duration
	warnings []string
	// secrets are the credentials this client sends, in every form a server could
	// echo them: no error text leaves the client with one of them in it.
	secrets []string
}

// ClientConfig says how to reach one Prometheus server: the experiment's prometheus
// block, as the caller translates it.
type ClientConfig struct {
	URL string
	// BearerTokenFile or BearerTokenEnv (the name of an environment variable) holds the
	// token sent as "Authorization: Bearer".
	BearerTokenFile string
	BearerTokenEnv  string
	BasicAuth       *BasicAuth
	TLS             *TLSConfig
	Headers         map[string]string
	// Timeout bounds one query; 0 means DefaultTimeout.
	Timeout time.Duration
}

// BasicAuth is HTTP basic authentication with the password read from a file.
type BasicAuth struct {
	Username     string
	PasswordFile string
}

// TLSConfig is the TLS setup towards the server.
type TLSConfig struct {
	CAFile             string
	CertFile           string
	KeyFile            string
	ServerName         string
	InsecureSkipVerify bool
}

// NewClient builds a client from cfg. Secrets are read
// from the files and environment variables the block names now, so that a missing file
// fails before the run; they never appear in errors. getenv is os.Getenv in production.
func NewClient(cfg *ClientConfig, getenv func(string) string) (*Client, error) {
	if cfg == nil {
		return nil, errors.New("no prometheus block: add one with the url of the server that scrapes the targets")
	}
	base, err := url.Parse(cfg.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("prometheus url %q is not an http(s) URL such as http://127.0.0.1:9090", redactURL(cfg.URL))
	}
	c := &Client{base: base, timeout: cfg.Timeout}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // Prometheus is reached directly; a proxy in the environment would see our credentials
	// The sampler queries every metric at once each step: keep that many connections
	// alive instead of the default two, or each step pays for new ones.
	tr.MaxIdleConnsPerHost = MaxConcurrentQueries
	if cfg.TLS != nil || base.Scheme == "https" {
		tc, warn, err := tlsConfig(cfg.TLS)
		if err != nil {
			return nil, err
		}
		if warn != "" {
			c.warnings = append(c.warnings, warn)
		}
		tr.TLSClientConfig = tc
	}

	auth := &authTransport{next: tr, headers: map[string]string{}}
	for k, v := range cfg.Headers {
		auth.headers[http.CanonicalHeaderKey(k)] = v
	}
	switch {
	case cfg.BearerTokenFile != "":
		tok, err := readSecretFile(cfg.BearerTokenFile, "bearer_token_file")
		if err != nil {
			return nil, err
		}
		auth.headers["Authorization"] = "Bearer " + tok
		c.secrets = append(c.secrets, tok)
	case cfg.BearerTokenEnv != "":
		if getenv == nil {
			getenv = os.Getenv
		}
		tok := strings.TrimSpace(getenv(cfg.BearerTokenEnv))
		if tok == "" {
			return nil, fmt.Errorf("prometheus bearer token: environment variable %s is empty or unset: export it before the run", cfg.BearerTokenEnv)
		}
		auth.headers["Authorization"] = "Bearer " + tok
		c.secrets = append(c.secrets, tok)
	}
	if ba := cfg.BasicAuth; ba != nil {
		pw := ""
		if ba.PasswordFile != "" {
			if pw, err = readSecretFile(ba.PasswordFile, "basic_auth password_file"); err != nil {
				return nil, err
			}
		}
		auth.basicUser, auth.basicPass, auth.basic = ba.Username, pw, true
		if pw != "" {
			c.secrets = append(c.secrets, pw, base64.StdEncoding.EncodeToString([]byte(ba.Username+":"+pw)))
		}
	}
	for k, v := range auth.headers {
		if k != "Authorization" && sensitiveHeader(k) && v != "" {
			c.secrets = append(c.secrets, v)
		}
	}
	c.http = &http.Client{Transport: auth, Timeout: c.timeout}
	cl, err := api.NewClient(api.Config{Address: base.String(), Client: c.http})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", redactURL(cfg.URL), err)
	}
	c.api = v1.NewAPI(cl)
	return c, nil
}

// Warnings returns what a reader of the report should know about the connection, such
// as disabled TLS verification.
func (c *Client) Warnings() []string { return append([]string(nil), c.warnings...) }

// URL is the server's address without credentials.
func (c *Client) URL() string { return redactURL(c.base.String()) }

// Query evaluates an instant query. It is a QueryFunc.
func (c *Client) Query(ctx context.Context, query string, at time.Time) ([]Series, error) {
	return c.instant(ctx, query, at, true)
}

// Raw evaluates an instant query that may return a range vector, such as
// `errors_total[1m]`: the raw samples with their scrape times. It is a QueryFunc.
func (c *Client) Raw(ctx context.Context, query string, at time.Time) ([]Series, error) {
	return c.instant(ctx, query, at, false)
}

// instant runs an instant query; instantOnly refuses a range vector or a string.
func (c *Client) instant(ctx context.Context, query string, at time.Time, instantOnly bool) ([]Series, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	v, _, _, err := c.api.Query(ctx, query, at, v1.WithTimeout(c.timeout))
	if err != nil {
		return nil, c.explain(err)
	}
	out, err := fromValue(v, instantOnly)
	if err != nil {
		return nil, c.redact(err)
	}
	return out, nil
}

// RangeQuery evaluates a query over [start, end] at step resolution. It is a RangeQueryFunc.
func (c *Client) RangeQuery(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error) {
	if step <= 0 {
		return nil, fmt.Errorf("range query step must be positive, got %s", step)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	v, _, _, err := c.api.QueryRange(ctx, query, v1.Range{Start: start, End: end, Step: step}, v1.WithTimeout(c.timeout))
	if err != nil {
		return nil, c.explain(err)
	}
	out, err := fromValue(v, false)
	if err != nil {
		return nil, c.redact(err)
	}
	return out, nil
}

// explain turns a client error into one that says what to do, without secrets.
func (c *Client) explain(err error) error {
	return c.redact(c.explainRaw(err))
}

func (c *Client) explainRaw(err error) error {
	var apiErr *v1.Error
	if errors.As(err, &apiErr) {
		switch {
		case strings.Contains(apiErr.Msg, "401"), strings.Contains(apiErr.Msg, "403"):
			return fmt.Errorf("prometheus at %s refused the credentials (%s): check bearer_token_file, bearer_token_env or basic_auth: %w", c.URL(), apiErr.Msg, err)
		case apiErr.Type == v1.ErrBadData:
			return fmt.Errorf("prometheus rejected the query: %s: %w", apiErr.Msg, err)
		case apiErr.Type == v1.ErrBadResponse && strings.Contains(apiErr.Msg, "unexpected value type"):
			// client_golang decodes vectors, matrices and scalars only: a string result.
			return fmt.Errorf("%w: it returned a string (%s); faultline reads numbers only", ErrNotInstant, apiErr.Msg)
		}
		if detail := strings.TrimSpace(apiErr.Detail); detail != "" {
			if len(detail) > maxErrorBody {
				detail = detail[:maxErrorBody] + "…"
			}
			return fmt.Errorf("prometheus at %s: %w (the server said: %s)", c.URL(), err, detail)
		}
		return fmt.Errorf("prometheus at %s: %w", c.URL(), err)
	}
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &certErr):
		return fmt.Errorf("prometheus at %s presented a certificate we do not trust: set the tls block's ca_file (or server_name when the name differs): %w", c.URL(), err)
	case strings.Contains(err.Error(), "tls: "), strings.Contains(err.Error(), "remote error"):
		return fmt.Errorf("TLS handshake with prometheus at %s failed: check the tls block (ca_file, cert_file and key_file for a client certificate, server_name): %w", c.URL(), err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("prometheus at %s did not answer within %s: raise the prometheus block's timeout or check the server's load: %w", c.URL(), c.timeout, err)
	}
	return fmt.Errorf("prometheus at %s is unreachable: check the url and that the server runs: %w", c.URL(), err)
}

// ErrNotInstant marks a metric query whose instant result is not an instant vector or a
// scalar: a range vector (`up[1m]`) would bring back samples from before the time asked
// for, and a string is no number.
var ErrNotInstant = errors.New("a metric query must return an instant vector or a scalar")

// maxErrorBody bounds how much of a server's error body an error message quotes.
const maxErrorBody = 512

// fromValue converts a query result. An instant query (instant) must return an instant
// vector or a scalar; a range query returns a matrix.
func fromValue(v model.Value, instant bool) ([]Series, error) {
	if m, ok := v.(model.Matrix); ok && instant {
		return nil, fmt.Errorf("%w: it returned a range vector (%d series of several samples each): drop the range selector ([1m]) or wrap it in a function such as rate() or avg_over_time()", ErrNotInstant, len(m))
	}
	switch v := v.(type) {
	case model.Vector:
		out := make([]Series, 0, len(v))
		for _, s := range v {
			out = append(out, Series{
				Labels:  labelMap(s.Metric),
				Samples: []Sample{{Time: s.Timestamp.Time().UTC(), Value: float64(s.Value)}},
			})
		}
		sortSeries(out)
		return out, nil
	case model.Matrix:
		out := make([]Series, 0, len(v))
		for _, s := range v {
			ser := Series{Labels: labelMap(s.Metric), Samples: make([]Sample, 0, len(s.Values))}
			for _, p := range s.Values {
				ser.Samples = append(ser.Samples, Sample{Time: p.Timestamp.Time().UTC(), Value: float64(p.Value)})
			}
			out = append(out, ser)
		}
		sortSeries(out)
		return out, nil
	case *model.Scalar:
		return []Series{{Labels: map[string]string{}, Samples: []Sample{{Time: v.Timestamp.Time().UTC(), Value: float64(v.Value)}}}}, nil
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("%w: it returned a %s", ErrNotInstant, v.Type())
	}
}

func labelMap(m model.Metric) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[string(k)] = string(v)
	}
	return out
}

func sortSeries(s []Series) {
	sort.SliceStable(s, func(i, j int) bool { return result.LabelString(s[i].Labels) < result.LabelString(s[j].Labels) })
}

type authTransport struct {
	next                 http.RoundTripper
	headers              map[string]string
	basic                bool
	basicUser, basicPass string
}

func (a *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range a.headers {
		req.Header.Set(k, v)
	}
	if a.basic {
		req.SetBasicAuth(a.basicUser, a.basicPass)
	}
	return a.next.RoundTrip(req)
}

func tlsConfig(t *TLSConfig) (*tls.Config, string, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t == nil {
		return tc, "", nil
	}
	tc.ServerName = t.ServerName
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, "", fmt.Errorf("prometheus tls ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, "", fmt.Errorf("prometheus tls ca_file %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, "", errors.New("prometheus tls: cert_file and key_file go together: set both or neither")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			// The key's content never reaches the message: LoadX509KeyPair names only the failure.
			return nil, "", fmt.Errorf("prometheus tls client certificate %s: %w", t.CertFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	warn := ""
	if t.InsecureSkipVerify {
		tc.InsecureSkipVerify = true
		warn = "TLS certificate verification of the Prometheus server is disabled (insecure_skip_verify): anyone on the path can read and change the metrics"
	}
	return tc, warn, nil
}

func readSecretFile(path, what string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("prometheus %s: %w", what, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("prometheus %s %s is empty", what, path)
	}
	return s, nil
}

// redact rewrites err's message without any credential this client sends, keeping err
// underneath for errors.Is and errors.As.
func (c *Client) redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := RedactSecrets(msg, c.secrets)
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

// RedactSecrets replaces every occurrence of each secret in s by "(redacted)".
func RedactSecrets(s string, secrets []string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "(redacted)")
		}
	}
	return s
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// sensitiveHeader says whether a configured header carries a credential.
func sensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "auth") || strings.Contains(n, "token") || strings.Contains(n, "key") ||
		strings.Contains(n, "secret") || strings.Contains(n, "cookie") || strings.Contains(n, "password")
}

// redactURL hides a password written into a URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}
