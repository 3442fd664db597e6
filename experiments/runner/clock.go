package runner

import (
	"context"
	"time"
)

// Clock is the runner's single source of time: every planned instant is computed from
// one start reading and every wait goes through SleepUntil, so a logic test can run a
// ten-minute experiment on a fake clock in milliseconds.
type Clock interface {
	Now() time.Time
	// SleepUntil returns at t, or earlier with ctx's cause when ctx ends first.
	SleepUntil(ctx context.Context, t time.Time) error
}

// RealClock is wall-clock time.
type RealClock struct{}

func (RealClock) Now() time.Time { return time.Now() }

func (RealClock) SleepUntil(ctx context.Context, t time.Time) error {
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
