package cmd

import (
	"context"
	"errors"

	"github.com/faultline/faultline/experiments"
)

// errNoDocker marks a target resolution that could not reach a Docker Engine: `plan`
// then shows the selectors only, `run` fails its preflight.
var errNoDocker = errors.New("no Docker Engine reachable")

// targetOptions are the command-line settings that shape target resolution.
type targetOptions struct {
	Seed       int64 // 0: pick a random seed and record it in the plan
	MaxTargets int   // 0: the experiment's own max_targets
}

// resolvePlanTargets resolves every target block of p against the Docker Engine named
// by the environment and fills p.Targets and p.Seed.
func resolvePlanTargets(ctx context.Context, env *Env, p *experiments.Plan, opts targetOptions) error {
	return errNoDocker
}
