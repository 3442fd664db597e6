package network

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/faultline/faultline/faults"
)

type reviver struct{}

// NewReviver rebuilds network actions from journal records, to revert them after a
// crash. A record whose target process is gone or lives in another network namespace
// now (the container restarted) needs no revert: Revive returns an error wrapping
// faults.ErrTargetGone, unless a two-way partition left routes in peers to remove.
func NewReviver() faults.Reviver { return reviver{} }

func (reviver) Revive(rec faults.Record) (faults.Action, error) {
	if !IsNetworkKind(rec.Kind) {
		return nil, fmt.Errorf("record of kind %q is not a network fault", rec.Kind)
	}
	var st state
	if err := json.Unmarshal(rec.State, &st); err != nil {
		return nil, fmt.Errorf("%s record of %s: state is not valid: %w", rec.Kind, rec.Target.Name, err)
	}
	// A tampered or foreign journal must never make us delete a qdisc that is not ours.
	if st.Qdisc != nil && st.Qdisc.Handle != handleString(rootMajor) {
		return nil, fmt.Errorf("%s record of %s names qdisc handle %q, not faultline's %s: refusing to delete it", rec.Kind, rec.Target.Name, st.Qdisc.Handle, handleString(rootMajor))
	}
	for _, cidrs := range append([][]string{st.Routes}, peerRoutes(st.Peers)...) {
		for _, c := range cidrs {
			if _, err := blackhole(c); err != nil {
				return nil, fmt.Errorf("%s record of %s: %w", rec.Kind, rec.Target.Name, err)
			}
		}
	}
	if rec.Target.PID <= 0 || rec.Target.NetNS == 0 {
		return nil, fmt.Errorf("%s record of %s has no PID or namespace identity: cannot tell whether it is still the same container", rec.Kind, rec.Target.Name)
	}
	a := &action{kind: rec.Kind, ref: rec.Target, st: st, revived: true, peers: map[int]*conn{}}
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

func peerRoutes(ps []peerState) [][]string {
	out := make([][]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Routes)
	}
	return out
}
