package journal

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/waitfor"

	"github.com/faultline/faultline/faults"
)

func rec(name string) faults.Record {
	return faults.Record{Kind: "pause", Fault: "freeze", Target: faults.TargetRef{ID: name + "-id", Name: name},
		State: json.RawMessage(`{"was":"running"}`)}
}

func TestDir(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		name    string
		flag    string
		getenv  func(string) string
		euid    int
		want    string
		wantErr bool
	}{
		{"flag wins", "/x", env("FAULTLINE_STATE_DIR", "/y"), 0, "/x", false},
		{"env next", "", env("FAULTLINE_STATE_DIR", "/y", "HOME", "/h"), 1000, "/y", false},
		{"root", "", env("HOME", "/root", "XDG_STATE_HOME", "/s"), 0, "/var/lib/faultline", false},
		{"xdg for users", "", env("HOME", "/h", "XDG_STATE_HOME", "/s"), 1000, "/s/faultline", false},
		{"home for users", "", env("HOME", "/h"), 1000, "/h/.local/state/faultline", false},
		{"nothing set", "", env(), 1000, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Dir(tc.flag, tc.getenv, tc.euid)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("Dir = %q, %v; want %q, error %v", got, err, tc.want, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "--state-dir") {
				t.Fatalf("error %q does not say how to fix it", err)
			}
		})
	}
}

func TestCompletedJournalIsRemoved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, err := Create(dir, "run-1", "exp")
	if err != nil {
		t.Fatal(err)
	}
	a, err := j.Append(rec("a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := j.Append(rec("b"))
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two appends got the same id %d", a)
	}
	for _, id := range []int{a, b} {
		if err := j.Complete(id, "reverted"); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Complete(a, "again"); err == nil {
		t.Fatal("completing an entry twice is not an error")
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(j.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("completed journal still there: %v", err)
	}
}

func TestLiveRunIsNotPendingAndCannotBeClaimed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, err := Create(dir, "run-live", "exp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.f.Close() })
	if _, err := j.Append(rec("a")); err != nil {
		t.Fatal(err)
	}
	all, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || !all[0].Live || len(all[0].Pending) != 1 || all[0].PID != os.Getpid() || all[0].Experiment != "exp" {
		t.Fatalf("Scan = %+v, want one live run of exp with one pending entry and our pid", all)
	}
	dead, err := Pending(dir)
	if err != nil || len(dead) != 0 {
		t.Fatalf("Pending = %+v, %v; want none while the run lives", dead, err)
	}
	if _, err := Claim(j.Path(), ByRecover); !errors.Is(err, ErrLocked) {
		t.Fatalf("Claim of a live run: %v, want ErrLocked", err)
	}
}

// TestUncompletedJournalOutlivesItsRun simulates a crash in process: the file is closed
// (dropping the lock) without Close.
func TestUncompletedJournalOutlivesItsRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, err := Create(dir, "run-dead", "exp")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := j.Append(rec("a"))
	b, _ := j.Append(rec("b"))
	if err := j.Complete(a, "reverted"); err != nil {
		t.Fatal(err)
	}
	j.f.Close() // the crash

	dead, err := Pending(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || len(dead[0].Pending) != 1 || dead[0].Pending[0].ID != b || dead[0].Pending[0].Record.Target.Name != "b" {
		t.Fatalf("Pending = %+v, want run-dead with entry %d on b", dead, b)
	}
	if string(dead[0].Pending[0].Record.State) != `{"was":"running"}` {
		t.Fatalf("record state = %s, not kept verbatim", dead[0].Pending[0].Record.State)
	}

	r, err := Claim(dead[0].Path, ByRecover)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Claim(dead[0].Path, ByRecover); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Claim while the first holds it: %v, want ErrLocked", err)
	}
	if err := r.Complete(b, "recovered"); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if left, err := Scan(dir); err != nil || len(left) != 0 {
		t.Fatalf("after recovery Scan = %+v, %v; want nothing", left, err)
	}
}

func TestCloseWithPendingKeepsTheFileAndSaysRecover(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, err := Create(dir, "run-failed", "exp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(rec("a")); err != nil {
		t.Fatal(err)
	}
	err = j.Close()
	if err == nil || !strings.Contains(err.Error(), "faultline recover") {
		t.Fatalf("Close with a pending entry: %v, want an error naming faultline recover", err)
	}
	if dead, _ := Pending(dir); len(dead) != 1 {
		t.Fatalf("Pending after Close = %+v, want the run", dead)
	}
}

func TestTornLastLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tail string // appended to a journal with two injections and one completion
	}{
		{"half a completion", `{"type":"complete","ti`},
		{"whole object without its newline", `{"type":"complete","time":"2024-01-01T00:00:00Z","id":2}`},
		{"half an injection", `{"type":"inject","time":"2024-01-01T00:00:00Z","id":3,"record":{"kind":"pa`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			j, err := Create(dir, "run-torn", "exp")
			if err != nil {
				t.Fatal(err)
			}
			a, _ := j.Append(rec("a"))
			b, _ := j.Append(rec("b"))
			j.Complete(a, "")
			j.f.Close()
			f, err := os.OpenFile(j.Path(), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(tc.tail)
			f.Close()

			dead, err := Pending(dir)
			if err != nil {
				t.Fatalf("a torn last line is an error: %v", err)
			}
			// The torn line was never acknowledged: only b is pending.
			if len(dead) != 1 || !dead[0].Torn || len(dead[0].Pending) != 1 || dead[0].Pending[0].ID != b {
				t.Fatalf("Pending = %+v, want b pending and Torn", dead)
			}
			r, err := Claim(j.Path(), ByRecover)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Complete(b, "recovered"); err != nil {
				t.Fatal(err)
			}
			// Written after the cut, the completion must parse: nothing pending.
			if st, err := scanFile(j.Path()); err != nil || len(st.Pending) != 0 || st.Torn {
				t.Fatalf("after cut and complete: %+v, %v", st, err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCorruptJournalIsSkippedAndNamed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "bad"+suffix)
	os.WriteFile(path, []byte("{\"type\":\"run\",\"run\":\"bad\"}\nnot json\n{\"type\":\"complete\",\"id\":1}\n"), 0o600)
	// A valid dead journal beside it must still be found.
	j, err := Create(dir, "run-ok", "exp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(rec("victim")); err != nil {
		t.Fatal(err)
	}
	j.Close()
	all, err := Scan(dir)
	if err != nil || len(all) != 2 {
		t.Fatalf("Scan: %+v, %v; want both files", all, err)
	}
	var bad RunState
	for _, st := range all {
		if st.Path == path {
			bad = st
		}
	}
	if bad.Corrupt == nil || !strings.Contains(bad.Corrupt.Error(), "line 2") || !strings.Contains(bad.Corrupt.Error(), path) || bad.Dead() {
		t.Fatalf("corrupt journal: %+v; want Corrupt naming the file and line 2, not dead", bad)
	}
	dead, err := Pending(dir)
	if err != nil || len(dead) != 1 || dead[0].Run != "run-ok" {
		t.Fatalf("Pending beside a corrupt journal: %+v, %v; want run-ok", dead, err)
	}
}

func TestClaimsWatchdogAndHolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, err := Create(dir, "run-claims", "exp", faults.TargetRef{ID: "c1", Name: "one"}, faults.TargetRef{ID: "c2", Name: "two"})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.NoteWatchdog(4242); err != nil {
		t.Fatal(err)
	}
	all, err := Scan(dir)
	if err != nil || len(all) != 1 {
		t.Fatalf("Scan: %+v, %v", all, err)
	}
	st := all[0]
	if !st.Live || st.Dead() || st.Watchdog != 4242 || st.Holder != nil || !st.Touches("c2") || st.Touches("c3") {
		t.Fatalf("live run with claims: %+v; want live, watchdog 4242, no holder, touching c1 and c2 only", st)
	}
	if info, err := os.Stat(j.Path()); err != nil || info.Mode().Perm() != 0o644 {
		t.Fatalf("journal mode: %v, %v; want 0644 so that other users see the claims", info.Mode(), err)
	}
	j.Close() // nothing pending: the claim goes with the file
	if left, _ := Scan(dir); len(left) != 0 {
		t.Fatalf("claims outlived a clean close: %+v", left)
	}

	j, _ = Create(dir, "run-dead", "exp", faults.TargetRef{ID: "c1"})
	j.f.Close() // dies without closing: the claim stays, dead
	j.f = nil
	all, _ = Scan(dir)
	if len(all) != 1 || !all[0].Dead() || !all[0].Touches("c1") || len(all[0].Pending) != 0 {
		t.Fatalf("dead run's claim: %+v; want dead, touching c1, nothing pending", all)
	}
	r, err := Claim(all[0].Path, ByWatchdog)
	if err != nil {
		t.Fatal(err)
	}
	if h := HolderOf(all[0].Path); h == nil || h.By != ByWatchdog || h.PID != os.Getpid() {
		t.Fatalf("holder while claimed: %+v; want the watchdog with our pid", h)
	}
	if st, _ := Scan(dir); len(st) != 1 || !st[0].Live || st[0].Dead() {
		t.Fatalf("claimed journal: %+v; want live", st)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := Scan(dir); len(left) != 0 {
		t.Fatalf("a claimed dead run with nothing pending stays: %+v", left)
	}
}

func TestOtherDirs(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	if got := OtherDirs("/home/u/.local/state/faultline", env(), 1000); len(got) != 1 || got[0] != RootDir {
		t.Errorf("a user: %v, want root's %s", got, RootDir)
	}
	if got := OtherDirs(RootDir, env(), 0); len(got) != 0 {
		t.Errorf("root, not under sudo: %v, want none", got)
	}
	if got := OtherDirs(RootDir, env("SUDO_USER", "root"), 0); len(got) != 0 {
		t.Errorf("root under sudo as root: %v, want none", got)
	}
	if got := OtherDirs(RootDir+"/", env(), 1000); len(got) != 0 {
		t.Errorf("a user whose own dir is root's: %v, want none", got)
	}
}

func TestConcurrentAppends(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, err := Create(dir, "run-conc", "exp")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	ids := make(chan int, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id, err := j.Append(rec(fmt.Sprint("t", i)))
			if err != nil {
				t.Error(err)
				return
			}
			if i%2 == 0 {
				if err := j.Complete(id, ""); err != nil {
					t.Error(err)
				}
			}
			ids <- id
		}(i)
	}
	wg.Wait()
	close(ids)
	seen := map[int]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %d handed out twice", id)
		}
		seen[id] = true
	}
	j.f.Close()
	dead, err := Pending(dir)
	if err != nil || len(dead) != 1 || len(dead[0].Pending) != 20 {
		t.Fatalf("Pending = %+v, %v; want 20 entries", dead, err)
	}
}

// TestKilledProcessReleasesItsLock runs a journal in a child process, checks it is
// seen as live, kills it with SIGKILL and checks the journal is then seen as dead.
//
// Not parallel: between fork and exec the child holds a copy of every open file,
// among them the journals of parallel tests, whose locks would then look held for a
// moment after those tests close them (a journal "closed by a crash" read as live).
func TestKilledProcessReleasesItsLock(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldJournal$")
	cmd.Env = append(os.Environ(), "JOURNAL_HELPER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "journal ready" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("helper exited before its journal was ready")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("helper not ready within 30s")
	}
	all, err := Scan(dir)
	if err != nil || len(all) != 1 || !all[0].Live || all[0].PID != cmd.Process.Pid {
		t.Fatalf("while the helper lives: %+v, %v; want it live", all, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	dead, err := Pending(dir)
	if err != nil || len(dead) != 1 || len(dead[0].Pending) != 1 || dead[0].Pending[0].Record.Target.Name != "victim" {
		t.Fatalf("after SIGKILL: %+v, %v; want the victim pending", dead, err)
	}
}

func TestHelperHoldJournal(t *testing.T) {
	dir := os.Getenv("JOURNAL_HELPER_DIR")
	if dir == "" {
		return // not a test on its own: the process TestKilledProcessReleasesItsLock kills
	}
	j, err := Create(dir, "run-helper", "exp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(rec("victim")); err != nil {
		t.Fatal(err)
	}
	fmt.Println("journal ready")
	select {} // until killed
}

func TestUpdateReplacesTheRecordARecoverSees(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, err := Create(dir, "run-phases", "exp")
	if err != nil {
		t.Fatal(err)
	}
	r := rec("a")
	r.Phase = faults.PhasePrepared
	id, _ := j.Append(r)
	r.Phase, r.State = faults.PhaseApplied, json.RawMessage(`{"outcome":"refused"}`)
	if err := j.Update(id, r); err != nil {
		t.Fatal(err)
	}
	if err := j.Update(id+1, r); err == nil {
		t.Error("Update of an entry that does not exist succeeded")
	}
	j.f.Close() // the crash

	dead, err := Pending(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || len(dead[0].Pending) != 1 {
		t.Fatalf("Pending = %+v, want one entry", dead)
	}
	got := dead[0].Pending[0].Record
	if got.Phase != faults.PhaseApplied || string(got.State) != `{"outcome":"refused"}` {
		t.Errorf("recovered record phase %q state %s; want the updated one", got.Phase, got.State)
	}
}

// TestConcurrentAppendsShareAnFsync: appends and completions that arrive while one
// fsync runs are covered by the next one (group commit), and none of them returns
// before an fsync that began after its line was written has finished.
func TestConcurrentAppendsShareAnFsync(t *testing.T) {
	j, err := Create(t.TempDir(), "group", "group")
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	const n = 20
	var (
		mu       sync.Mutex
		syncs    int
		finished int // fsyncs that have returned
		started  = make(chan struct{})
		release  = make(chan struct{})
	)
	j.fsync = func(f *os.File) error {
		mu.Lock()
		syncs++
		first := syncs == 1
		mu.Unlock()
		if first {
			close(started)
			<-release // held until every writer has written its line
		}
		err := f.Sync()
		mu.Lock()
		finished++
		mu.Unlock()
		return err
	}
	written := func() int64 {
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.written
	}
	before := written()
	type res struct {
		id            int
		err           error
		syncsFinished int
	}
	out := make(chan res, n)
	go func() {
		id, err := j.Append(rec("first"))
		out <- res{id, err, finishedNow(&mu, &finished)}
	}()
	<-started
	for i := range n - 1 {
		go func() {
			id, err := j.Append(rec(fmt.Sprintf("c%d", i)))
			out <- res{id, err, finishedNow(&mu, &finished)}
		}()
	}
	waitfor.Condition(t, 10*time.Second, fmt.Sprintf("%d lines written while the first fsync is held", n), func() bool {
		return written() >= before+n
	})
	close(release)
	var ids []int
	for range n {
		r := <-out
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.syncsFinished == 0 {
			t.Errorf("append %d returned before any fsync finished", r.id)
		}
		ids = append(ids, r.id)
	}
	mu.Lock()
	got := syncs
	mu.Unlock()
	if got > 2 {
		t.Errorf("%d appends at once took %d fsyncs, want at most 2 (the held one and one for the rest)", n, got)
	}
	for _, id := range ids {
		if err := j.Complete(id, "reverted"); err != nil {
			t.Fatal(err)
		}
	}
	if p := j.Pending(); len(p) != 0 {
		t.Fatalf("%d entries pending after completing all", len(p))
	}
}

func finishedNow(mu *sync.Mutex, n *int) int {
	mu.Lock()
	defer mu.Unlock()
	return *n
}

// TestFailedFsyncFailsTheAppend: an append whose fsync fails returns the error and
// leaves nothing pending, and every later append fails too.
func TestFailedFsyncFailsTheAppend(t *testing.T) {
	j, err := Create(t.TempDir(), "broken", "broken")
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.fsync = func(*os.File) error { return errors.New("disk on fire") }
	if _, err := j.Append(rec("a")); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("append with a failing fsync: %v, want the fsync's error", err)
	}
	j.fsync = nil
	if _, err := j.Append(rec("b")); err == nil {
		t.Fatal("an append after a failed fsync succeeded: what is on disk is unknown")
	}
	if p := j.Pending(); len(p) != 0 {
		t.Fatalf("%d entries pending after failed appends, want none", len(p))
	}
}
