// Command sleeper is the smallest test workload: it serves nothing (unless -listen is
// given), prints "ready", and then prints "signal NAME" for every signal it receives.
// SIGTERM and SIGINT end it with exit code 0 (after -term-delay) unless -ignore-term is
// set, so a test can tell a graceful stop from the SIGKILL that follows an exhausted
// grace period.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	listen := flag.String("listen", "", "serve HTTP on this address (\"ok\" on every path)")
	ignoreTerm := flag.Bool("ignore-term", false, "keep running on SIGTERM and SIGINT")
	termDelay := flag.Duration("term-delay", 0, "on SIGTERM and SIGINT, exit only after this long (a slow shutdown)")
	flag.Parse()

	sigs := make(chan os.Signal, 16)
	// Everything catchable: SIGKILL and SIGSTOP cannot be caught and are not listed.
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE, syscall.SIGALRM, syscall.SIGCONT, syscall.SIGWINCH)

	if *listen != "" {
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sleeper:", err)
			os.Exit(2)
		}
		go func() {
			_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				fmt.Fprintln(w, "ok")
			}))
		}()
	}
	fmt.Println("ready")
	for s := range sigs {
		sig := s.(syscall.Signal)
		fmt.Printf("signal %s\n", unix.SignalName(sig))
		if (sig == syscall.SIGTERM || sig == syscall.SIGINT) && !*ignoreTerm {
			if *termDelay > 0 {
				go func() { time.Sleep(*termDelay); os.Exit(0) }()
				continue
			}
			os.Exit(0)
		}
	}
}
