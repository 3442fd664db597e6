package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/faultline/faultline/faults"
)

type reviver struct{}

// NewReviver rebuilds network actions from journal records, to revert them after a
// crash. A record whose target process is gone or lives in another network namespace
// now (the container restarted) needs no revert: Revive returns an error wrapping
// faults.ErrTargetGone, unless a two-way partition left routes in peers to remove.
//
// What the revert deletes follows the record's phase: nothing when Apply never started
// (a crash between the journal entry and the planned start), what Apply recorded it
// added when it returned, and, when it was cut off in between, whatever carries this
// fault's own handle and route metric.
func NewReviver() faults.Reviver { return reviver{} }

// revived is a network action rebuilt from a journal record: it can only be reverted
// and read back.
type revived struct{ undo }

var _ faults.Action = (*revived)(nil)

func (r *revived) Apply(context.Context) error {
	return fmt.Errorf("%s on %s: this action was rebuilt from a journal record and can only be reverted", r.kind, r.ref.Name)
}

func (reviver) Revive(rec faults.Record) (faults.Action, error) {
	if !IsNetworkKind(rec.Kind) {
		return nil, fmt.Errorf("record of kind %q is not a network fault", rec.Kind)
	}
	var st state
	if err := json.Unmarshal(rec.State, &st); err != nil {
		return nil, fmt.Errorf("%s record of %s: state is not valid: %w", rec.Kind, rec.Target.Name, err)
	}
	major := uint16(0)
	if st.Qdisc != nil {
		// A tampered or foreign journal must never make us delete a qdisc that is not ours.
		m, ok := parseMajor(st.Qdisc.Handle)
		if !ok {
			return nil, fmt.Errorf("%s record of %s names qdisc handle %q, not one of faultline's (fa01: to faff:): refusing to delete it", rec.Kind, rec.Target.Name, st.Qdisc.Handle)
		}
		major = m
	}
	for _, cidrs := range append([][]string{st.Routes}, peerRoutes(st.Peers)...) {
		for _, c := range cidrs {
			if _, err := parseBlackhole(c); err != nil {
				return nil, fmt.Errorf("%s record of %s: %w", rec.Kind, rec.Target.Name, err)
			}
		}
	}
	if rec.Target.PID <= 0 || rec.Target.NetNS == 0 {
		return nil, fmt.Errorf("%s record of %s has no PID or namespace identity: cannot tell whether it is still the same container", rec.Kind, rec.Target.Name)
	}
	phase := rec.Phase
	if rec.Uncertain() {
		phase = faults.PhaseApplying
	}
	a := &revived{undo{kind: rec.Kind, ref: rec.Target, st: st, major: major, phase: phase, peers: map[int]*conn{}}}
	if phase == faults.PhasePrepared {
		return a, nil // nothing to delete, nothing to open
	}
	if _, err := a.conn(&a.target, rec.Target); err != nil {
		if errors.Is(err, faults.ErrTargetGone) && len(st.Peers) == 0 {
			return nil, fmt.Errorf("%s on %s: %w", rec.Kind, rec.Target.Name, err)
		}
		if !errors.Is(err, faults.ErrTargetGone) {
			return nil, fmt.Errorf("%s on %s: %w", rec.Kind, rec.Target.Name, err)
		}
	}
	return a, nil
}

// parseMajor reads a handle "fa3c:" and accepts it only when it is one New hands out.
func parseMajor(h string) (uint16, bool) {
	s, ok := strings.CutSuffix(h, ":")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 16, 16)
	if err != nil || !ours(uint16(n)) {
		return 0, false
	}
	return uint16(n), true
}

func peerRoutes(ps []peerState) [][]string {
	out := make([][]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Routes)
	}
	return out
}
