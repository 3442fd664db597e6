package faults

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Budget is the retry budget of one revert: every step of the revert (an inspect, an
// unpause, a qdisc delete, a read-back) draws its retries from the same count of
// attempts, and none outlives the revert's context. A revert that fails over and over
// thus gives up after a bounded number of calls, however many steps it has.
type Budget struct {
	mu         sync.Mutex
	left       int
	first, max time.Duration
}

// NewBudget returns a budget of attempts retries in all (each step's first call is
// free), waiting first before the first retry and doubling up to most.
func NewBudget(attempts int, first, most time.Duration) *Budget {
	return &Budget{left: attempts, first: first, max: most}
}

// take draws one attempt; false when the budget is spent.
func (b *Budget) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.left <= 0 {
		return false
	}
	b.left--
	return true
}

// Do runs op, and again after a growing pause while it fails with an error retryable
// accepts, until it succeeds, the budget is spent or ctx ends. The first call is always
// made, even on a spent budget. The error returned is op's last.
func (b *Budget) Do(ctx context.Context, retryable func(error) bool, op func() error) error {
	exp := backoff.NewExponentialBackOff()
	exp.InitialInterval, exp.MaxInterval, exp.Multiplier = b.first, b.max, 2
	exp.RandomizationFactor = 0.2
	var last error
	attempts := 0
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		if attempts > 0 && !b.take() {
			return struct{}{}, backoff.Permanent(last)
		}
		attempts++
		last = op()
		if last != nil && !retryable(last) {
			return struct{}{}, backoff.Permanent(last)
		}
		return struct{}{}, last
	}, backoff.WithBackOff(exp), backoff.WithMaxElapsedTime(0))
	if err == nil {
		return nil
	}
	if last != nil && !errors.Is(err, last) {
		// The context ended first: say so, but keep what the step itself said.
		return fmt.Errorf("%w (gave up after %d attempts: %v)", last, attempts, err)
	}
	if attempts > 1 {
		return fmt.Errorf("%w (after %d attempts)", last, attempts)
	}
	return last
}
