package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/faultline/faultline/experiments/runner"
	"github.com/faultline/faultline/experiments/watchdog"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/result"
	"github.com/faultline/faultline/serve"
	"github.com/faultline/faultline/serve/gameday"
	"github.com/faultline/faultline/serve/history"
	"github.com/spf13/cobra"
)

type serveOptions struct {
	File      string
	StateDir  string
	Listen    string
	LogFormat string
	// ready, when set, receives the address once the server listens (tests).
	ready func(addr string)
}

func newServeCmd(env *Env, runF func(*serveOptions) error) *cobra.Command {
	opts := &serveOptions{}
	c := &cobra.Command{
		Use:   "serve FILE",
		Short: "Run experiments on schedules, keep their history, serve a web UI, an API and /metrics",
		Long: `Serve reads a game-day file (server, schedule and notify blocks; see docs/serve.md)
and runs each schedule's experiment when it is due, through the same steps as
'faultline run': preflight, journal, reverts, result. Every run is kept under the
data directory (result.json, report.html, log) and indexed with a hash chain that
'faultline serve verify' checks.

The web UI, the JSON API under /api/ and /metrics listen on the server block's
listen address (loopback by default). Reads are open to whoever reaches it; every
change (run now, pause, resume, HALT) needs the token of token_file: a login form
for the UI, a bearer token for the API. The token file must not be readable by
group or others.

HALT, SIGINT and SIGTERM revert every running experiment at once; a signal then
ends serve with exit code 0 once every run is reverted and recorded, or with exit
code 4, naming the runs, when a revert failed (run 'faultline recover'). If serve was
killed during a run, the next start reverts what the journal holds before anything
else and records that run as interrupted.`,
		Example: `  openssl rand -hex 32 > token && chmod 600 token
  faultline serve examples/gameday.hcl
  faultline serve verify examples/gameday.hcl`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(opts)
			}
			return serveRun(env, opts)
		},
	}
	c.Flags().StringVar(&opts.StateDir, "state-dir", "", "directory of the fault journals (default as for run)")
	c.Flags().StringVar(&opts.Listen, "listen", "", "host:port to listen on, instead of the server block's listen")
	c.Flags().StringVar(&opts.LogFormat, "log-format", "text", "serve's own log lines: text or json")
	c.AddCommand(newServeVerifyCmd(env))
	return c
}

func newServeVerifyCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "verify FILE",
		Short: "Check that no run in the history was edited or deleted",
		Long: `Verify walks the history of the game-day file's data directory: every run's
row against its hash, its link to the run before, the SHA-256 of its result.json,
report.html and log, any file added to its directory after it was recorded, and
the chain head kept beside the database. It prints the
head hash: write it down (or publish it) to be able to prove later that nothing
before it changed. Exit code 0 when the history is intact, 1 when it is not.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			f, err := loadGameDay(env, args[0])
			if err != nil {
				return err
			}
			store, err := history.Open(f.Server.DataDir)
			if err != nil {
				return exitf(result.ExitPreflight, "%w", err)
			}
			defer store.Close()
			v, err := store.Verify()
			if err != nil {
				return exitf(result.ExitInternal, "%w", err)
			}
			fmt.Fprint(env.Stdout, v.String())
			if !v.OK() {
				return silentExit(result.ExitCheckFailed)
			}
			return nil
		},
	}
}

// loadGameDay loads a game-day file, printing its diagnostics.
func loadGameDay(env *Env, path string) (*gameday.File, error) {
	f, files, diags := gameday.Load(path, gameday.Options{Getenv: env.Getenv})
	if len(diags) > 0 {
		printDiagnostics(env.Stderr, env.StderrTTY, files, diags)
	}
	if diags.HasErrors() {
		return nil, silentExit(result.ExitInvalid)
	}
	return f, nil
}

func serveRun(env *Env, opts *serveOptions) error {
	if opts.LogFormat != "text" && opts.LogFormat != "json" {
		return exitf(result.ExitInvalid, "--log-format %q: use text or json", opts.LogFormat)
	}
	f, err := loadGameDay(env, opts.File)
	if err != nil {
		return err
	}
	token, err := serve.LoadToken(f.Server.TokenFile)
	if err != nil {
		return exitf(result.ExitPreflight, "%w", err)
	}
	listen := f.Server.Listen
	if opts.Listen != "" {
		listen = opts.Listen
	}
	log := newRunLogger(env.Stderr, opts.LogFormat)
	svc, err := serve.New(serve.Config{
		File:    f,
		Token:   token,
		Runner:  &cmdRunner{env: env, stateDir: opts.StateDir},
		Recover: func(ctx context.Context, w io.Writer) error { return recoverInto(env, ctx, w, opts.StateDir) },
		Getenv:  env.Getenv,
		Log:     log,
	})
	if err != nil {
		return exitf(result.ExitPreflight, "%w", err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		svc.Shutdown(context.Background(), "could not listen")
		return exitf(result.ExitPreflight, "listen on %s: %w (another serve running? choose another with --listen)", listen, err)
	}
	// Recovery of a killed serve's runs comes before anything is served or scheduled.
	if err := svc.Start(env.Context); err != nil {
		ln.Close()
		svc.Shutdown(context.Background(), "start failed")
		return exitf(result.ExitRevertFailed, "%w", err)
	}
	srv := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	addr := ln.Addr().String()
	fmt.Fprintf(env.Stdout, "faultline serve: %d schedule(s) from %s, history in %s\n", len(f.Schedules), opts.File, f.Server.DataDir)
	fmt.Fprintf(env.Stdout, "listening on http://%s/ (UI, /api/, /metrics)\n", addr)
	fmt.Fprintf(env.Stdout, "the token is in %s: log in at http://%s/login, or send Authorization: Bearer $(cat %s)\n", f.Server.TokenFile, addr, f.Server.TokenFile)
	if opts.ready != nil {
		opts.ready(addr)
	}

	// The first SIGINT or SIGTERM cancels env.Context (MainArgs).
	var why string
	select {
	case <-env.Context.Done():
		why = context.Cause(env.Context).Error()
		fmt.Fprintf(env.Stderr, "\n%s: reverting every running experiment, then exiting\n", why)
	case err := <-served:
		why = "the server stopped"
		log.Error("the web server stopped", "err", err)
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(env.Context), 10*time.Minute)
	defer cancel()
	// Stop serving first (no new run can be triggered), then revert and record.
	httpCtx, httpCancel := context.WithTimeout(shutCtx, 5*time.Second)
	srv.Shutdown(httpCtx)
	httpCancel()
	if err := svc.Shutdown(shutCtx, why); err != nil {
		return exitf(result.ExitRevertFailed, "%w", err)
	}
	fmt.Fprintln(env.Stderr, "every run is reverted and recorded")
	return nil
}

// serveWaitsForWatchdogs bounds serve's wait at start for the watchdogs of the runs a
// killed serve left: they revert those runs' faults, and serve listens only after.
const serveWaitsForWatchdogs = time.Minute

// recoverInto runs `faultline recover` on the state directory, writing to w.
func recoverInto(env *Env, ctx context.Context, w io.Writer, stateDir string) error {
	return recoverRun(subEnv(env, ctx, w), &recoverOptions{StateDir: stateDir, WaitWatchdogs: serveWaitsForWatchdogs})
}

// subEnv is the process state of one piece of serve's work: its output goes to w, it
// sees no signal (serve handles them), and ctx is its context.
func subEnv(env *Env, ctx context.Context, w io.Writer) *Env {
	return &Env{Stdin: env.Stdin, Stdout: w, Stderr: w, Getenv: env.Getenv, Context: ctx}
}

// cmdRunner runs serve's runs through prepareRun and execute, as `faultline run` does.
type cmdRunner struct {
	env      *Env
	stateDir string
}

func (c *cmdRunner) Prepare(ctx context.Context, req serve.Request) (serve.Prepared, error) {
	claim := func(ts []faults.Target) error {
		var out []serve.Target
		for _, t := range ts {
			out = append(out, serve.Target{ID: t.ID, Name: t.Name})
		}
		return req.Claim(out)
	}
	p, err := prepareRun(subEnv(c.env, ctx, req.Log), runRequest{File: req.Experiment, Flags: experimentFlags{Vars: req.Vars},
		StateDir: c.stateDir, Lease: watchdog.DefaultLease, RunID: req.RunID, Claim: claim})
	if err != nil {
		var quiet silentExit
		if errors.As(err, &quiet) {
			err = exitf(int(quiet), "the experiment is invalid: its diagnostics are in the run's log")
		}
		return nil, err
	}
	return &cmdPrepared{p: p, id: req.RunID, log: req.Log}, nil
}

type cmdPrepared struct {
	p   *preparedRun
	id  string
	log io.Writer
}

func (c *cmdPrepared) Experiment() string { return c.p.exp.Name }

func (c *cmdPrepared) Targets() []serve.Target {
	var out []serve.Target
	for _, t := range c.p.targets() {
		out = append(out, serve.Target{ID: t.ID, Name: t.Name})
	}
	return out
}

func (c *cmdPrepared) Run(ctx context.Context, skip <-chan struct{}, event func(result.Event)) (*result.Result, error) {
	logger := slog.New(slog.NewTextHandler(c.log, nil)).With("run", c.id)
	hooks := runHooks{
		SkipObservation: skip,
		Log:             logger,
		Progress: func(u runner.Update) {
			if u.Event != nil {
				event(*u.Event)
			}
		},
		Journal: func(path string) { logger.Info("journal", "path", path) },
	}
	res, closeErr, err := c.p.execute(ctx, hooks)
	if closeErr != nil {
		logger.Error("journal", "err", closeErr)
	}
	return res, err
}

func (c *cmdPrepared) Close() { c.p.close() }
