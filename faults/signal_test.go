package faults

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseSignal(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"SIGKILL": "SIGKILL", "kill": "SIGKILL", "Term": "SIGTERM", " usr1 ": "SIGUSR1", "sighup": "SIGHUP",
		"9": "SIGKILL", "15": "SIGTERM", "31": "SIGSYS", "1": "SIGHUP",
		"iot": "SIGABRT", "SIGCLD": "SIGCHLD", "poll": "SIGIO",
		// Without a name: the C library's own two, and the real-time ones.
		"32": "32", "34": "34", "40": "40", "64": "64",
		"SIGRTMIN": "34", "rtmin+6": "40", "SIGRTMAX": "64", "RTMAX-2": "62", "SIGRTMIN+30": "64",
	} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, hint := range map[string]string{
		"0": "out of range", "65": "out of range", "99": "out of range", "-1": "out of range",
		"SIGFOO": "not a signal", "": "not a signal", "SIG": "not a signal",
		"SIGRTMIN+31": "not a signal", "SIGRTMAX+1": "not a signal", "SIGRTMIN-1": "not a signal", "SIGRTMIN++1": "not a signal",
	} {
		if got, err := ParseSignal(in); err == nil || !strings.Contains(err.Error(), hint) {
			t.Errorf("ParseSignal(%q) = %q, %v; want an error saying %q", in, got, err, hint)
		}
	}
}

// TestSignalNumberReadsParseSignal: every signal ParseSignal returns has its number.
func TestSignalNumberReadsParseSignal(t *testing.T) {
	t.Parallel()
	for n := 1; n <= MaxSignal; n++ {
		name, err := ParseSignal(strings.Repeat(" ", n%2) + strconv.Itoa(n))
		if err != nil {
			t.Fatalf("ParseSignal(%d): %v", n, err)
		}
		if got, ok := SignalNumber(name); !ok || got != n {
			t.Errorf("SignalNumber(%q) = %d, %v; want %d", name, got, ok, n)
		}
	}
}
