package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/faultline/faultline/experiments/journal"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/faults/container"
	"github.com/faultline/faultline/faults/network"
	"github.com/faultline/faultline/internal/dockerx"
	"github.com/faultline/faultline/result"
	"github.com/spf13/cobra"
)

type recoverOptions struct {
	StateDir string
}

func newRecoverCmd(env *Env, runF func(*recoverOptions) error) *cobra.Command {
	opts := &recoverOptions{}
	c := &cobra.Command{
		Use:   "recover",
		Short: "Revert every fault that a crashed or killed run left behind",
		Long: `Recover reads the fault journals in the state directory. A run that is no longer
alive but whose journal holds faults it never reverted (it was killed, crashed, or
a revert failed) is recovered: each fault is rebuilt from its journal entry and
reverted. A fault whose container is gone or was recreated needs nothing. Runs that
are still alive are left alone.

Exit codes: 0 nothing left to revert, 4 a revert still fails (the journal keeps it:
fix the cause and run recover again), 5 the state directory or Docker is unusable.`,
		Example: `  faultline recover
  faultline recover --state-dir /tmp/faultline-state`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return recoverRun(env, opts)
		},
	}
	c.Flags().StringVar(&opts.StateDir, "state-dir", "", "directory of the fault journals (default $FAULTLINE_STATE_DIR, /var/lib/faultline for root, else $XDG_STATE_HOME/faultline)")
	return c
}

func recoverRun(env *Env, opts *recoverOptions) error {
	dir, err := journal.Dir(opts.StateDir, env.Getenv, os.Geteuid())
	if err != nil {
		return exitf(result.ExitPreflight, "%w", err)
	}
	states, err := journal.Scan(dir)
	if err != nil {
		return exitf(result.ExitPreflight, "%w", err)
	}
	revivers := &lazyRevivers{getenv: env.Getenv}
	defer revivers.close()
	// Reverts must finish even when recover itself is interrupted.
	ctx := context.WithoutCancel(env.Context)
	found, failed := 0, 0
	for _, st := range states {
		if len(st.Pending) == 0 {
			continue
		}
		if st.Live {
			fmt.Fprintf(env.Stdout, "run %s (%s, pid %d on %s) is still running: left alone\n", st.Run, st.Experiment, st.PID, st.Host)
			continue
		}
		f, n := recoverJournal(ctx, env.Stdout, st, revivers)
		found += n
		failed += f
	}
	switch {
	case failed > 0:
		fmt.Fprintf(env.Stdout, "%d of %d faults could not be reverted; their journal entries are kept in %s: fix the cause and run `faultline recover` again\n", failed, found, dir)
		return silentExit(result.ExitRevertFailed)
	case found == 0:
		fmt.Fprintf(env.Stdout, "nothing to recover in %s\n", dir)
	default:
		fmt.Fprintf(env.Stdout, "recovered %d fault(s); nothing of ours is left\n", found)
	}
	return nil
}

// recoverJournal reverts the pending entries of one dead run and reports each.
func recoverJournal(ctx context.Context, w io.Writer, st journal.RunState, revivers *lazyRevivers) (failed, found int) {
	rec, err := journal.Claim(st.Path)
	if errors.Is(err, journal.ErrLocked) {
		fmt.Fprintf(w, "run %s: another process holds its journal (a recover running, or the run came back): left alone\n", st.Run)
		return 0, 0
	}
	if err != nil {
		fmt.Fprintf(w, "run %s: %v\n", st.Run, err)
		return len(st.Pending), len(st.Pending)
	}
	defer func() {
		if err := rec.Close(); err != nil && failed == 0 {
			fmt.Fprintf(w, "run %s: %v\n", st.Run, err)
		}
	}()
	fmt.Fprintf(w, "run %s (%s, started %s, pid %d): %d fault(s) to revert\n",
		st.Run, st.Experiment, st.Started.Format(time.RFC3339), st.PID, len(rec.Pending))
	for _, e := range rec.Pending {
		found++
		what := fmt.Sprintf("%s %q on %s", e.Record.Kind, e.Record.Fault, e.Record.Target.Name)
		note, err := revertRecord(ctx, e.Record, revivers)
		if err != nil {
			failed++
			fmt.Fprintf(w, "  FAILED  %s: %v\n", what, err)
			continue
		}
		if err := rec.Complete(e.ID, note); err != nil {
			fmt.Fprintf(w, "  %s  %s, but its journal entry stays: %v\n", note, what, err)
			continue
		}
		fmt.Fprintf(w, "  %-8s %s\n", note, what)
	}
	return failed, found
}

// revertRecord rebuilds the action of a record and reverts it, retrying, each attempt
// bounded by faults.RevertTimeout.
func revertRecord(ctx context.Context, rec faults.Record, revivers *lazyRevivers) (note string, err error) {
	rv, err := revivers.forKind(ctx, rec.Kind)
	if err != nil {
		return "", err
	}
	action, err := rv.Revive(rec)
	if errors.Is(err, faults.ErrTargetGone) {
		return "gone", nil
	}
	if err != nil {
		return "", fmt.Errorf("rebuild from the journal: %w", err)
	}
	const attempts = 3
	for i := 1; ; i++ {
		actx, cancel := context.WithTimeout(ctx, faults.RevertTimeout)
		err = action.Revert(actx)
		cancel()
		switch {
		case err == nil:
			return "reverted", nil
		case errors.Is(err, faults.ErrTargetGone):
			return "gone", nil
		case i == attempts:
			return "", fmt.Errorf("revert failed %d times, last: %w", attempts, err)
		}
		time.Sleep(time.Duration(i) * time.Second) // backoff between attempts against a struggling engine
	}
}

// lazyRevivers builds the revivers a journal needs, and a Docker client only when a
// container fault must be reverted.
type lazyRevivers struct {
	getenv    func(string) string
	container faults.Reviver
	closeCli  func() error
	cliErr    error
}

func (l *lazyRevivers) forKind(ctx context.Context, kind string) (faults.Reviver, error) {
	k, ok := faults.Lookup(kind)
	if !ok {
		return nil, fmt.Errorf("journal names unknown fault kind %q (written by a newer faultline?)", kind)
	}
	switch k.Category {
	case faults.NetworkFault:
		return network.NewReviver(), nil
	case faults.ContainerFault:
		if l.container == nil && l.cliErr == nil {
			cli, err := dockerx.New(l.getenv)
			if err == nil {
				err = dockerx.Preflight(ctx, cli)
			}
			if err != nil {
				l.cliErr = fmt.Errorf("docker is needed to revert container faults: %w", err)
			} else {
				l.container, l.closeCli = container.NewReviver(cli), cli.Close
			}
		}
		if l.cliErr != nil {
			return nil, l.cliErr
		}
		return l.container, nil
	}
	return nil, fmt.Errorf("fault kind %q has no reviver", kind)
}

func (l *lazyRevivers) close() {
	if l.closeCli != nil {
		_ = l.closeCli()
	}
}
