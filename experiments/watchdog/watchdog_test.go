package watchdog

import (
	"os"
	"testing"
	"time"
)

func TestWatchVerdicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		write func(w *os.File)
		want  Verdict
	}{
		{"released", func(w *os.File) { w.Write([]byte{msgRenew, msgRenew, msgRelease}); w.Close() }, Released},
		{"closed without a release: the run died", func(w *os.File) { w.Write([]byte{msgRenew}); w.Close() }, RunDied},
		{"silent: the lease lapses", func(w *os.File) { w.Write([]byte{msgRenew}) }, LeaseLapsed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer w.Close()
			tc.write(w)
			start := time.Now()
			got := Watch(r, 300*time.Millisecond)
			if got != tc.want {
				t.Fatalf("Watch = %s, want %s", got, tc.want)
			}
			if tc.want == LeaseLapsed && time.Since(start) < 300*time.Millisecond {
				t.Fatalf("lapsed after %s, before the lease", time.Since(start))
			}
		})
	}
}

func TestRenewalsKeepTheLease(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan Verdict, 1)
	go func() { done <- Watch(r, 500*time.Millisecond) }()
	// Renewals every 100ms for 1.5s, three leases long: the watchdog must not act.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); <-tick.C {
		w.Write([]byte{msgRenew})
		select {
		case v := <-done:
			t.Fatalf("Watch returned %s while renewed", v)
		default:
		}
	}
	w.Write([]byte{msgRelease})
	if v := <-done; v != Released {
		t.Fatalf("Watch = %s after the release", v)
	}
}

func TestReportRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rep := Report{Run: "r1", Experiment: "e", RunPID: 10, WatchdogPID: 11, Why: RunDied.String(),
		Noticed: time.Now(), Done: time.Now(), Faults: []Fault{{Kind: "pause", Fault: "f", Target: "c", Note: "reverted"}}}
	if err := rep.Write(dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(dir+"/bad"+reportSuffix, []byte("{"), 0o644)
	got, errs := Reports(dir)
	if len(got) != 1 || got[0].Run != "r1" || len(errs) != 1 {
		t.Fatalf("Reports = %+v, %v; want r1 and an error naming the bad file", got, errs)
	}
	if err := got[0].Remove(dir); err != nil {
		t.Fatal(err)
	}
	if got, _ := Reports(dir); len(got) != 0 {
		t.Fatalf("report left after Remove: %+v", got)
	}
}
