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

// resolveTimeout bounds resolving every target (listing and inspecting containers):
// an engine that answers the ping but then hangs must not hang the command.
const resolveTimeout = time.Minute

// resolvePlanTargets resolves every target block of p against the Docker Engine named
// by the environment and fills p.Targets and p.Seed.
func resolvePlanTargets(ctx context.Context, env *Env, p *experiments.Plan, opts targetOptions) error {
	cli, err := dockerx.New(env.Getenv)
	if err != nil {
		return fmt.Errorf("%w: %w", errNoDocker, err)
	}
	defer cli.Close()
	if err := dockerx.Preflight(ctx, cli); err != nil {
		return fmt.Errorf("%w: %w", errNoDocker, err)
	}
	rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	resolved, seed, err := targets.Resolve(rctx, cli, p.Experiment, targets.Options{Seed: opts.Seed, MaxTargets: opts.MaxTargets})
	if err != nil && rctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		err = fmt.Errorf("the Docker Engine did not list and inspect the containers within %s: check that it is healthy (docker ps): %w", resolveTimeout, err)
	}
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
