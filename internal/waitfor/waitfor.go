// Package waitfor is the tests' one way to wait: poll a condition until it holds or a
// deadline passes, never a fixed sleep.
package waitfor

import (
	"fmt"
	"testing"
	"time"
)

// every is how often a condition is polled: often enough to measure against a real
// engine or kernel, rarely enough to leave them the CPU on a loaded 2-core machine.
const every = 5 * time.Millisecond

// Poll reports whether cond held within timeout, polling it.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// Condition waits until cond holds, and fails t after timeout naming what it waited
// for, followed by detail (a process's output, say) when given.
func Condition(t testing.TB, timeout time.Duration, what string, cond func() bool, detail ...fmt.Stringer) {
	t.Helper()
	if Poll(timeout, cond) {
		return
	}
	msg := fmt.Sprintf("timed out after %s waiting for %s", timeout, what)
	for _, d := range detail {
		msg += "\n" + d.String()
	}
	t.Fatal(msg)
}
