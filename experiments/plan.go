package experiments

import (
	"sort"
	"time"

	"github.com/faultline/faultline/faults"
)

// Plan is an experiment laid out in time. Offsets count from the start of the run
// (the start of the baseline).
type Plan struct {
	Experiment *Experiment
	Injections []Injection // sorted by Start, then fault order in the file
	// FaultStart and FaultEnd bound the fault phase: from the first injection's start to
	// the last one's end.
	FaultStart time.Duration
	FaultEnd   time.Duration
	Total      time.Duration // end of the recovery phase
	// Targets holds the containers each target block resolved to; nil until resolved.
	Targets map[string][]faults.Target
	// Seed drove the random picks; recorded so that a run can be replayed.
	Seed int64
}

// Injection is one planned occurrence of a fault (a repeated fault has several).
type Injection struct {
	Fault  *FaultSpec
	Repeat int // 0 for the first occurrence
	Start  time.Duration
	End    time.Duration // equal to Start for instant kinds
}

// PhaseAt names the phase an offset falls in.
func (p *Plan) PhaseAt(off time.Duration) string {
	switch {
	case off < p.FaultStart:
		return PhaseBaseline
	case off < p.FaultEnd:
		return PhaseFault
	default:
		return PhaseRecovery
	}
}

// NewPlan lays out the timeline of a loaded experiment. Targets are not resolved here.
func NewPlan(e *Experiment) *Plan {
	p := &Plan{Experiment: e}
	for _, f := range e.Faults {
		times := f.Times
		if times < 1 {
			times = 1
		}
		for i := 0; i < times; i++ {
			start := e.Baseline + f.Start + time.Duration(i)*f.Every
			p.Injections = append(p.Injections, Injection{Fault: f, Repeat: i, Start: start, End: start + f.Duration})
		}
	}
	sort.SliceStable(p.Injections, func(i, j int) bool { return p.Injections[i].Start < p.Injections[j].Start })
	p.FaultStart, p.FaultEnd = e.Baseline, e.Baseline
	for i, in := range p.Injections {
		if i == 0 || in.Start < p.FaultStart {
			p.FaultStart = in.Start
		}
		if in.End > p.FaultEnd {
			p.FaultEnd = in.End
		}
	}
	p.Total = p.FaultEnd + e.Recovery
	return p
}
