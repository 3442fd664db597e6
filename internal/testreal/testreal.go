// Package testreal decides what a test does when a real part it needs (Docker,
// Prometheus, the kernel sandbox, a capability) is missing: skip with a one-line
// reason on a developer's machine, fail in CI where FAULTLINE_REQUIRE_REAL=1.
package testreal

import (
	"os"
	"testing"
)

// Required reports whether missing real parts must fail tests (CI).
func Required() bool { return os.Getenv("FAULTLINE_REQUIRE_REAL") == "1" }

// Missing skips t, or fails it when real parts are required, with a one-line reason.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf("FAULTLINE_REQUIRE_REAL=1 but "+format, args...)
	}
	t.Skipf("skipped: "+format, args...)
}
