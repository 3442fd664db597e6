package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ErrPreflight marks a Prometheus that cannot watch the experiment: unreachable, not
// ready, refusing our credentials, or rejecting a query. The run must not start.
var ErrPreflight = errors.New("prometheus preflight failed")

// Preflight checks that the server is ready and that every metric's query parses,
// evaluates once and returns an instant vector or a scalar (ErrNotInstant), so that a
// typo in PromQL or a range selector is caught before any fault. Every failing
// query is reported, each with its file:line and Prometheus's own message.
func (c *Client) Preflight(ctx context.Context, ms []Query) error {
	if err := c.ready(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrPreflight, err)
	}
	var errs []error
	now := time.Now()
	for _, m := range ms {
		if _, err := c.Query(ctx, m.Expr, now); err != nil {
			errs = append(errs, fmt.Errorf("%s: metric %q: %w", m.where(), m.Name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrPreflight, errors.Join(errs...))
	}
	return nil
}

// ready asks /-/ready; a server (or proxy) that does not serve it may still answer
// the buildinfo API, which is enough.
func (c *Client) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/-/ready"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("prometheus readiness request: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.explain(err)
	}
	return c.redact(c.readyAnswer(ctx, resp))
}

func (c *Client) readyAnswer(ctx context.Context, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("prometheus at %s refused the credentials (HTTP %d): check bearer_token_file, bearer_token_env or basic_auth", c.URL(), resp.StatusCode)
	case resp.StatusCode == http.StatusNotFound:
		if _, err := c.api.Buildinfo(ctx); err != nil {
			return c.explain(err)
		}
		return nil
	default:
		return fmt.Errorf("prometheus at %s is not ready (HTTP %d: %s): wait for it to start or check its log", c.URL(), resp.StatusCode, strings.TrimSpace(string(body)))
	}
}
