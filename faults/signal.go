package faults

import (
	"fmt"
	"strconv"
	"strings"
)

// Signals are Linux's, whatever the platform faultline runs on: they are sent to
// processes in Linux containers. A name is normalised to "SIGKILL"; a number with a
// name to that name, and one without (32 and 33, which the C library reserves, and
// the real-time signals 34 to 64) stays a number, which the Docker Engine takes too.

// MaxSignal is the highest Linux signal number (SIGRTMAX).
const MaxSignal = 64

// sigRTMin is the first real-time signal as the C library, and so the Docker Engine,
// counts it (the kernel's 32 and 33 are the C library's own).
const sigRTMin = 34

var signalNames = [...]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
	7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
	13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD",
	18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU",
	23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF",
	28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
}

// signalAliases are other names of the same signals.
var signalAliases = map[string]int{"SIGIOT": 6, "SIGCLD": 17, "SIGPOLL": 29, "SIGUNUSED": 31}

// SignalNumber returns the Linux number of a signal as ParseSignal returns it.
func SignalNumber(sig string) (int, bool) {
	if n, err := strconv.Atoi(sig); err == nil {
		return n, n >= 1 && n <= MaxSignal
	}
	for n, name := range signalNames {
		if name != "" && name == sig {
			return n, true
		}
	}
	n, ok := signalAliases[sig]
	return n, ok
}

// ParseSignal reads a signal as an experiment writes it: a name with or without SIG
// in any case ("SIGKILL", "kill", "Term"), a real-time one ("SIGRTMIN+3", "RTMAX"),
// or a number from 1 to 64. It returns the name, or the number of a signal without
// one, and otherwise an error saying what to write.
func ParseSignal(s string) (string, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if n, err := strconv.Atoi(t); err == nil {
		if n < 1 || n > MaxSignal {
			return "", fmt.Errorf("signal %d is out of range: use a number from 1 to %d, or a name such as \"SIGTERM\"", n, MaxSignal)
		}
		return signalString(n), nil
	}
	if !strings.HasPrefix(t, "SIG") {
		t = "SIG" + t
	}
	if n, ok := realTime(t); ok {
		return signalString(n), nil
	}
	if n, ok := SignalNumber(t); ok && t != "" {
		return signalNames[n], nil
	}
	return "", fmt.Errorf("%q is not a signal; use a name such as \"SIGKILL\", \"SIGTERM\" or \"SIGHUP\", or a number from 1 to %d", s, MaxSignal)
}

func signalString(n int) string {
	if n < len(signalNames) && signalNames[n] != "" {
		return signalNames[n]
	}
	return strconv.Itoa(n)
}

// realTime reads SIGRTMIN, SIGRTMIN+n, SIGRTMAX and SIGRTMAX-n.
func realTime(t string) (int, bool) {
	for _, base := range []struct {
		name string
		n    int
		sign string
	}{{"SIGRTMIN", sigRTMin, "+"}, {"SIGRTMAX", MaxSignal, "-"}} {
		rest, ok := strings.CutPrefix(t, base.name)
		if !ok {
			continue
		}
		if rest == "" {
			return base.n, true
		}
		off, ok := strings.CutPrefix(rest, base.sign)
		if !ok {
			return 0, false
		}
		k, err := strconv.Atoi(off)
		if err != nil || k < 0 || k > MaxSignal-sigRTMin || strings.HasPrefix(off, "+") || strings.HasPrefix(off, "-") {
			return 0, false
		}
		if base.sign == "-" {
			k = -k
		}
		return base.n + k, true
	}
	return 0, false
}
