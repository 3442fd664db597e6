package runner

import (
	"context"
	"time"
)

// One clock drives a run: every planned instant is computed from one reading of
// time.Now at its start, and every wait goes through sleepUntil. Logic tests run in
// testing/synctest bubbles, whose fake clock is what time.Now and timers read there.

// sleepUntil returns at t, or earlier with ctx's cause when ctx ends first.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return context.Cause(ctx)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
