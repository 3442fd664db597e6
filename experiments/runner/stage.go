package runner

import "context"

// Stage is one step of a run. Stages share the run's state and run in order; the
// first error ends the run (Alertmanager's notification pipeline, in miniature).
type Stage interface {
	Exec(ctx context.Context, r *run) error
}

// StageFunc makes a function a Stage.
type StageFunc func(ctx context.Context, r *run) error

func (f StageFunc) Exec(ctx context.Context, r *run) error { return f(ctx, r) }

// MultiStage runs stages in order and stops at the first error.
type MultiStage []Stage

func (ms MultiStage) Exec(ctx context.Context, r *run) error {
	for _, s := range ms {
		if err := s.Exec(ctx, r); err != nil {
			return err
		}
	}
	return nil
}
