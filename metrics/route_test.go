package metrics

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// fakeSource answers instant and range queries as the source called name: a series
// labelled with its name, and for the query "broken" an error naming it. It records
// what it was asked.
type fakeSource struct {
	name  string
	asked []string
}

func (f *fakeSource) answer(query string) ([]Series, error) {
	f.asked = append(f.asked, query)
	if query == "broken" {
		return nil, fmt.Errorf("%s: query failed", f.name)
	}
	return []Series{{Labels: map[string]string{"source": f.name}}}, nil
}

func (f *fakeSource) query(_ context.Context, query string, _ time.Time) ([]Series, error) {
	return f.answer(query)
}

func (f *fakeSource) rangeQuery(_ context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error) {
	if !start.Equal(t0) || !end.Equal(t0.Add(time.Minute)) || step != 5*time.Second {
		return nil, fmt.Errorf("%s: range [%s, %s] step %s, want the caller's", f.name, start, end, step)
	}
	return f.answer(query)
}

// routeCases: which source a query goes to, by the metric in its context.
var routeCases = []struct {
	name string
	ctx  context.Context
	want string
}{
	{"local metric", WithQuery(context.Background(), Query{Name: "a", Source: "local"}), "local"},
	{"prometheus metric", WithQuery(context.Background(), Query{Name: "b", Source: "prometheus"}), "prometheus"},
	{"metric of a source with no function", WithQuery(context.Background(), Query{Name: "c", Source: "elsewhere"}), "fallback"},
	{"metric without a source", WithQuery(context.Background(), Query{Name: "d"}), "fallback"},
	{"no metric", context.Background(), "fallback"},
}

func TestRouteSendsEachMetricToItsSource(t *testing.T) {
	t.Parallel()
	for _, c := range routeCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			local, prom, fallback := &fakeSource{name: "local"}, &fakeSource{name: "prometheus"}, &fakeSource{name: "fallback"}
			q := Route(map[string]QueryFunc{"local": local.query, "prometheus": prom.query}, fallback.query)
			got, err := q(c.ctx, "up", t0)
			if err != nil || len(got) != 1 || got[0].Labels["source"] != c.want {
				t.Fatalf("Route = %+v, %v; want the answer of %s", got, err, c.want)
			}
			_, err = q(c.ctx, "broken", t0)
			if err == nil || err.Error() != c.want+": query failed" {
				t.Errorf("Route error = %v, want %s's", err, c.want)
			}
			for _, f := range []*fakeSource{local, prom, fallback} {
				want := 0
				if f.name == c.want {
					want = 2
				}
				if len(f.asked) != want {
					t.Errorf("%s was asked %q, want both queries on %s only", f.name, f.asked, c.want)
				}
			}
		})
	}
}

func TestRouteRangeSendsEachMetricToItsSource(t *testing.T) {
	t.Parallel()
	for _, c := range routeCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			local, prom, fallback := &fakeSource{name: "local"}, &fakeSource{name: "prometheus"}, &fakeSource{name: "fallback"}
			q := RouteRange(map[string]RangeQueryFunc{"local": local.rangeQuery, "prometheus": prom.rangeQuery}, fallback.rangeQuery)
			got, err := q(c.ctx, "up", t0, t0.Add(time.Minute), 5*time.Second)
			if err != nil || len(got) != 1 || got[0].Labels["source"] != c.want {
				t.Fatalf("RouteRange = %+v, %v; want the answer of %s", got, err, c.want)
			}
			_, err = q(c.ctx, "broken", t0, t0.Add(time.Minute), 5*time.Second)
			if err == nil || err.Error() != c.want+": query failed" {
				t.Errorf("RouteRange error = %v, want %s's", err, c.want)
			}
			for _, f := range []*fakeSource{local, prom, fallback} {
				want := 0
				if f.name == c.want {
					want = 2
				}
				if len(f.asked) != want {
					t.Errorf("%s was asked %q, want both queries on %s only", f.name, f.asked, c.want)
				}
			}
		})
	}
}

// A source's error reaches the caller as it is: errors.Is still finds what it wraps.
func TestRouteKeepsTheSourcesError(t *testing.T) {
	t.Parallel()
	sentinel := errors.New("the store is closed")
	q := Route(map[string]QueryFunc{"local": func(context.Context, string, time.Time) ([]Series, error) {
		return nil, fmt.Errorf("local: %w", sentinel)
	}}, nil)
	_, err := q(WithQuery(context.Background(), Query{Source: "local"}), "up", t0)
	if !errors.Is(err, sentinel) {
		t.Errorf("Route error = %v, want one wrapping %v", err, sentinel)
	}
}
