package watchdog

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// reportSuffix names the reports in the state directory, beside the journals.
const reportSuffix = ".watchdog.json"

// Report is what a watchdog did for a run that stopped renewing its lease. It stays in
// the state directory until `faultline recover` has printed it; `faultline run` prints
// it too.
type Report struct {
	Run        string `json:"run"`
	Experiment string `json:"experiment"`
	RunPID     int    `json:"run_pid"`
	Host       string `json:"host,omitempty"`
	// WatchdogPID is the process that wrote this report.
	WatchdogPID int `json:"watchdog_pid"`
	// Why is Verdict.String(); Killed is set when the watchdog killed the run (the
	// lease lapsed while it was still alive: stopped or hung).
	Why    string `json:"why"`
	Killed bool   `json:"killed,omitempty"`
	// Noticed is when the watchdog saw the run die or the lease lapse; Done is when
	// it had reverted everything it could.
	Noticed time.Time `json:"noticed"`
	Done    time.Time `json:"done"`
	Faults  []Fault   `json:"faults"`
	// Error is set when the watchdog could not do its work (the journal held by a
	// `recover`, unreadable, Docker unreachable): the journal then stays for recover.
	Error string `json:"error,omitempty"`
}

// Fault is one journal entry the watchdog handled.
type Fault struct {
	Kind   string `json:"kind"`
	Fault  string `json:"fault"`
	Target string `json:"target"`
	// Note is "reverted", "gone" (the container is gone: nothing to revert) or empty
	// when Error says why the revert failed.
	Note  string `json:"note,omitempty"`
	Error string `json:"error,omitempty"`
	// Took is how long its revert took, in milliseconds.
	TookMS float64 `json:"took_ms"`
}

// Path is the report's file in dir.
func (r *Report) Path(dir string) string { return filepath.Join(dir, r.Run+reportSuffix) }

// Write stores the report in dir, whole or not at all.
func (r *Report) Write(dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	path := r.Path(dir)
	tmp := path + ".new"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write watchdog report: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write watchdog report: %w", err)
	}
	return nil
}

// Reports reads every report in dir, oldest first. A file that cannot be read is an
// error naming it, beside the others.
func Reports(dir string) ([]Report, []error) {
	names, _ := filepath.Glob(filepath.Join(dir, "*"+reportSuffix))
	var out []Report
	var errs []error
	for _, name := range names {
		b, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		var r Report
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("watchdog report %s: %w (move it away)", name, err))
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Noticed.Before(out[j].Noticed) })
	return out, errs
}

// Remove deletes the report from dir once it has been shown.
func (r *Report) Remove(dir string) error {
	if err := os.Remove(r.Path(dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Brief is the report in one line, with a line for each failed revert: what `faultline
// run` prints of a report it leaves for recover, which prints it whole.
func (r *Report) Brief() string {
	var b strings.Builder
	how := r.Why
	if r.Killed {
		how += " (the watchdog killed it)"
	}
	counts := map[string]int{}
	var failed []Fault
	for _, f := range r.Faults {
		if f.Error != "" {
			failed = append(failed, f)
			continue
		}
		counts[f.Note]++
	}
	var parts []string
	for _, note := range []string{"reverted", "gone"} {
		if counts[note] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[note], note))
		}
	}
	if len(failed) > 0 {
		parts = append(parts, fmt.Sprintf("%d FAILED", len(failed)))
	}
	if len(parts) == 0 && r.Error == "" {
		parts = append(parts, "nothing was left to revert")
	}
	fmt.Fprintf(&b, "the watchdog (pid %d) of run %s (experiment %q) took over at %s: %s; %s\n",
		r.WatchdogPID, r.Run, r.Experiment, r.Noticed.Format(time.RFC3339), how, strings.Join(parts, ", "))
	for _, f := range failed {
		fmt.Fprintf(&b, "  FAILED  %s %q on %s: %s\n", f.Kind, f.Fault, f.Target, f.Error)
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "  %s\n", r.Error)
	}
	return b.String()
}

// Summary is the report in a few lines for a terminal.
func (r *Report) Summary() string {
	var b strings.Builder
	how := r.Why
	if r.Killed {
		how += " (the run was still alive, stopped or hung: the watchdog killed it)"
	}
	fmt.Fprintf(&b, "the watchdog (pid %d) of run %s (experiment %q, pid %d) took over at %s: %s\n",
		r.WatchdogPID, r.Run, r.Experiment, r.RunPID, r.Noticed.Format(time.RFC3339), how)
	for _, f := range r.Faults {
		what := fmt.Sprintf("%s %q on %s", f.Kind, f.Fault, f.Target)
		if f.Error != "" {
			fmt.Fprintf(&b, "  FAILED  %s: %s\n", what, f.Error)
			continue
		}
		fmt.Fprintf(&b, "  %-8s %s\n", f.Note, what)
	}
	if len(r.Faults) == 0 && r.Error == "" {
		fmt.Fprintf(&b, "  nothing was left to revert\n")
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "  %s\n", r.Error)
	}
	if !r.Done.IsZero() {
		fmt.Fprintf(&b, "  done %s after it noticed\n", r.Done.Sub(r.Noticed).Round(time.Millisecond))
	}
	return b.String()
}
