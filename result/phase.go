package result

import "time"

// Phase names: [BaselineStart, FaultStart) is the baseline, [FaultStart, FaultEnd) the
// fault phase, from FaultEnd on the recovery.
const (
	PhaseBaseline = "baseline"
	PhaseFault    = "fault"
	PhaseRecovery = "recovery"
)

// Phases lists the phase names in time order.
var Phases = []string{PhaseBaseline, PhaseFault, PhaseRecovery}

// PhaseOf names the phase t falls in; before the baseline it is "".
func (tl Timeline) PhaseOf(t time.Time) string {
	switch {
	case t.Before(tl.BaselineStart):
		return ""
	case t.Before(tl.FaultStart):
		return PhaseBaseline
	case t.Before(tl.FaultEnd):
		return PhaseFault
	default:
		return PhaseRecovery
	}
}
