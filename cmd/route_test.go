package cmd

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/metrics"
)

var routeAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeSource stands for the embedded store or the server: every answer is a series
// labelled with its name and the way it was asked, and the query "broken" fails with
// an error naming it.
type fakeSource struct{ name string }

func (f fakeSource) answer(how, query string) ([]metrics.Series, error) {
	if query == "broken" {
		return nil, fmt.Errorf("%s %s: query failed", f.name, how)
	}
	return []metrics.Series{{Labels: map[string]string{"source": f.name, "how": how}}}, nil
}

func (f fakeSource) Query(_ context.Context, query string, _ time.Time) ([]metrics.Series, error) {
	return f.answer("query", query)
}

func (f fakeSource) RangeQuery(_ context.Context, query string, _, _ time.Time, _ time.Duration) ([]metrics.Series, error) {
	return f.answer("range", query)
}

func (f fakeSource) Raw(_ context.Context, query string, _ time.Time) ([]metrics.Series, error) {
	return f.answer("raw", query)
}

// TestObservationQueriesRouteBySource: a metric with source = "local" is evaluated on
// the embedded store and one with source = "prometheus" on the server, by all three
// of query, range query and raw samples, and its errors are its source's; a query of
// no metric goes to the server when there is one.
func TestObservationQueriesRouteBySource(t *testing.T) {
	t.Parallel()
	store, server := fakeSource{name: "store"}, fakeSource{name: "server"}
	metric := func(source string) context.Context {
		return metrics.WithQuery(context.Background(), metrics.Query{Name: "m", Expr: "up", Source: source})
	}
	for _, c := range []struct {
		name          string
		store, server querySource
		ctx           context.Context
		want          string
	}{
		{"local metric, both sources", store, server, metric(experiments.SourceLocal), "store"},
		{"prometheus metric, both sources", store, server, metric(experiments.SourcePrometheus), "server"},
		{"no metric, both sources", store, server, context.Background(), "server"},
		{"local metric, store only", store, nil, metric(experiments.SourceLocal), "store"},
		{"no metric, store only", store, nil, context.Background(), "store"},
		{"prometheus metric, server only", nil, server, metric(experiments.SourcePrometheus), "server"},
		{"no metric, server only", nil, server, context.Background(), "server"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			query, rangeQuery, raw := routeQueries(c.store, c.server)
			ask := map[string]func(q string) ([]metrics.Series, error){
				"query": func(q string) ([]metrics.Series, error) { return query(c.ctx, q, routeAt) },
				"range": func(q string) ([]metrics.Series, error) {
					return rangeQuery(c.ctx, q, routeAt, routeAt.Add(time.Minute), 5*time.Second)
				},
				"raw": func(q string) ([]metrics.Series, error) { return raw(c.ctx, q, routeAt) },
			}
			for how, f := range ask {
				got, err := f("up")
				if err != nil || len(got) != 1 || got[0].Labels["source"] != c.want || got[0].Labels["how"] != how {
					t.Errorf("%s = %+v, %v; want the %s's %s", how, got, err, c.want, how)
				}
				_, err = f("broken")
				if want := c.want + " " + how + ": query failed"; err == nil || err.Error() != want {
					t.Errorf("%s error = %v, want %q", how, err, want)
				}
			}
		})
	}
}
