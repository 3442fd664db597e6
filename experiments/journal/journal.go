// Package journal is the durable record of every fault a run has injected and not yet
// reverted. Before each injection the runner appends an entry and syncs it to disk;
// after each revert it appends the entry's completion. A run that dies mid-fault (kill
// -9, a crash, a lost machine) leaves its file behind with entries that were never
// completed: `faultline recover` reverts them, and `faultline run` refuses to touch
// their targets until then.
//
// One file per run, JSON lines, in the state directory. The run holds an exclusive
// flock on its file while it lives, so that a reader can tell a live run from a dead
// one: the kernel drops the lock when the process dies, however it dies.
//
// The file is also the run's claim: its first line lists every container the run will
// touch, and it is published in preflight, before the first fault is prepared, and
// removed only after the last revert. Another run that would touch one of them is
// refused while the file exists. Whoever takes over a dead run's journal (its watchdog
// or `faultline recover`) holds the same lock and writes a claim line naming itself,
// so that the other can say who has it.
package journal

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/faults"
	"golang.org/x/sys/unix"
)

// suffix names journal files; files being created carry suffix+".new" until they are
// locked and complete, so a reader never mistakes a run that is starting for a dead one.
const suffix = ".journal"

// Entry types.
const (
	typeRun      = "run"      // the first line: who wrote this file
	typeInject   = "inject"   // written and synced before a fault is applied
	typeComplete = "complete" // written after the fault was reverted (or needed no revert)
	typeUpdate   = "update"   // the entry's record as its Apply starts and ends (faults.Record.Phase)
	typeWatchdog = "watchdog" // the run armed its watchdog, with the watchdog's pid
	typeClaim    = "claim"    // a process took the dead run's journal over (By, PID)
)

// Who takes a dead run's journal over.
const (
	ByWatchdog = "watchdog"
	ByRecover  = "recover"
)

// line is one JSON line of a journal file.
type line struct {
	Type       string         `json:"type"`
	Time       time.Time      `json:"time"`
	Run        string         `json:"run,omitempty"`
	Experiment string         `json:"experiment,omitempty"`
	PID        int            `json:"pid,omitempty"`
	Host       string         `json:"host,omitempty"`
	ID         int            `json:"id,omitempty"`
	Record     *faults.Record `json:"record,omitempty"`
	Note       string         `json:"note,omitempty"`
	// Claims are the containers the run will touch (the run line).
	Claims []faults.TargetRef `json:"claims,omitempty"`
	// By is who took the journal over (the claim line).
	By string `json:"by,omitempty"`
}

// ErrLocked marks a journal whose run is still alive (or being recovered by another
// process): its lock is held.
var ErrLocked = errors.New("journal is locked by a live process")

// Dir chooses the state directory: flagValue when set, else FAULTLINE_STATE_DIR, else
// /var/lib/faultline for root, else $XDG_STATE_HOME/faultline or
// ~/.local/state/faultline.
func Dir(flagValue string, getenv func(string) string, euid int) (string, error) {
	switch {
	case flagValue != "":
		return flagValue, nil
	case getenv("FAULTLINE_STATE_DIR") != "":
		return getenv("FAULTLINE_STATE_DIR"), nil
	case euid == 0:
		return RootDir, nil
	case getenv("XDG_STATE_HOME") != "":
		return filepath.Join(getenv("XDG_STATE_HOME"), "faultline"), nil
	case getenv("HOME") != "":
		return filepath.Join(getenv("HOME"), ".local", "state", "faultline"), nil
	}
	return "", errors.New("no state directory: set --state-dir or FAULTLINE_STATE_DIR (neither XDG_STATE_HOME nor HOME is set)")
}

// RootDir is root's default state directory.
const RootDir = "/var/lib/faultline"

// OtherDirs lists the default state directories of other users that hold journals
// this process should know about, besides own: root's when not root (a run under sudo
// keeps its journal there), and the invoking user's when root under sudo. A run checks
// their claims; `recover` says which command recovers them.
func OtherDirs(own string, getenv func(string) string, euid int) []string {
	var dirs []string
	if euid != 0 {
		dirs = append(dirs, RootDir)
	} else if name := getenv("SUDO_USER"); name != "" && name != "root" {
		if u, err := user.Lookup(name); err == nil && u.HomeDir != "" {
			dirs = append(dirs, filepath.Join(u.HomeDir, ".local", "state", "faultline"))
		}
	}
	var out []string
	for _, d := range dirs {
		if filepath.Clean(d) != filepath.Clean(own) {
			out = append(out, d)
		}
	}
	return out
}

// NewRunID returns a run id that sorts by start time and is unique across processes.
func NewRunID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Journal is the open journal of one live run. Its methods are safe for concurrent use.
type Journal struct {
	mu      sync.Mutex
	f       *os.File
	path    string
	run     string
	nextID  int
	pending map[int]faults.Record
	now     func() time.Time
	// written counts the lines written (under mu). Append and Complete sync outside mu
	// (group commit): the writers that arrive while one fsync runs share the next one,
	// so 50 targets journalled at once cost two or three fsyncs, not 50 in a row.
	written int64
	syncMu  sync.Mutex // one fsync at a time; guards synced and syncErr
	synced  int64      // lines known to be on disk
	syncErr error      // a failed fsync fails every later one: what is on disk is unknown
	// fsync is (*os.File).Sync; a test counts and holds the calls.
	fsync func(*os.File) error
}

// Create starts the journal of a new run in dir, creating dir when needed, and holds
// its lock until Close. claims are the containers the run will touch: publishing the
// file claims them.
//
// The directory is created world-listable and the file world-readable (it holds
// container ids, names and the revert data of faults, no secret), so that a run or a
// `recover` of another user sees root's claims and can say to use sudo.
func Create(dir, runID, experiment string, claims ...faults.TargetRef) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create state directory %s: %w (choose another with --state-dir)", dir, err)
	}
	final := filepath.Join(dir, runID+suffix)
	tmp := final + ".new"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create journal: %w (is the state directory %s writable? choose another with --state-dir)", err, dir)
	}
	fail := func(err error) (*Journal, error) {
		f.Close()
		os.Remove(tmp)
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fail(fmt.Errorf("lock journal %s: %w", tmp, err))
	}
	host, _ := os.Hostname()
	j := &Journal{f: f, path: final, run: runID, nextID: 1, pending: map[int]faults.Record{}, now: time.Now}
	if err := j.write(line{Type: typeRun, Time: j.now(), Run: runID, Experiment: experiment, PID: os.Getpid(), Host: host, Claims: claims}); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fail(fmt.Errorf("publish journal %s: %w", final, err))
	}
	if err := syncDir(dir); err != nil {
		return fail(err)
	}
	return j, nil
}

// Path is the journal's file.
func (j *Journal) Path() string { return j.path }

// Run is the run id the journal belongs to.
func (j *Journal) Run() string { return j.run }

// Append records rec durably before its fault is applied and returns the id its
// completion must name. When Append fails the fault must not be applied.
func (j *Journal) Append(rec faults.Record) (int, error) {
	j.mu.Lock()
	if j.f == nil {
		j.mu.Unlock()
		return 0, errors.New("journal is closed")
	}
	id := j.nextID
	r := rec
	if err := j.writeNoSync(line{Type: typeInject, Time: j.now(), ID: id, Record: &r}); err != nil {
		j.mu.Unlock()
		return 0, err
	}
	j.nextID++
	j.pending[id] = rec
	seq := j.written
	j.mu.Unlock()
	if err := j.syncThrough(seq); err != nil {
		j.mu.Lock()
		delete(j.pending, id) // the fault will not be applied
		j.mu.Unlock()
		return 0, err
	}
	return id, nil
}

// Update replaces the record of pending entry id: the runner writes the record again
// as Apply starts (faults.PhaseApplying) and as it returns (faults.PhaseApplied, with
// what Apply changed), so that a revert after a crash knows how far it got.
//
// Unlike Append it does not sync: it sits right before Apply, where a sync would delay
// the fault. The write itself survives the death of the process (kill -9, a crash):
// the kernel holds it. Only a crash of the whole machine may lose it, and with it the
// containers' paused or stopped state and their network namespaces, which the entry's
// earlier phase then describes no worse.
func (j *Journal) Update(id int, rec faults.Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("journal is closed")
	}
	if _, ok := j.pending[id]; !ok {
		return fmt.Errorf("journal entry %d is not pending", id)
	}
	r := rec
	if err := j.writeNoSync(line{Type: typeUpdate, Time: j.now(), ID: id, Record: &r}); err != nil {
		return err
	}
	j.pending[id] = rec
	return nil
}

// NoteWatchdog records the pid of the watchdog that guards this run, for `recover` and
// other runs to name.
func (j *Journal) NoteWatchdog(pid int) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("journal is closed")
	}
	return j.write(line{Type: typeWatchdog, Time: j.now(), PID: pid})
}

// Complete records that the fault of entry id was reverted, or needed no revert.
func (j *Journal) Complete(id int, note string) error {
	j.mu.Lock()
	if j.f == nil {
		j.mu.Unlock()
		return errors.New("journal is closed")
	}
	if _, ok := j.pending[id]; !ok {
		j.mu.Unlock()
		return fmt.Errorf("journal entry %d is not pending", id)
	}
	if err := j.writeNoSync(line{Type: typeComplete, Time: j.now(), ID: id, Note: note}); err != nil {
		j.mu.Unlock()
		return err
	}
	seq := j.written
	j.mu.Unlock()
	if err := j.syncThrough(seq); err != nil {
		return err // still pending: Close keeps the file for recover
	}
	j.mu.Lock()
	delete(j.pending, id)
	j.mu.Unlock()
	return nil
}

// syncThrough returns once the first seq lines written are on disk: at once when an
// fsync that began after they were written has covered them, else after one more.
func (j *Journal) syncThrough(seq int64) error {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	if j.syncErr != nil {
		return j.syncErr
	}
	if j.synced >= seq {
		return nil
	}
	j.mu.Lock()
	f, upto := j.f, j.written
	j.mu.Unlock()
	if f == nil {
		return errors.New("journal is closed")
	}
	if err := j.sync(f); err != nil {
		j.syncErr = err
		return err
	}
	j.synced = upto
	return nil
}

func (j *Journal) sync(f *os.File) error {
	fsync := j.fsync
	if fsync == nil {
		fsync = (*os.File).Sync
	}
	if err := fsync(f); err != nil {
		return fmt.Errorf("sync journal %s: %w", f.Name(), err)
	}
	return nil
}

// Pending returns the entries not yet completed, by id.
func (j *Journal) Pending() map[int]faults.Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make(map[int]faults.Record, len(j.pending))
	for id, r := range j.pending {
		out[id] = r
	}
	return out
}

// Close ends the journal. When every entry was completed the file is removed; when
// some were not (a revert failed for good), it stays for `faultline recover` and Close
// says so. Either way the lock is released.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	var err error
	if len(j.pending) == 0 {
		if rmErr := os.Remove(j.path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			err = fmt.Errorf("remove completed journal: %w", rmErr)
		}
	} else {
		err = fmt.Errorf("%d fault(s) not reverted are kept in %s: run `faultline recover`", len(j.pending), j.path)
	}
	if cerr := j.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close journal: %w", cerr)
	}
	j.f = nil
	return err
}

// write appends one line and syncs it. The line is written with one write call so
// that a crash leaves at most one torn line, at the end.
func (j *Journal) write(l line) error {
	if err := j.writeNoSync(l); err != nil {
		return err
	}
	return j.sync(j.f)
}

func (j *Journal) writeNoSync(l line) error {
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode journal entry: %w", err)
	}
	b = append(b, '\n')
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("write journal %s: %w", j.f.Name(), err)
	}
	j.written++
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync state directory %s: %w", dir, err)
	}
	return nil
}

// Entry is one fault a run injected and has not reverted.
type Entry struct {
	ID       int
	Injected time.Time
	Record   faults.Record
}

// Holder is a process that took a dead run's journal over.
type Holder struct {
	By   string // ByWatchdog or ByRecover
	PID  int
	Time time.Time
}

// RunState is what a journal file says about its run.
type RunState struct {
	Path       string
	Run        string
	Experiment string
	PID        int
	Host       string
	Started    time.Time
	// Claims are the containers the run said it would touch.
	Claims []faults.TargetRef
	// Watchdog is the pid of the run's watchdog, 0 when none was armed.
	Watchdog int
	// Holder is the last process that took the journal over, nil when none did: while
	// Live, it is the one working on it (the run itself is dead then).
	Holder *Holder
	// Live is true when a process holds the file's lock: the run is still going, or
	// its watchdog or a `recover` is working on it (then Holder says which).
	Live bool
	// Pending are the entries never completed, by id.
	Pending []Entry
	// Torn is set when the last line was cut short by a crash and was ignored.
	Torn bool
	// Corrupt is set when the file cannot be read as a journal; nothing else is then.
	// Callers skip it with a warning that names it, so that one damaged file does not
	// block every run and every recovery.
	Corrupt error
}

// Dead reports whether nobody holds the journal: its run is gone and neither its
// watchdog nor a `recover` is working on it.
func (st RunState) Dead() bool { return st.Corrupt == nil && !st.Live }

// Touches reports whether the run claimed, or holds an unreverted fault on, container id.
func (st RunState) Touches(id string) bool {
	for _, c := range st.Claims {
		if c.ID == id {
			return true
		}
	}
	for _, e := range st.Pending {
		if e.Record.Target.ID == id {
			return true
		}
	}
	return false
}

// Who names the run for a message: experiment, run id, pid and host.
func (st RunState) Who() string {
	return fmt.Sprintf("experiment %q, run %s, pid %d on %s", st.Experiment, st.Run, st.PID, st.Host)
}

// Scan reads every journal in dir. A missing dir holds no journals. A file that cannot
// be read as a journal is returned with Corrupt set, not as an error.
func Scan(dir string) ([]RunState, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		return nil, fmt.Errorf("list journals: %w", err)
	}
	sort.Strings(names)
	var out []RunState
	for _, name := range names {
		st, err := scanFile(name)
		if errors.Is(err, os.ErrNotExist) {
			continue // completed and removed while we looked
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("read journal %s: %w", name, err)
		}
		if err != nil {
			st = RunState{Path: name, Run: strings.TrimSuffix(filepath.Base(name), suffix), Corrupt: err}
		}
		out = append(out, st)
	}
	return out, nil
}

// Pending lists the runs in dir that are dead and left faults unreverted.
func Pending(dir string) ([]RunState, error) {
	all, err := Scan(dir)
	if err != nil {
		return nil, err
	}
	var out []RunState
	for _, st := range all {
		if st.Dead() && len(st.Pending) > 0 {
			out = append(out, st)
		}
	}
	return out, nil
}

// Read reads one journal file, as Scan does.
func Read(path string) (RunState, error) { return scanFile(path) }

func scanFile(path string) (RunState, error) {
	f, err := os.Open(path)
	if err != nil {
		return RunState{}, err
	}
	defer f.Close()
	st, _, err := parse(f, path)
	if err != nil {
		return st, err
	}
	switch err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); {
	case err == nil:
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
	case errors.Is(err, unix.EWOULDBLOCK):
		st.Live = true
	default:
		return st, fmt.Errorf("probe lock of journal %s: %w", path, err)
	}
	return st, nil
}

// parse reads a journal. validLen is the length of its whole lines: a torn last line
// (a write cut short by a crash) lies beyond it and is reported, not an error. Its
// entry was never acknowledged, so its fault was never applied.
func parse(r io.Reader, path string) (st RunState, validLen int64, err error) {
	st.Path = path
	data, err := io.ReadAll(r)
	if err != nil {
		return st, 0, fmt.Errorf("read journal %s: %w", path, err)
	}
	pending := map[int]Entry{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var off int64
	lineNo := 0
	for sc.Scan() {
		raw := sc.Bytes()
		lineNo++
		whole := off+int64(len(raw)) < int64(len(data)) // followed by its newline
		var l line
		if err := json.Unmarshal(raw, &l); err != nil {
			if !whole {
				st.Torn = true
				break
			}
			return st, 0, fmt.Errorf("journal %s line %d is corrupt: %w (move the file away once its faults are reverted by hand)", path, lineNo, err)
		}
		if !whole {
			// Valid JSON without its newline: the write was cut after the last
			// byte of the object, which still counts as torn: appending would glue.
			st.Torn = true
			break
		}
		off += int64(len(raw)) + 1
		switch l.Type {
		case typeRun:
			st.Run, st.Experiment, st.PID, st.Host, st.Started, st.Claims = l.Run, l.Experiment, l.PID, l.Host, l.Time, l.Claims
		case typeWatchdog:
			st.Watchdog = l.PID
		case typeClaim:
			st.Holder = &Holder{By: l.By, PID: l.PID, Time: l.Time}
		case typeInject:
			if l.Record == nil {
				return st, 0, fmt.Errorf("journal %s line %d: inject entry without a record", path, lineNo)
			}
			pending[l.ID] = Entry{ID: l.ID, Injected: l.Time, Record: *l.Record}
		case typeUpdate:
			if l.Record == nil {
				return st, 0, fmt.Errorf("journal %s line %d: update entry without a record", path, lineNo)
			}
			if e, ok := pending[l.ID]; ok {
				e.Record = *l.Record
				pending[l.ID] = e
			}
		case typeComplete:
			delete(pending, l.ID)
		default:
			return st, 0, fmt.Errorf("journal %s line %d: unknown entry type %q (written by a newer faultline?)", path, lineNo, l.Type)
		}
	}
	if err := sc.Err(); err != nil {
		return st, 0, fmt.Errorf("read journal %s: %w", path, err)
	}
	if st.Run == "" && off > 0 {
		return st, 0, fmt.Errorf("journal %s has no run header", path)
	}
	if st.Run == "" {
		st.Run = strings.TrimSuffix(filepath.Base(path), suffix)
	}
	for _, e := range pending {
		st.Pending = append(st.Pending, e)
	}
	sort.Slice(st.Pending, func(i, j int) bool { return st.Pending[i].ID < st.Pending[j].ID })
	return st, off, nil
}

// Recovery is a dead run's journal taken over by `recover`: its lock is held, so no
// second recover works on it at the same time.
type Recovery struct {
	RunState
	j *Journal
}

// Claim takes over the journal at path of a dead run on behalf of by (ByWatchdog or
// ByRecover), and records so in the journal. It fails with ErrLocked when the run is
// alive or another process has taken it over. A torn last line is cut off so that new
// lines start whole.
func Claim(path, by string) (*Recovery, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock journal %s: %w", path, err)
	}
	st, validLen, err := parse(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Torn {
		if err := f.Truncate(validLen); err != nil {
			f.Close()
			return nil, fmt.Errorf("cut torn last line of journal %s: %w", path, err)
		}
	}
	j := &Journal{f: f, path: path, run: st.Run, pending: map[int]faults.Record{}, now: time.Now}
	for _, e := range st.Pending {
		j.pending[e.ID] = e.Record
		if e.ID >= j.nextID {
			j.nextID = e.ID + 1
		}
	}
	if err := j.write(line{Type: typeClaim, Time: j.now(), By: by, PID: os.Getpid()}); err != nil {
		f.Close()
		return nil, err
	}
	st.Holder = &Holder{By: by, PID: os.Getpid(), Time: j.now()}
	return &Recovery{RunState: st, j: j}, nil
}

// HolderOf reads who holds the journal at path when Claim said ErrLocked: nil when it is
// the run itself (no process took it over).
func HolderOf(path string) *Holder {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, _, err := parse(f, path)
	if err != nil {
		return nil
	}
	return st.Holder
}

// Complete records that entry id was reverted, or needed no revert.
func (r *Recovery) Complete(id int, note string) error { return r.j.Complete(id, note) }

// Close releases the journal; it is removed when nothing is pending any more.
func (r *Recovery) Close() error { return r.j.Close() }
