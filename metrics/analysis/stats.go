// Package analysis turns what was observed during a run into the analysis parts of a
// Result: statistics per phase, impact and its significance, time to impact and to
// recover, check verdicts with evidence, the resilience score, and the abort-guard
// predicate the runner evaluates live. Everything here is a pure function of plain data.
package analysis

import (
	"math"
	"sort"

	"github.com/faultline/faultline/result"
)

// Summarize computes the statistics of values. Percentiles interpolate linearly between
// closest ranks (numpy's default); the standard deviation is the sample one (n-1).
// Values may be ±Inf (never NaN: that is a gap): min, max and percentiles are then the
// infinite value where it ranks, the mean is ±Inf (NaN when both +Inf and -Inf occur:
// no mean), and the standard deviation is +Inf, as the spread is unbounded.
func Summarize(values []float64) result.Stats {
	n := len(values)
	if n == 0 {
		return result.Stats{}
	}
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	sum := 0.0
	for _, v := range sorted {
		sum += v
	}
	mean := sum / float64(n)
	if math.IsInf(sorted[0], 0) || math.IsInf(sorted[n-1], 0) {
		return result.Stats{
			Count: n, Mean: mean, Min: sorted[0], Max: sorted[n-1],
			P50: quantileSorted(sorted, 0.50), P95: quantileSorted(sorted, 0.95), P99: quantileSorted(sorted, 0.99),
			Stddev: math.Inf(1),
		}
	}
	ss := 0.0
	for _, v := range sorted {
		ss += (v - mean) * (v - mean)
	}
	sd := 0.0
	if n > 1 {
		sd = math.Sqrt(ss / float64(n-1))
	}
	if sd < 1e-12*math.Abs(mean) {
		sd = 0 // rounding noise of equal values, not spread
	}
	return result.Stats{
		Count:  n,
		Mean:   mean,
		Min:    sorted[0],
		Max:    sorted[n-1],
		P50:    quantileSorted(sorted, 0.50),
		P95:    quantileSorted(sorted, 0.95),
		P99:    quantileSorted(sorted, 0.99),
		Stddev: sd,
	}
}

// quantileSorted is the q-quantile of sorted values by linear interpolation between
// closest ranks: h = (n-1)q.
func quantileSorted(sorted []float64, q float64) float64 {
	n := len(sorted)
	if n == 1 {
		return sorted[0]
	}
	h := float64(n-1) * q
	lo := int(math.Floor(h))
	if lo >= n-1 {
		return sorted[n-1]
	}
	a, b, frac := sorted[lo], sorted[lo+1], h-float64(lo)
	switch {
	case frac == 0 || a == b:
		return a
	case math.IsInf(a, -1) || math.IsInf(b, 1):
		// Between an infinite value and anything else lies the infinite one (the
		// formula would give NaN for -Inf + frac·(+Inf)).
		if math.IsInf(a, -1) {
			return a
		}
		return b
	}
	return a + frac*(b-a)
}

// MannWhitney tests whether x and y come from the same distribution: two-sided
// Mann-Whitney U. U is the statistic of x (the number of pairs in which x is greater,
// ties counting one half). The p-value is exact when there are no ties and the samples
// are small (len(x)·len(y) <= ExactLimit); otherwise it uses the normal approximation
// with tie correction and continuity correction. method is "exact" or "normal". With an
// empty sample it returns U 0, p 1.
func MannWhitney(x, y []float64) (u, p float64, method string) {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return 0, 1, "normal"
	}
	type obs struct {
		v     float64
		fromX bool
	}
	all := make([]obs, 0, n1+n2)
	for _, v := range x {
		all = append(all, obs{v, true})
	}
	for _, v := range y {
		all = append(all, obs{v, false})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].v < all[j].v })
	// Midranks, and the tie term Σ(t³ - t) over groups of equal values.
	rankSumX, tieTerm := 0.0, 0.0
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		mid := float64(i+1+j) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if all[k].fromX {
				rankSumX += mid
			}
		}
		t := float64(j - i)
		tieTerm += t*t*t - t
		i = j
	}
	fn1, fn2 := float64(n1), float64(n2)
	u = rankSumX - fn1*(fn1+1)/2
	if tieTerm == 0 && n1*n2 <= ExactLimit {
		return u, exactP(n1, n2, u), "exact"
	}
	n := fn1 + fn2
	mu := fn1 * fn2 / 2
	variance := fn1 * fn2 / 12 * ((n + 1) - tieTerm/(n*(n-1)))
	if variance <= 0 {
		return u, 1, "normal" // every value equal: no evidence of a difference
	}
	// Two-sided: take the larger of U and its complement, so the correction moves toward the mean.
	big := math.Max(u, fn1*fn2-u)
	z := (big - mu - 0.5) / math.Sqrt(variance)
	p = math.Erfc(z / math.Sqrt2) // 2·(1-Φ(z))
	return u, math.Min(1, p), "normal"
}

// ExactLimit is the largest product of sample sizes for which MannWhitney computes the
// exact distribution of U (cost grows with its cube).
const ExactLimit = 400

// exactP is the exact two-sided p-value of U for samples of sizes m and n without ties:
// 2·min(P(U <= u), P(U >= u)), capped at 1. The counts of arrangements with each U are
// the coefficients of the Gaussian binomial coefficient [m+n choose m]_q.
func exactP(m, n int, u float64) float64 {
	counts := gaussianBinomial(m, n)
	total := 0.0
	for _, c := range counts {
		total += c
	}
	k := int(math.Round(u))
	lower, upper := 0.0, 0.0
	for i, c := range counts {
		if i <= k {
			lower += c
		}
		if i >= k {
			upper += c
		}
	}
	return math.Min(1, 2*math.Min(lower, upper)/total)
}

// gaussianBinomial returns the coefficients of [m+n choose m]_q = Π_{i=1..m} (1-q^{n+i})/(1-q^i),
// the number of ways U can take each value 0..m·n.
func gaussianBinomial(m, n int) []float64 {
	size := m*n + 1
	c := make([]float64, size)
	c[0] = 1
	for i := 1; i <= m; i++ {
		// Multiply by (1 - q^{n+i}), from the top so each term reads the old coefficient.
		for k := size - 1; k >= n+i; k-- {
			c[k] -= c[k-n-i]
		}
		// Divide by (1 - q^i): a running sum with stride i.
		for k := i; k < size; k++ {
			c[k] += c[k-i]
		}
	}
	return c
}
