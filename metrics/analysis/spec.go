package analysis

import "time"

// MetricSpec is what the analysis needs of a metric block beyond its observed series.
type MetricSpec struct {
	Name string
	// ToleranceAbs (in the metric's unit) or ToleranceRel (a share of the baseline mean)
	// replaces the default band tolerance when either is set (Options).
	ToleranceAbs float64
	ToleranceRel float64
}

// CheckSpec is one check block: bounds on a metric during some phases.
type CheckSpec struct {
	Name   string
	Metric string
	// Exactly the operators that were set are non-nil; Within is an inclusive band.
	Below  *float64
	Above  *float64
	Within *[2]float64
	// MaxChange is the largest allowed change relative to the baseline mean, as a
	// fraction (0.5 for "50%").
	MaxChange *float64
	// Aggregate is "all" (every sample must hold; also the default), "mean", "min",
	// "max", "p50", "p95" or "p99".
	Aggregate string
	// During lists the phases; empty means DefaultDuring.
	During []string
	// RecoverWithin: after the last fault ends, the metric must be back in bounds
	// within this time and stay there (0: not checked).
	RecoverWithin time.Duration
}

// AbortSpec is one abort guard: a bound that, held for For, stops the harm.
type AbortSpec struct {
	Name   string
	Metric string
	Above  *float64
	Below  *float64
	For    time.Duration
}
