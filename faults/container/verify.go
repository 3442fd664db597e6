package container

import (
	"context"
	"fmt"
	"strings"

	"github.com/faultline/faultline/faults"
	"github.com/moby/moby/api/types/container"
)

// Verify reads the container back from the engine with one inspect: after Apply it
// expects the fault (paused; stopped; killed; restarted; the squeezed limits), before
// Apply, after a refused one and after Revert the state the container had.
func (a *action) Verify(ctx context.Context) (faults.Verification, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := faults.NewBudget(0, firstBackoff, maxBackoff) // one inspect, no retry: cheap enough for every step
	return a.readBack(ctx, b)
}

// readBack is Verify under the lock, with the caller's retry budget. The error is a
// failed read, or a mismatch wrapping ErrNotInjected or ErrNotClean.
func (a *action) readBack(ctx context.Context, b *faults.Budget) (faults.Verification, error) {
	injected := a.touched() && !a.reverted
	var v faults.Verification
	if !injected && (!a.touched() || !a.needsRevert()) {
		v.At = a.clock()
		why := "nothing applied"
		switch {
		case a.st.Outcome == refused:
			why = "the engine refused the fault: nothing to undo"
		case a.touched():
			why = "nothing to undo (" + a.kind + " reverts itself)"
		}
		v.Add("container "+a.name(), "nothing of faultline's", why, true)
		return v, nil
	}
	if injected && a.kind == "kill" && a.via == faults.ViaPidfd && a.st.Signal == "SIGKILL" && !processAlive(a.rec.Target.PID, a.id()) {
		// We killed it ourselves and the kernel has it dead. An inspect now would wait
		// for the engine to tear the container down (seconds, for 50 at once) to learn
		// nothing more.
		v.At = a.clock()
		v.Add("container "+a.name()+": pid "+fmt.Sprint(a.rec.Target.PID), "killed", "dead (the kernel's word; the engine may still report it running)", true)
		return v, nil
	}
	res, err := a.inspect(ctx, b)
	v.At = a.clock()
	if err != nil {
		return v, fmt.Errorf("read back %s on %s: %w", a.kind, a.name(), err)
	}
	c := res.Container
	what := "container " + a.name()
	if injected {
		a.checkInjected(&v, what, c)
		if err := v.Mismatch(faults.ErrNotInjected); err != nil {
			return v, fmt.Errorf("%s on %s: %w", a.kind, a.name(), err)
		}
		return v, nil
	}
	a.checkClean(&v, what, c)
	if err := v.Mismatch(faults.ErrNotClean); err != nil {
		return v, fmt.Errorf("%s on %s: %w", a.kind, a.name(), err)
	}
	return v, nil
}

func stateOf(s *container.State) string {
	out := string(s.Status)
	switch {
	case s.Running && !s.Paused && !s.Restarting:
		out = fmt.Sprintf("running (pid %d)", s.Pid)
	case !s.Running && !s.Restarting:
		out = fmt.Sprintf("%s (exit code %d)", s.Status, s.ExitCode)
	}
	return out
}

// sigkillExit is the exit code the engine reports for a process ended by SIGKILL.
const sigkillExit = 128 + 9

func (a *action) checkInjected(v *faults.Verification, what string, c container.InspectResponse) {
	s := c.State
	found := stateOf(s)
	restarted := s.Running && ((a.rec.Target.PID > 0 && s.Pid != a.rec.Target.PID) || (a.st.StartedAt != "" && s.StartedAt != a.st.StartedAt))
	switch a.kind {
	case "pause":
		v.Add(what+": state", "paused", found, s.Paused)
	case "stop":
		v.Add(what+": state", "stopped", found, !s.Running || s.Restarting)
	case "kill":
		if a.st.Signal != "SIGKILL" {
			// A process may handle any other signal and go on: delivery is the fault.
			v.Add(what+": "+a.st.Signal, "delivered", found+"; the signal was delivered", true)
			return
		}
		switch {
		case s.Restarting || restarted:
			v.Add(what+": pid "+fmt.Sprint(a.rec.Target.PID), "killed", found, true)
		case !s.Running:
			// A process SIGKILLed exits 137 (128 + 9); any other code is an exit of its
			// own, before the signal came.
			v.Add(what+": pid "+fmt.Sprint(a.rec.Target.PID), "killed (exit code 137)", found, s.ExitCode == sigkillExit)
		case processAlive(s.Pid, a.id()):
			v.Add(what+": pid "+fmt.Sprint(a.rec.Target.PID), "killed", found+", and the process is alive", false)
		default:
			// The kernel has it dead; the engine has not noticed yet.
			v.Add(what+": pid "+fmt.Sprint(a.rec.Target.PID), "killed", "dead (the engine still reports it running)", true)
		}
	case "restart":
		v.Add(what+": state", "running, started again", found+startedNote(s.StartedAt, a.st.StartedAt), restarted)
	case "resources":
		if c.HostConfig == nil || a.st.During == nil {
			v.Add(what+": limits", "squeezed", "no host configuration", false)
			return
		}
		now := limitsOf(c.HostConfig.Resources)
		v.Add(what+": limits", describeLimits(*a.st.During), describeLimits(now), Equivalent(now, *a.st.During))
	}
}

func startedNote(now, before string) string {
	if now == before {
		return ", not restarted (started " + now + " as before)"
	}
	return ", started " + now
}

func (a *action) checkClean(v *faults.Verification, what string, c container.InspectResponse) {
	s := c.State
	found := stateOf(s)
	switch a.kind {
	case "pause":
		v.Add(what+": state", "not paused", found, !s.Paused)
	case "stop", "kill":
		v.Add(what+": state", "running", found, s.Running && !s.Paused && !s.Restarting)
	case "resources":
		if c.HostConfig == nil || a.st.Before == nil {
			v.Add(what+": limits", "as before", "no host configuration", false)
			return
		}
		now := limitsOf(c.HostConfig.Resources)
		v.Add(what+": limits", describeLimits(*a.st.Before), describeLimits(now), Equivalent(now, *a.st.Before))
	}
}

// describeLimits writes limits as a person reads them: "cpus 0.25, memory 64MiB".
func describeLimits(l Limits) string {
	var parts []string
	switch {
	case l.NanoCPUs > 0:
		parts = append(parts, fmt.Sprintf("cpus %g", float64(l.NanoCPUs)/1e9))
	case l.CPUQuota > 0:
		period := l.CPUPeriod
		if period <= 0 {
			period = defaultCPUPeriod
		}
		parts = append(parts, fmt.Sprintf("cpus %g (quota %dus per %dus)", float64(l.CPUQuota)/float64(period), l.CPUQuota, period))
	default:
		parts = append(parts, "cpus unlimited")
	}
	if l.Memory > 0 && l.Memory < unlimitedMemory {
		parts = append(parts, fmt.Sprintf("memory %s", bytesString(l.Memory)))
	} else {
		parts = append(parts, "memory unlimited")
	}
	return strings.Join(parts, ", ")
}

func bytesString(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
