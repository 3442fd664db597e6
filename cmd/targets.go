package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/experiments/targets"
	"github.com/faultline/faultline/internal/dockerx"
	"github.com/faultline/faultline/result"
)

// errNoDocker marks a target resolution that could not reach a Docker Engine: `plan`
// then shows the selectors only, `run` fails its preflight.
var errNoDocker = errors.New("no Docker Engine reachable")

// targetOptions are the command-line settings that shape target resolution.
type targetOptions struct {
	Seed       int64 // 0: pick a random seed and record it in the plan
	MaxTargets int   // 0: the experiment's own max_targets
}

// dockerPingTimeout bounds the preflight ping: an engine that does not answer in this
// time is treated as unreachable.
const dockerPingTimeout = 10 * time.Second

// resolvePlanTargets resolves every target block of p against the Docker Engine named
// by the environment and fills p.Targets and p.Seed.
func resolvePlanTargets(ctx context.Context, env *Env, p *experiments.Plan, opts targetOptions) error {
	cli, err := dockerx.New(env.Getenv)
	if err != nil {
		return fmt.Errorf("%w: %w", errNoDocker, err)
	}
	defer cli.Close()
	pingCtx, cancel := context.WithTimeout(ctx, dockerPingTimeout)
	err = dockerx.Preflight(pingCtx, cli)
	cancel()
	if err != nil {
		return fmt.Errorf("%w: %w", errNoDocker, err)
	}
	resolved, seed, err := targets.Resolve(ctx, cli, p.Experiment, targets.Options{Seed: opts.Seed, MaxTargets: opts.MaxTargets})
	p.Seed = seed
	if err != nil {
		if errors.Is(err, targets.ErrEmptySelection) || errors.Is(err, targets.ErrTooManyTargets) {
			return withExitCode(err, result.ExitInvalid)
		}
		return err
	}
	p.Targets = resolved
	if err := p.SharedTargetClashes(); err != nil {
		return withExitCode(err, result.ExitInvalid)
	}
	return nil
}
