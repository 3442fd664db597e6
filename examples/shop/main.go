// Command shop is the demo service faultline's examples run against: a backend that
// answers /api/item after a small configurable amount of work, a frontend that calls
// several backend replicas round-robin with a timeout and retries, and a load
// generator that sends a steady rate of requests. Every part serves Prometheus
// metrics on /metrics and stops gracefully on SIGTERM.
//
//	shop backend  --listen :8080 [--work 5ms] [--payload 2048]
//	shop frontend --listen :8080 --backends b1:8080,b2:8080 [--timeout 300ms] [--retries 2]
//	shop loadgen  --target http://frontend:8080/api/item --rps 20 [--listen :9100]
//
// It is built as one static binary so that its image can be built FROM scratch.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: shop COMMAND [flags]

commands:
  backend   serve /api/item after a configurable work time
  frontend  serve /api/item by calling backends round-robin with timeout and retries
  loadgen   send a steady rate of requests to a URL

Run 'shop COMMAND -h' for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a command and maps its error to an exit code: 2 for usage, 1 otherwise.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "backend":
		err = runBackend(ctx, args[1:], stdout, stderr)
	case "frontend":
		err = runFrontend(ctx, args[1:], stdout, stderr)
	case "loadgen":
		err = runLoadgen(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "shop: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "shop %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "shop %s: %v\n", args[0], err)
		return 1
	}
}

// usageError marks bad flags or arguments.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }
