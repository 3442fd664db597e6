package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/faultline/faultline/experiments/journal"
	"github.com/faultline/faultline/experiments/watchdog"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/faults/container"
	"github.com/faultline/faultline/faults/network"
	"github.com/faultline/faultline/internal/dockerx"
	"github.com/faultline/faultline/result"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

type recoverOptions struct {
	StateDir string
	// WaitWatchdogs is how long to wait for watchdogs that hold the journals of dead
	// runs to finish their reverts before acting on what is left; 0 leaves such a
	// journal to its watchdog at once. serve waits, so that it listens only once
	// nothing of its killed runs is still faulted.
	WaitWatchdogs time.Duration
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
are still alive, and dead runs whose watchdog is reverting them, are left alone; a
dead run that injected nothing has its claim on its containers released.

It first prints what watchdogs did since the last recover (a watchdog reverts the
faults of a run that died or hung without anybody typing this), and it looks at the
other default state directory (root's, or the sudo user's) and says which command
recovers what it finds there. A journal file that cannot be read is skipped with a
warning that names it.

Exit codes: 0 nothing left to revert, 4 a revert still fails (the journal keeps it:
fix the cause and run recover again), 5 the state directory or Docker is unusable,
or another state directory holds dead runs (the message says which command to run).`,
		Example: `  faultline recover
  sudo faultline recover
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
	// Run IDs, experiment names and targets come from journal files: shown inert.
	stdout, stderr := safeWriter{env.Stdout}, safeWriter{env.Stderr}
	dir, err := journal.Dir(opts.StateDir, env.Getenv, os.Geteuid())
	if err != nil {
		return exitf(result.ExitPreflight, "%w", err)
	}
	states, err := journal.Scan(dir)
	if err != nil {
		return exitf(result.ExitPreflight, "%w", err)
	}
	if opts.WaitWatchdogs > 0 {
		if states, err = waitWatchdogs(env.Context, stdout, dir, states, opts.WaitWatchdogs); err != nil {
			return exitf(result.ExitPreflight, "%w", err)
		}
	}
	shown := printWatchdogReports(stdout, stderr, dir, true)
	revivers := &lazyRevivers{getenv: env.Getenv}
	defer revivers.close()
	// Reverts must finish even when recover itself is interrupted.
	ctx := context.WithoutCancel(env.Context)
	found, failed, skipped := 0, 0, 0
	for _, st := range states {
		switch {
		case st.Corrupt != nil:
			skipped++
			fmt.Fprintf(stderr, "warning: skipped %s: %v\n", st.Path, st.Corrupt)
		case st.Live:
			fmt.Fprintf(stdout, "run %s (%s): %s: left alone\n", st.Run, st.Experiment, holderOf(st))
		case len(st.Pending) == 0:
			releaseDeadClaim(stdout, st)
		default:
			f, n := recoverJournal(ctx, stdout, st, revivers)
			found += n
			failed += f
		}
	}
	elsewhere := otherStateDirs(stdout, journal.OtherDirs(dir, env.Getenv, os.Geteuid()))
	switch {
	case failed > 0:
		fmt.Fprintf(stdout, "%d of %d faults could not be reverted; their journal entries are kept in %s: fix the cause and run `faultline recover` again\n", failed, found, dir)
		return silentExit(result.ExitRevertFailed)
	case found == 0 && shown == 0:
		fmt.Fprintf(stdout, "nothing to recover in %s\n", dir)
	case found > 0:
		fmt.Fprintf(stdout, "recovered %d fault(s); nothing of ours is left in %s\n", found, dir)
	}
	if skipped > 0 {
		fmt.Fprintf(stdout, "%d journal file(s) skipped as unreadable (named above): revert their faults by hand, then move them away\n", skipped)
	}
	if elsewhere > 0 {
		return silentExit(result.ExitPreflight)
	}
	return nil
}

// waitWatchdogs waits until no journal in dir is held by a watchdog reverting a dead
// run, or for at most d, and returns the journals as they are then.
func waitWatchdogs(ctx context.Context, w io.Writer, dir string, states []journal.RunState, d time.Duration) ([]journal.RunState, error) {
	deadline := time.Now().Add(d)
	told := map[string]bool{}
	for {
		busy := false
		for _, st := range states {
			if st.Live && st.Holder != nil && st.Holder.By == journal.ByWatchdog {
				busy = true
				if !told[st.Run] {
					told[st.Run] = true
					fmt.Fprintf(w, "run %s (%s): its watchdog (pid %d) is reverting it; waiting up to %s for it to finish\n", st.Run, st.Experiment, st.Holder.PID, d)
				}
			}
		}
		if !busy || !time.Now().Before(deadline) {
			return states, nil
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return states, nil
		case <-t.C:
		}
		var err error
		if states, err = journal.Scan(dir); err != nil {
			return nil, err
		}
	}
}

// holderOf says who holds a live journal: the run itself (and its watchdog), or the
// watchdog or recover that took it over.
func holderOf(st journal.RunState) string {
	if h := st.Holder; h != nil {
		if h.By == journal.ByWatchdog {
			return fmt.Sprintf("its watchdog (pid %d) holds the journal and is reverting it since %s", h.PID, h.Time.Format(time.RFC3339))
		}
		return fmt.Sprintf("another `faultline %s` (pid %d) holds the journal", h.By, h.PID)
	}
	s := fmt.Sprintf("still running (pid %d on %s)", st.PID, st.Host)
	if st.Watchdog != 0 {
		s += fmt.Sprintf(", guarded by its watchdog (pid %d)", st.Watchdog)
	}
	return s
}

// releaseDeadClaim removes the journal of a dead run that holds no fault: only its
// claim on its containers was left, which would block the next run on them.
func releaseDeadClaim(w io.Writer, st journal.RunState) {
	rec, err := journal.Claim(st.Path, journal.ByRecover)
	if errors.Is(err, journal.ErrLocked) {
		fmt.Fprintf(w, "run %s: %s: left alone\n", st.Run, holderOf(journal.RunState{Holder: journal.HolderOf(st.Path)}))
		return
	}
	if err == nil && len(rec.Pending) > 0 {
		rec.Close()
		fmt.Fprintf(w, "run %s: faults were journaled while we looked: run `faultline recover` again\n", st.Run)
		return
	}
	if err == nil {
		err = rec.Close()
	}
	if err != nil {
		fmt.Fprintf(w, "run %s: release its claim: %v\n", st.Run, err)
		return
	}
	fmt.Fprintf(w, "run %s (%s, pid %d) died before it injected anything: its claim on %d container(s) is released\n",
		st.Run, st.Experiment, st.PID, len(st.Claims))
}

// recoverJournal reverts the pending entries of one dead run and reports each.
func recoverJournal(ctx context.Context, w io.Writer, st journal.RunState, revivers *lazyRevivers) (failed, found int) {
	rec, err := journal.Claim(st.Path, journal.ByRecover)
	if errors.Is(err, journal.ErrLocked) {
		h := journal.HolderOf(st.Path)
		fmt.Fprintf(w, "run %s: %s: left alone\n", st.Run, holderOf(journal.RunState{Holder: h, PID: st.PID, Host: st.Host, Watchdog: st.Watchdog}))
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
	for _, f := range revertPending(ctx, rec, revivers) {
		found++
		what := fmt.Sprintf("%s %q on %s", f.Kind, f.Fault, f.Target)
		if f.Error != "" {
			failed++
			fmt.Fprintf(w, "  FAILED  %s: %s\n", what, f.Error)
			continue
		}
		fmt.Fprintf(w, "  %-8s %s\n", f.Note, what)
	}
	return failed, found
}

// revertPending reverts every pending entry of a journal taken over, in parallel (at
// most faults.Parallelism at once, as a run reverts), and completes the entries it
// reverted. It is what `recover` and the watchdog both do.
func revertPending(ctx context.Context, rec *journal.Recovery, revivers *lazyRevivers) []watchdog.Fault {
	out := make([]watchdog.Fault, len(rec.Pending))
	var g errgroup.Group // not WithContext: one failed revert must not stop the others
	g.SetLimit(faults.Parallelism)
	for i, e := range rec.Pending {
		g.Go(func() error {
			f := watchdog.Fault{Kind: e.Record.Kind, Fault: e.Record.Fault, Target: e.Record.Target.Name}
			start := time.Now()
			note, err := revertRecord(ctx, e.Record, revivers)
			f.TookMS = float64(time.Since(start).Microseconds()) / 1000
			switch {
			case err != nil:
				f.Error = err.Error()
			default:
				f.Note = note
				if err := rec.Complete(e.ID, note); err != nil {
					f.Note += fmt.Sprintf(" (its journal entry stays: %v)", err)
				}
			}
			out[i] = f
			return nil
		})
	}
	_ = g.Wait() // every outcome is in out
	return out
}

// revertRecord rebuilds the action of a record and reverts it, bounded by
// faults.RevertBound.
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
	// One attempt: the action retries its own steps from one budget (faults.Budget).
	actx, cancel := context.WithTimeout(ctx, faults.RevertBound(action))
	defer cancel()
	switch err := action.Revert(actx); {
	case err == nil:
		return "reverted", nil
	case errors.Is(err, faults.ErrTargetGone):
		return "gone", nil
	default:
		return "", fmt.Errorf("revert failed: %w", err)
	}
}

// printWatchdogReports prints what watchdogs did in dir; remove deletes each report
// once shown (recover acknowledges them; run only mentions them). It returns how many
// it printed.
func printWatchdogReports(w, warn io.Writer, dir string, remove bool) int {
	reps, errs := watchdog.Reports(dir)
	for _, err := range errs {
		fmt.Fprintf(warn, "warning: %v\n", err)
	}
	for i := range reps {
		if !remove {
			fmt.Fprint(w, reps[i].Brief())
			continue
		}
		fmt.Fprint(w, reps[i].Summary())
		if err := reps[i].Remove(dir); err != nil {
			fmt.Fprintf(warn, "warning: remove watchdog report: %v\n", err)
		}
	}
	if !remove && len(reps) > 0 {
		fmt.Fprintf(w, "`faultline recover --state-dir %s` shows what the watchdog did, fault by fault, and clears it\n", dir)
	}
	return len(reps)
}

// otherStateDirs looks at the default state directories of other users (root's, or
// the sudo user's) and says which command recovers what dead runs left there. It
// returns how many such runs it found.
func otherStateDirs(w io.Writer, dirs []string) int {
	euid := os.Geteuid()
	n := 0
	for _, d := range dirs {
		cmd := fmt.Sprintf("faultline recover --state-dir %s", d)
		if d == journal.RootDir && euid != 0 {
			cmd = "sudo faultline recover"
		}
		if _, err := os.ReadDir(d); err != nil {
			if errors.Is(err, os.ErrPermission) {
				fmt.Fprintf(w, "note: %s is not readable by you; if a run under sudo was killed, run `%s`\n", d, cmd)
			}
			continue
		}
		states, err := journal.Scan(d)
		if err != nil {
			fmt.Fprintf(w, "note: %v; if a run under sudo was killed, run `%s`\n", err, cmd)
			continue
		}
		if reps, _ := watchdog.Reports(d); len(reps) > 0 {
			fmt.Fprintf(w, "note: %d watchdog report(s) in %s: `%s` shows them\n", len(reps), d, cmd)
		}
		for _, st := range states {
			if !st.Dead() {
				continue
			}
			n++
			fmt.Fprintf(w, "run %s (%s, pid %d) died leaving %d fault(s) and its claim in %s, which this recover does not act on: run `%s`\n",
				st.Run, st.Experiment, st.PID, len(st.Pending), d, cmd)
		}
	}
	return n
}

// lazyRevivers builds the revivers a journal needs, and a Docker client only when a
// container fault must be reverted.
type lazyRevivers struct {
	mu        sync.Mutex
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
		l.mu.Lock()
		defer l.mu.Unlock()
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
