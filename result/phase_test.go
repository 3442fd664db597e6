package result

import (
	"testing"
	"time"
)

func TestPhaseOf(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tl := Timeline{BaselineStart: at(0), FaultStart: at(60), FaultEnd: at(120), RecoveryEnd: at(180)}
	for _, tt := range []struct {
		t    time.Time
		want string
	}{
		{at(-1), ""}, {at(0), PhaseBaseline}, {at(59), PhaseBaseline}, {at(60), PhaseFault},
		{at(119), PhaseFault}, {at(120), PhaseRecovery}, {at(500), PhaseRecovery},
	} {
		if got := tl.PhaseOf(tt.t); got != tt.want {
			t.Errorf("PhaseOf(%v) = %q, want %q", tt.t.Sub(t0), got, tt.want)
		}
	}
}
