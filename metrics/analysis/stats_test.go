package analysis

import (
	"math"
	"testing"

	"github.com/faultline/faultline/result"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

// Reference values were computed with Python 3's standard library on this machine
// (statistics.mean, statistics.median, statistics.stdev and
// statistics.quantiles(data, n=100, method="inclusive"), which is the same linear
// interpolation as numpy's default).
func TestSummarize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []float64
		want result.Stats
	}{
		{"empty", nil, result.Stats{}},
		{"one", []float64{3}, result.Stats{Count: 1, Mean: 3, Min: 3, Max: 3, P50: 3, P95: 3, P99: 3}},
		{"latencies with an outlier", []float64{0.12, 0.15, 0.11, 0.19, 0.14, 0.13, 0.5, 0.16, 0.12, 0.18},
			result.Stats{Count: 10, Mean: 0.18, Min: 0.11, Max: 0.5, P50: 0.145, P95: 0.3605, P99: 0.4721, Stddev: 0.11547005383792515}},
		{"two", []float64{1, 2}, result.Stats{Count: 2, Mean: 1.5, Min: 1, Max: 2, P50: 1.5, P95: 1.95, P99: 1.99, Stddev: math.Sqrt(0.5)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Summarize(tt.in)
			if got.Count != tt.want.Count {
				t.Fatalf("count %d, want %d", got.Count, tt.want.Count)
			}
			for _, f := range []struct {
				name      string
				got, want float64
			}{
				{"mean", got.Mean, tt.want.Mean}, {"min", got.Min, tt.want.Min}, {"max", got.Max, tt.want.Max},
				{"p50", got.P50, tt.want.P50}, {"p95", got.P95, tt.want.P95}, {"p99", got.P99, tt.want.P99},
				{"stddev", got.Stddev, tt.want.Stddev},
			} {
				if !near(f.got, f.want, 1e-12) {
					t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
				}
			}
		})
	}
}

// Reference p-values:
//   - "scipy docs example": scipy.stats.mannwhitneyu's documented example (males vs
//     females), statistic 17.0, exact p 0.1111111111111111; Python's enumeration
//     below gives the same.
//   - exact cases: Python 3 enumerating every assignment of the pooled values with
//     itertools.combinations (small cases) or counting orderings with the recurrence
//     f(m,n,u) = f(m-1,n,u-n) + f(m,n-1,u) (larger ones), then 2·min(P(U<=u), P(U>=u)).
//   - normal cases (ties): Python 3 with math.erfc, midranks, tie-corrected variance
//     n1·n2/12·((n+1) - Σ(t³-t)/(n(n-1))) and continuity correction 0.5, as scipy's
//     asymptotic method does.
func TestMannWhitney(t *testing.T) {
	t.Parallel()
	seq := func(n int, start, step float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = start + step*float64(i)
		}
		return out
	}
	tests := []struct {
		name       string
		x, y       []float64
		wantU      float64
		wantP      float64
		wantMethod string
	}{
		{"scipy docs example", []float64{19, 22, 16, 29, 24}, []float64{20, 11, 17, 12}, 17, 0.1111111111111111, "exact"},
		{"fully separated 3x3", []float64{1, 2, 3}, []float64{4, 5, 6}, 0, 0.1, "exact"},
		{"interleaved 6x7", []float64{1.1, 2.5, 3.3, 8.1, 9.9, 4.2}, []float64{5.5, 6.1, 7.2, 0.3, 10.5, 11.2, 12.9}, 12, 0.23426573426573427, "exact"},
		{"exact 20x20", seq(20, 0, 0.1), seq(20, 0.05, 0.1), 190, 0.799407187161697, "exact"},
		{"separated 15x12", seq(15, 10, 1), seq(12, 0, 0.5), 180, 1.1504924683010562e-07, "exact"},
		{"ties 12x14", []float64{1, 2, 2, 3, 3, 3, 4, 5, 5, 6, 7, 7}, []float64{3, 4, 5, 5, 6, 6, 7, 8, 8, 9, 9, 10, 10, 11}, 27, 0.0034714494857095253, "normal"},
		{"all equal", []float64{2, 2, 2}, []float64{2, 2, 2, 2}, 6, 1, "normal"},
		{"empty", nil, []float64{1}, 0, 1, "normal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, p, method := MannWhitney(tt.x, tt.y)
			if u != tt.wantU || method != tt.wantMethod || !near(p, tt.wantP, 1e-9) {
				t.Errorf("MannWhitney = U %v p %v (%s), want U %v p %v (%s)", u, p, method, tt.wantU, tt.wantP, tt.wantMethod)
			}
		})
	}
}

// Without ties, samples just over ExactLimit (21·20 pairs) take the normal
// approximation. Reference from Python 3 (as for the normal cases of TestMannWhitney).
func TestMannWhitneyNormalNoTies(t *testing.T) {
	t.Parallel()
	x := make([]float64, 21)
	y := make([]float64, 20)
	for i := range x {
		x[i] = 0.1 * float64(i)
	}
	for i := range y {
		y[i] = 0.1*float64(i) + 0.75
	}
	u, p, method := MannWhitney(x, y)
	if method != "normal" || u != 91 || !near(p, 0.0019967172743779625, 1e-9) {
		t.Errorf("MannWhitney = U %v p %v (%s), want U 91 p 0.0019967172743779625 (normal)", u, p, method)
	}
}
