package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/faultline/faultline/experiments/journal"
	"github.com/faultline/faultline/experiments/watchdog"
	"github.com/faultline/faultline/result"
	"github.com/spf13/cobra"
)

type watchdogOptions struct {
	Journal, StateDir string
	RunPID            int
	Lease             time.Duration
}

// newWatchdogCmd is the hidden verb `faultline run` starts, detached, before its first
// fault: it reverts the run's journal when the run stops renewing its lease.
func newWatchdogCmd(env *Env) *cobra.Command {
	opts := &watchdogOptions{}
	c := &cobra.Command{
		Use:    "watchdog",
		Short:  "Guard a run's faults (started by `faultline run`, not by hand)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return watchdogRun(env, opts)
		},
	}
	fs := c.Flags()
	fs.StringVar(&opts.Journal, "journal", "", "the run's journal file")
	fs.StringVar(&opts.StateDir, "state-dir", "", "where the report goes")
	fs.IntVar(&opts.RunPID, "run-pid", 0, "the run's pid (this process's parent)")
	fs.DurationVar(&opts.Lease, "lease", watchdog.DefaultLease, "silence on the lease pipe accepted")
	return c
}

func watchdogRun(env *Env, opts *watchdogOptions) error {
	if opts.Journal == "" || opts.StateDir == "" || opts.RunPID == 0 || opts.Lease < watchdog.MinLease {
		return exitf(result.ExitInvalid, "watchdog: --journal, --state-dir, --run-pid and --lease (at least %s) are required; `faultline run` starts it", watchdog.MinLease)
	}
	// Its own session already keeps terminal signals away; a stray one must not end the
	// guard of a run's faults either. SIGKILL still does, and then the run stops harming.
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGPIPE)
	in, err := watchdog.LeaseFile()
	if err != nil {
		return exitf(result.ExitInvalid, "watchdog: %w", err)
	}
	proc, err := watchdog.OpenProcess(opts.RunPID)
	if err != nil {
		return exitf(result.ExitInvalid, "watchdog: %w", err)
	}
	defer proc.Close()
	if err := watchdog.Ready(os.Stdout); err != nil {
		return exitf(result.ExitInternal, "watchdog: %w", err)
	}
	verdict := watchdog.Watch(in, opts.Lease)
	if verdict == watchdog.Released {
		return nil
	}
	rep := watchdog.Report{WatchdogPID: os.Getpid(), RunPID: opts.RunPID, Why: verdict.String(), Noticed: time.Now()}
	if verdict == watchdog.LeaseLapsed {
		rep.Why = fmt.Sprintf("no renewal of its lease for %s", opts.Lease)
		rep.Killed = true
		_ = proc.Kill() // it must not wake up and harm on after we revert
	}
	if !proc.WaitExit(10 * time.Second) {
		if !rep.Killed { // it closed the lease without releasing it and lives on
			rep.Killed = true
			_ = proc.Kill()
		}
		proc.WaitExit(10 * time.Second)
	}
	revivers := &lazyRevivers{getenv: env.Getenv}
	defer revivers.close()
	takeOver(context.WithoutCancel(env.Context), opts.Journal, revivers, &rep)
	rep.Done = time.Now()
	if err := rep.Write(opts.StateDir); err != nil {
		return exitf(result.ExitInternal, "watchdog: %w", err)
	}
	return nil
}

// takeOver claims the dead run's journal and reverts it, as `recover` would, filling
// rep. A `recover` that claimed it first keeps it.
func takeOver(ctx context.Context, path string, revivers *lazyRevivers, rep *watchdog.Report) {
	if st, err := journal.Read(path); err == nil {
		rep.Run, rep.Experiment, rep.Host = st.Run, st.Experiment, st.Host
	} else if errors.Is(err, os.ErrNotExist) {
		rep.Run = runIDOf(path)
		return // the run settled everything and removed its journal as it died
	}
	// The kernel drops the dead run's lock as the process goes; a moment may pass.
	deadline := time.Now().Add(5 * time.Second)
	var rec *journal.Recovery
	for {
		var err error
		rec, err = journal.Claim(path, journal.ByWatchdog)
		if err == nil {
			break
		}
		switch h := journal.HolderOf(path); {
		case errors.Is(err, os.ErrNotExist):
			return
		case errors.Is(err, journal.ErrLocked) && h != nil:
			rep.Error = fmt.Sprintf("`faultline %s` (pid %d) took the journal over first: it reverts the faults", h.By, h.PID)
			return
		case errors.Is(err, journal.ErrLocked) && time.Now().Before(deadline):
			time.Sleep(20 * time.Millisecond) // waiting for the kernel to drop a dead process's lock, with a deadline
			continue
		}
		rep.Error = fmt.Sprintf("take the journal over: %v; run `faultline recover`", err)
		return
	}
	rep.Run, rep.Experiment, rep.Host = rec.Run, rec.Experiment, rec.Host
	rep.Faults = revertPending(ctx, rec, revivers)
	if err := rec.Close(); err != nil {
		rep.Error = err.Error()
	}
}

func runIDOf(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".journal")
}
