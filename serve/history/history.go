// Package history keeps every run of `faultline serve`: the run's files (result.json,
// report.html, log) in a directory of their own under the data directory, and an index
// in an embedded SQLite database (modernc.org/sqlite: pure Go, so the binary stays
// static). Each recorded run carries the SHA-256 of its files and of itself chained to
// the previous run's, and the head of the chain is also written beside the database,
// so that Verify finds a run whose files were edited, a row that was changed, and a
// run that was deleted, also the last one.
package history

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver
)

// Statuses a run has in the history besides the Result's own (passed, failed, aborted,
// interrupted, error).
const (
	StatusSkipped = "skipped"
)

// Files a run directory may hold, hashed into the chain.
var Files = []string{"result.json", "report.html", "log"}

// Run is one row of the history.
type Run struct {
	Seq        int64  `json:"seq"`
	ID         string `json:"id"`
	Schedule   string `json:"schedule,omitempty"`
	Experiment string `json:"experiment"`
	// Trigger says what started it: schedule, catch-up, manual (UI), api.
	Trigger string `json:"trigger"`
	// Status is the Result's status, or skipped.
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Score and TimeToRecover (the slowest series' time to recover, seconds) are nil
	// without a result or without checks/recovery.
	Score         *float64 `json:"score,omitempty"`
	TimeToRecover *float64 `json:"time_to_recover_seconds,omitempty"`
	// Due is when the schedule fired; Started and Ended bound the run.
	Due      time.Time `json:"due"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended"`
	ExitCode int       `json:"exit_code"`
	// Regressed is set when the run is worse than the previous passing run of its
	// schedule; Regression says how.
	Regressed  bool   `json:"regressed,omitempty"`
	Regression string `json:"regression,omitempty"`
	// Targets names the containers the run touched.
	Targets []string `json:"targets,omitempty"`
	// FileHashes holds the SHA-256 of each file of the run's directory.
	FileHashes map[string]string `json:"files,omitempty"`
	// PrevHash is the previous row's Hash ("" for the first); Hash covers this row
	// (every field above) and PrevHash.
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// Duration is how long the run took.
func (r *Run) Duration() time.Duration {
	if r.Ended.IsZero() || r.Started.IsZero() {
		return 0
	}
	return r.Ended.Sub(r.Started)
}

// Active is a run that has started and is not recorded yet. One left at start-up is a
// run the service was killed in.
type Active struct {
	ID         string
	Schedule   string
	Experiment string
	Trigger    string
	Due        time.Time
	Started    time.Time
}

// Store is the history in a data directory.
type Store struct {
	dir string
	db  *sql.DB
	mu  sync.Mutex // orders Record: each row chains to the one before
}

const schema = `
CREATE TABLE IF NOT EXISTS runs (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT NOT NULL UNIQUE,
	schedule   TEXT NOT NULL,
	experiment TEXT NOT NULL,
	status     TEXT NOT NULL,
	started    TEXT NOT NULL,
	doc        TEXT NOT NULL,
	hash       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_experiment ON runs(experiment, seq);
CREATE INDEX IF NOT EXISTS runs_schedule ON runs(schedule, seq);
CREATE TABLE IF NOT EXISTS active (
	id  TEXT PRIMARY KEY,
	doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS schedules (
	name         TEXT PRIMARY KEY,
	last_nominal TEXT NOT NULL DEFAULT '',
	paused       INTEGER NOT NULL DEFAULT 0,
	paused_why   TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS halt (
	one INTEGER PRIMARY KEY CHECK (one = 1),
	why TEXT NOT NULL,
	at  TEXT NOT NULL
);
`

// Open opens (creating if needed) the history in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "runs"), 0o750); err != nil {
		return nil, fmt.Errorf("create the data directory: %w", err)
	}
	path := filepath.Join(dir, "history.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w (is it a faultline history database?)", path, err)
	}
	return &Store{dir: dir, db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// RunDir is the directory of a run's files.
func (s *Store) RunDir(id string) (string, error) {
	if !idPattern.MatchString(id) || len(id) > 200 {
		return "", fmt.Errorf("%q is not a run ID", id)
	}
	return filepath.Join(s.dir, "runs", id), nil
}

// Begin records that a run started, and creates its directory.
func (s *Store) Begin(a Active) error {
	dir, err := s.RunDir(a.ID)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create the run directory: %w", err)
	}
	doc, _ := json.Marshal(a)
	if _, err := s.db.Exec(`INSERT INTO active(id, doc) VALUES(?, ?)`, a.ID, string(doc)); err != nil {
		return fmt.Errorf("history: record the start of %s: %w", a.ID, err)
	}
	return nil
}

// Actives lists the runs begun and not recorded.
func (s *Store) Actives() ([]Active, error) {
	rows, err := s.db.Query(`SELECT doc FROM active ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	var out []Active
	for rows.Next() {
		var doc string
		var a Active
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		if err := json.Unmarshal([]byte(doc), &a); err != nil {
			return nil, fmt.Errorf("history: an active run is unreadable: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Record adds a finished (or skipped) run: it hashes the run's files, chains the row to
// the last one, stores it, forgets the run as active and moves the head.
func (s *Store) Record(r *Run) error {
	dir, err := s.RunDir(r.ID)
	if err != nil {
		return err
	}
	r.FileHashes = map[string]string{}
	for _, name := range Files {
		h, err := hashFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("history: hash %s of %s: %w", name, r.ID, err)
		}
		r.FileHashes[name] = h
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.Begin()
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	defer tx.Rollback()
	var last sql.NullInt64
	var prev sql.NullString
	err = tx.QueryRow(`SELECT seq, hash FROM runs ORDER BY seq DESC LIMIT 1`).Scan(&last, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("history: %w", err)
	}
	// The sequence continues from the head file too, so that deleting the last rows
	// cannot make room for a rewritten history with the same numbers.
	hd, _ := s.readHead()
	r.Seq = max(last.Int64, hd.Seq) + 1
	r.PrevHash = prev.String
	if hd.Seq > last.Int64 {
		r.PrevHash = hd.Hash
	}
	r.Hash = rowHash(r)
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if _, err := tx.Exec(`INSERT INTO runs(seq, id, schedule, experiment, status, started, doc, hash) VALUES(?,?,?,?,?,?,?,?)`,
		r.Seq, r.ID, r.Schedule, r.Experiment, r.Status, r.Started.UTC().Format(time.RFC3339Nano), string(doc), r.Hash); err != nil {
		return fmt.Errorf("history: record %s: %w", r.ID, err)
	}
	if _, err := tx.Exec(`DELETE FROM active WHERE id = ?`, r.ID); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("history: record %s: %w", r.ID, err)
	}
	return s.writeHead(head{Seq: r.Seq, Hash: r.Hash})
}

// rowHash is the SHA-256 of the row without its own hash, in a fixed form.
func rowHash(r *Run) string {
	c := *r
	c.Hash = ""
	c.Due, c.Started, c.Ended = c.Due.UTC(), c.Started.UTC(), c.Ended.UTC()
	b, _ := json.Marshal(c) // struct fields in declaration order, map keys sorted
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type head struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

func (s *Store) headPath() string { return filepath.Join(s.dir, "chain-head.json") }

func (s *Store) readHead() (head, error) {
	var h head
	b, err := os.ReadFile(s.headPath())
	if err != nil {
		return h, err
	}
	return h, json.Unmarshal(b, &h)
}

func (s *Store) writeHead(h head) error {
	b, _ := json.Marshal(h)
	tmp := s.headPath() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("history: write the chain head: %w", err)
	}
	if _, err := f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.headPath())
	}
	if err != nil {
		return fmt.Errorf("history: write the chain head: %w", err)
	}
	return nil
}

// Filter selects runs; zero fields select all.
type Filter struct {
	Experiment string
	Schedule   string
	// Limit caps the count (newest first); 0 means 200.
	Limit int
}

// List returns runs newest first.
func (s *Store) List(f Filter) ([]Run, error) {
	if f.Limit <= 0 {
		f.Limit = 200
	}
	q := `SELECT doc FROM runs WHERE (? = '' OR experiment = ?) AND (? = '' OR schedule = ?) ORDER BY seq DESC LIMIT ?`
	return s.query(q, f.Experiment, f.Experiment, f.Schedule, f.Schedule, f.Limit)
}

func (s *Store) query(q string, args ...any) ([]Run, error) {
	rows, err := s.db.Query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		var r Run
		if err := json.Unmarshal([]byte(doc), &r); err != nil {
			return nil, fmt.Errorf("history: a row is unreadable: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ErrNotFound is returned for a run ID the history does not hold.
var ErrNotFound = errors.New("no such run")

// Get returns one run.
func (s *Store) Get(id string) (*Run, error) {
	runs, err := s.query(`SELECT doc FROM runs WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return &runs[0], nil
}

// LastPassed returns the newest passed run of a schedule recorded before seq (0: any),
// or nil.
func (s *Store) LastPassed(schedule string, before int64) (*Run, error) {
	if before <= 0 {
		before = 1 << 62
	}
	runs, err := s.query(`SELECT doc FROM runs WHERE schedule = ? AND status = 'passed' AND seq < ? ORDER BY seq DESC LIMIT 1`, schedule, before)
	if err != nil || len(runs) == 0 {
		return nil, err
	}
	return &runs[0], nil
}

// Experiments lists the experiments with runs, by name.
func (s *Store) Experiments() ([]string, error) {
	rows, err := s.db.Query(`SELECT DISTINCT experiment FROM runs ORDER BY experiment`)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ScheduleState is what the history remembers of a schedule across restarts.
type ScheduleState struct {
	// LastNominal is the last cron time the service handled.
	LastNominal time.Time
	Paused      bool
	PausedWhy   string
}

// Schedules returns the remembered state of every schedule.
func (s *Store) Schedules() (map[string]ScheduleState, error) {
	rows, err := s.db.Query(`SELECT name, last_nominal, paused, paused_why FROM schedules`)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	out := map[string]ScheduleState{}
	for rows.Next() {
		var name, last, why string
		var paused bool
		if err := rows.Scan(&name, &last, &paused, &why); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		st := ScheduleState{Paused: paused, PausedWhy: why}
		if last != "" {
			st.LastNominal, _ = time.Parse(time.RFC3339Nano, last)
		}
		out[name] = st
	}
	return out, rows.Err()
}

// SetLastNominal remembers the last cron time a schedule handled.
func (s *Store) SetLastNominal(name string, t time.Time) error {
	_, err := s.db.Exec(`INSERT INTO schedules(name, last_nominal) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET last_nominal = excluded.last_nominal`,
		name, t.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

// SetPaused pauses or resumes a schedule, across restarts.
func (s *Store) SetPaused(name string, paused bool, why string) error {
	_, err := s.db.Exec(`INSERT INTO schedules(name, paused, paused_why) VALUES(?, ?, ?) ON CONFLICT(name) DO UPDATE SET paused = excluded.paused, paused_why = excluded.paused_why`,
		name, paused, why)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

// Halt is a HALT in force: why, and since when.
type Halt struct {
	Why string
	At  time.Time
}

// SetHalt remembers a HALT across restarts; nil forgets it (resume).
func (s *Store) SetHalt(h *Halt) error {
	var err error
	if h == nil {
		_, err = s.db.Exec(`DELETE FROM halt`)
	} else {
		_, err = s.db.Exec(`INSERT INTO halt(one, why, at) VALUES(1, ?, ?) ON CONFLICT(one) DO UPDATE SET why = excluded.why, at = excluded.at`,
			h.Why, h.At.UTC().Format(time.RFC3339Nano))
	}
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

// Halted returns the HALT in force, or nil.
func (s *Store) Halted() (*Halt, error) {
	var why, at string
	err := s.db.QueryRow(`SELECT why, at FROM halt WHERE one = 1`).Scan(&why, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	h := &Halt{Why: why}
	h.At, _ = time.Parse(time.RFC3339Nano, at)
	return h, nil
}

// Problem is one thing Verify found wrong.
type Problem struct {
	Run    string `json:"run,omitempty"`
	Seq    int64  `json:"seq,omitempty"`
	Detail string `json:"detail"`
}

// Verification is what Verify found.
type Verification struct {
	Runs     int       `json:"runs"`
	Head     string    `json:"head"`
	Problems []Problem `json:"problems,omitempty"`
}

// OK says whether the history is intact.
func (v *Verification) OK() bool { return len(v.Problems) == 0 }

// Verify walks the chain from the first row: each row's hash, its link to the one
// before, the hashes of its files, files in its directory that were not hashed, the
// head beside the database, and run directories that no row holds.
func (s *Store) Verify() (*Verification, error) {
	rows, err := s.db.Query(`SELECT seq, id, doc, hash FROM runs ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	v := &Verification{}
	prevHash, prevSeq := "", int64(0)
	known := map[string]bool{}
	for rows.Next() {
		var seq int64
		var id, doc, hash string
		if err := rows.Scan(&seq, &id, &doc, &hash); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		v.Runs++
		known[id] = true
		var r Run
		if err := json.Unmarshal([]byte(doc), &r); err != nil {
			v.Problems = append(v.Problems, Problem{Run: id, Seq: seq, Detail: "the row is unreadable: " + err.Error()})
			prevHash, prevSeq = hash, seq
			continue
		}
		if r.Seq != seq || r.ID != id || r.Hash != hash || rowHash(&r) != hash {
			v.Problems = append(v.Problems, Problem{Run: id, Seq: seq, Detail: "the row was changed after it was recorded (its hash does not match its content)"})
		}
		if seq != prevSeq+1 {
			v.Problems = append(v.Problems, Problem{Run: id, Seq: seq, Detail: fmt.Sprintf("run(s) %d to %d before it were deleted", prevSeq+1, seq-1)})
		} else if r.PrevHash != prevHash {
			v.Problems = append(v.Problems, Problem{Run: id, Seq: seq, Detail: "it does not chain to the run before it (a run was replaced or the rows reordered)"})
		}
		dir, _ := s.RunDir(id)
		for _, name := range sortedKeys(r.FileHashes) {
			got, err := hashFile(filepath.Join(dir, name))
			switch {
			case errors.Is(err, os.ErrNotExist):
				v.Problems = append(v.Problems, Problem{Run: id, Seq: seq, Detail: name + " was deleted"})
			case err != nil:
				v.Problems = append(v.Problems, Problem{Run: id, Seq: seq, Detail: fmt.Sprintf("%s cannot be read: %v", name, err)})
			case got != r.FileHashes[name]:
				v.Problems = append(v.Problems, Problem{Run: id, Seq: seq, Detail: fmt.Sprintf("%s was changed after it was recorded (sha256 %s, recorded %s)", name, short(got), short(r.FileHashes[name]))})
			}
		}
		// A file the run did not have when it was recorded was put there after: a
		// report or result planted beside a skipped run, say.
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if _, hashed := r.FileHashes[e.Name()]; !hashed {
				v.Problems = append(v.Problems, Problem{Run: id, Seq: seq, Detail: fmt.Sprintf("%q is in its directory but was not there when the run was recorded (it was added after)", e.Name())})
			}
		}
		prevHash, prevSeq = hash, seq
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	v.Head = prevHash
	h, err := s.readHead()
	switch {
	case errors.Is(err, os.ErrNotExist) && v.Runs == 0:
	case err != nil:
		v.Problems = append(v.Problems, Problem{Detail: fmt.Sprintf("the chain head %s cannot be read: %v", s.headPath(), err)})
	case h.Seq != prevSeq || h.Hash != prevHash:
		v.Problems = append(v.Problems, Problem{Seq: h.Seq, Detail: fmt.Sprintf("the chain head says the last run is number %d (%s), the database ends at %d: runs were deleted from the end", h.Seq, short(h.Hash), prevSeq)})
	}
	actives, _ := s.Actives()
	for _, a := range actives {
		known[a.ID] = true
	}
	entries, _ := os.ReadDir(filepath.Join(s.dir, "runs"))
	for _, e := range entries {
		if e.IsDir() && !known[e.Name()] {
			v.Problems = append(v.Problems, Problem{Run: e.Name(), Detail: "its directory is in runs/ but the index holds no row for it (the row was deleted)"})
		}
	}
	return v, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// String writes a verification for a terminal.
func (v *Verification) String() string {
	var b strings.Builder
	if v.OK() {
		fmt.Fprintf(&b, "history intact: %d run(s), head %s\n", v.Runs, v.Head)
		return b.String()
	}
	fmt.Fprintf(&b, "history NOT intact: %d problem(s) in %d run(s)\n", len(v.Problems), v.Runs)
	for _, p := range v.Problems {
		switch {
		case p.Run != "" && p.Seq == 0:
			fmt.Fprintf(&b, "  run %s: %s\n", p.Run, p.Detail)
		case p.Run != "":
			fmt.Fprintf(&b, "  run %s (#%d): %s\n", p.Run, p.Seq, p.Detail)
		default:
			fmt.Fprintf(&b, "  %s\n", p.Detail)
		}
	}
	return b.String()
}
