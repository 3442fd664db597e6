package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/metrics"
)

// opLog records what the fakes were asked to do, in order, with the (fake) time.
type opLog struct {
	mu  sync.Mutex
	ops []op
}

type op struct {
	What   string // prepare, append, apply, revert, complete
	Fault  string
	Target string
	At     time.Time
}

func (l *opLog) add(what, fault, target string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, op{What: what, Fault: fault, Target: target, At: time.Now()})
}

func (l *opLog) all() []op {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]op(nil), l.ops...)
}

// of returns the ops on one fault and target, in order.
func (l *opLog) of(fault, target string) []op {
	var out []op
	for _, o := range l.all() {
		if o.Fault == fault && o.Target == target {
			out = append(out, o)
		}
	}
	return out
}

func (l *opLog) count(what string) int {
	n := 0
	for _, o := range l.all() {
		if o.What == what {
			n++
		}
	}
	return n
}

// fakeFault is a Fault whose actions only write to the log; errors are injected by
// target name.
type fakeFault struct {
	kind, name string
	log        *opLog
	prepareErr map[string]error
	applyErr   map[string]error
	// revertErrs are returned by successive Revert calls per target; nil after they run out.
	mu         sync.Mutex
	revertErrs map[string][]error
	// warnings are what every action of this fault reports through faults.Warner.
	warnings []string
	// revertTakes is how long each Revert works before it returns (a container start).
	revertTakes time.Duration
	// notInjected makes the read-back after Apply find the fault missing, by target;
	// notClean the read-back after Revert find it still there.
	notInjected, notClean map[string]bool
	// actions are the prepared actions by target, in order; verifies counts the
	// read-backs of applied actions by target.
	actions  map[string][]*fakeAction
	verifies map[string]int
	// via is what every action reports through faults.Router after Apply.
	via string
	// applyGate holds the Apply of a target until its channel is closed, and closes
	// applyReached's channel for that target (if any) once the Apply waits there;
	// applyHangs holds it until its context ends, as an engine that never answers would.
	applyGate    map[string]chan struct{}
	applyReached map[string]chan struct{}
	applyHangs   map[string]bool
}

// lose makes the latest action on target lose its fault, as someone undoing it by
// hand would (its read-back finds it missing), or, with gone, as a restart into a new
// network namespace would (its namespace is gone: ErrTargetGone).
func (f *fakeFault) lose(target string, gone bool) {
	f.mu.Lock()
	as := f.actions[target]
	f.mu.Unlock()
	a := as[len(as)-1]
	a.mu.Lock()
	a.lostFault, a.gone = true, gone
	a.mu.Unlock()
}

func (f *fakeFault) setPrepareErr(target string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prepareErr[target] = err
}

func (f *fakeFault) verifyCount(target string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.verifies[target]
}

func (f *fakeFault) Kind() string { return f.kind }

func (f *fakeFault) Prepare(_ context.Context, t faults.Target) (faults.Action, error) {
	f.log.add("prepare", f.name, t.Name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.prepareErr[t.Name]; err != nil {
		return nil, err
	}
	a := &fakeAction{f: f, target: t}
	if f.actions == nil {
		f.actions, f.verifies = map[string][]*fakeAction{}, map[string]int{}
	}
	f.actions[t.Name] = append(f.actions[t.Name], a)
	return a, nil
}

type fakeAction struct {
	f      *fakeFault
	target faults.Target
	mu     sync.Mutex
	phase  string
	// reverted is set by a Revert that returned nil.
	reverted bool
	// lostFault and gone are set by fakeFault.lose.
	lostFault, gone bool
}

func (a *fakeAction) Apply(ctx context.Context) error {
	if g := a.f.applyGate[a.target.Name]; g != nil {
		if r := a.f.applyReached[a.target.Name]; r != nil {
			close(r)
		}
		<-g
	}
	if a.f.applyHangs[a.target.Name] {
		<-ctx.Done()
		a.f.log.add("apply", a.f.name, a.target.Name)
		return fmt.Errorf("pause: %w", ctx.Err())
	}
	a.f.log.add("apply", a.f.name, a.target.Name)
	a.mu.Lock()
	a.phase = faults.PhaseApplied
	a.mu.Unlock()
	return a.f.applyErr[a.target.Name]
}

func (a *fakeAction) Verify(ctx context.Context) (faults.Verification, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v := faults.Verification{At: time.Now()}
	if a.reverted || a.phase != faults.PhaseApplied {
		v.Add(a.target.Name, "clean", "clean", !a.f.notClean[a.target.Name])
		return v, v.Mismatch(faults.ErrNotClean)
	}
	a.f.mu.Lock()
	a.f.verifies[a.target.Name]++
	a.f.mu.Unlock()
	if a.gone {
		return v, fmt.Errorf("PID 1 is no longer in network namespace 1 (the container restarted): %w", faults.ErrTargetGone)
	}
	ok := !a.f.notInjected[a.target.Name] && !a.lostFault
	found := "injected"
	if !ok {
		found = "missing"
	}
	v.Add(a.target.Name, "injected", found, ok)
	return v, v.Mismatch(faults.ErrNotInjected)
}

func (a *fakeAction) Revert(ctx context.Context) error {
	if ctx.Err() != nil {
		return fmt.Errorf("revert ran on a cancelled context: %w", ctx.Err())
	}
	time.Sleep(a.f.revertTakes) // a slow revert is the thing under test (virtual time in synctest)
	a.f.log.add("revert", a.f.name, a.target.Name)
	a.mu.Lock()
	gone := a.gone
	a.mu.Unlock()
	if gone {
		return fmt.Errorf("nothing to revert: %w", faults.ErrTargetGone)
	}
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	errs := a.f.revertErrs[a.target.Name]
	if len(errs) == 0 {
		a.mu.Lock()
		a.reverted = true
		a.mu.Unlock()
		return nil
	}
	a.f.revertErrs[a.target.Name] = errs[1:]
	return errs[0]
}

func (a *fakeAction) Via() (string, string) { return a.f.via, "" }

func (a *fakeAction) Warnings() []string { return a.f.warnings }

func (a *fakeAction) Release() { a.f.log.add("release", a.f.name, a.target.Name) }

func (a *fakeAction) Record() faults.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	phase := a.phase
	if phase == "" {
		phase = faults.PhasePrepared
	}
	// Like the real kinds, the record leaves Fault for the runner to fill.
	return faults.Record{Kind: a.f.kind, Target: faults.TargetRef{ID: a.target.ID, Name: a.target.Name},
		Phase: phase, State: json.RawMessage(`{}`)}
}

// fakeJournal logs appends and completions; appendErr fails every append, updateErr
// every phase update.
type fakeJournal struct {
	log       *opLog
	appendErr error
	updateErr error
	mu        sync.Mutex
	next      int
	byID      map[int]faults.Record
	pending   map[int]bool
	phases    []string
}

func newFakeJournal(log *opLog) *fakeJournal {
	return &fakeJournal{log: log, byID: map[int]faults.Record{}, pending: map[int]bool{}}
}

func (j *fakeJournal) Append(rec faults.Record) (int, error) {
	if j.appendErr != nil {
		return 0, j.appendErr
	}
	j.log.add("append", rec.Fault, rec.Target.Name)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.next++
	j.byID[j.next] = rec
	j.pending[j.next] = true
	return j.next, nil
}

// Update keeps the phases entries' records move to, as "target phase".
func (j *fakeJournal) Update(id int, rec faults.Record) error {
	if j.updateErr != nil {
		return j.updateErr
	}
	j.mu.Lock()
	if !j.pending[id] {
		j.mu.Unlock()
		return errors.New("not pending")
	}
	j.byID[id] = rec
	j.phases = append(j.phases, rec.Target.Name+" "+rec.Phase)
	j.mu.Unlock()
	return nil
}

func (j *fakeJournal) Complete(id int, note string) error {
	j.mu.Lock()
	rec, ok := j.byID[id]
	if !ok || !j.pending[id] {
		j.mu.Unlock()
		return errors.New("not pending")
	}
	delete(j.pending, id)
	j.mu.Unlock()
	j.log.add("complete", rec.Fault, rec.Target.Name)
	return nil
}

func (j *fakeJournal) pendingCount() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.pending)
}

// fakeSampler returns value(at) for every metric; a NaN-free value or an error gap.
type fakeSampler struct {
	metrics []*experiments.Metric
	value   func(offset time.Duration) (float64, error)
	t0      time.Time
}

func (s *fakeSampler) Sample(_ context.Context, at time.Time) []metrics.Observation {
	out := make([]metrics.Observation, 0, len(s.metrics))
	for _, m := range s.metrics {
		o := metrics.Observation{Metric: m.Name, At: at}
		v, err := s.value(at.Sub(s.t0))
		if err != nil {
			o.Gap = "error: " + err.Error()
		} else {
			o.Series = []metrics.Series{{Labels: map[string]string{"job": "shop"}, Samples: []metrics.Sample{{Time: at, Value: v}}}}
		}
		out = append(out, o)
	}
	return out
}

// fakeLease logs arm, renew and release under the fault name "lease"; renewErr fails
// every renewal once armed (a watchdog that is gone). Like watchdog.Lease, it renews
// nothing before it is armed.
type fakeLease struct {
	log      *opLog
	renewErr error
	mu       sync.Mutex
	armed    bool
}

func (l *fakeLease) Arm() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.armed {
		l.armed = true
		l.log.add("arm", "lease", "")
	}
	return nil
}

func (l *fakeLease) Release() error { l.log.add("release", "lease", ""); return nil }

func (l *fakeLease) Renew() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log.add("renew", "lease", "")
	if !l.armed {
		return nil
	}
	return l.renewErr
}
