package schedule

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// Late is how late a start may be and still run as planned (the process was stopped,
// the machine slept, the clock jumped). A later one is a missed start.
const Late = time.Minute

// Scheduler delivers every start of its schedules, in start order, to a callback.
type Scheduler struct {
	specs []*Spec
	rnd   *rand.Rand
	fire  func(Fire)

	mu       sync.Mutex
	upcoming map[string]Fire
}

// New builds a scheduler. fire is called for every start, skipped or not, from the
// scheduler's goroutine: it must hand the work off and return quickly. seed drives
// the jitter.
func New(specs []*Spec, seed uint64, fire func(Fire)) *Scheduler {
	return &Scheduler{specs: specs, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), fire: fire, upcoming: map[string]Fire{}}
}

// Upcoming returns the next start of every schedule that has one.
func (s *Scheduler) Upcoming() map[string]Fire {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Fire, len(s.upcoming))
	for k, v := range s.upcoming {
		out[k] = v
	}
	return out
}

// Run delivers starts until ctx ends. last holds, per schedule, the cron time it last
// considered (from the history): the starts missed since are delivered first, by each
// schedule's Missed policy. A schedule with no last time starts fresh from now.
func (s *Scheduler) Run(ctx context.Context, last map[string]time.Time) {
	now := time.Now()
	var catchUp []Fire
	s.mu.Lock()
	for _, sp := range s.specs {
		if f, ok := sp.CatchUp(last[sp.Name], now); ok {
			catchUp = append(catchUp, f)
		}
		s.planNext(sp, now)
	}
	s.mu.Unlock()
	sort.SliceStable(catchUp, func(i, j int) bool { return catchUp[i].Schedule < catchUp[j].Schedule })
	for _, f := range catchUp {
		s.fire(f)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		next, ok := s.earliest()
		s.mu.Unlock()
		wait := time.Hour // re-check once an hour when nothing is due
		if ok {
			wait = time.Until(next.Start)
		}
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		s.deliverDue(time.Now())
	}
}

// deliverDue fires every start that is due at now and plans each one's next.
func (s *Scheduler) deliverDue(now time.Time) {
	var due []Fire
	s.mu.Lock()
	for _, sp := range s.specs {
		f, ok := s.upcoming[sp.Name]
		if !ok || f.Start.After(now) {
			continue
		}
		next := sp.Next(f.Nominal)
		if late := now.Sub(f.Start); late > Late {
			// Starts that passed while nothing ran: the missed policy decides.
			if c, ok := sp.CatchUp(f.Nominal.Add(-time.Nanosecond), now); ok {
				f = c
			}
			next = sp.Next(now)
		}
		due = append(due, f)
		s.setNext(sp, next)
	}
	s.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].Start.Before(due[j].Start) })
	for _, f := range due {
		s.fire(f)
	}
}

func (s *Scheduler) planNext(sp *Spec, after time.Time) { s.setNext(sp, sp.Next(after)) }

func (s *Scheduler) setNext(sp *Spec, nominal time.Time) {
	if nominal.IsZero() {
		delete(s.upcoming, sp.Name)
		return
	}
	s.upcoming[sp.Name] = sp.Plan(nominal, s.rnd)
}

func (s *Scheduler) earliest() (Fire, bool) {
	var best Fire
	found := false
	for _, f := range s.upcoming {
		if !found || f.Start.Before(best.Start) {
			best, found = f, true
		}
	}
	return best, found
}
