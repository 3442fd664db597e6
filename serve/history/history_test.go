package history

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fill records n runs of schedule "s" with a result.json and a log each.
func fill(t *testing.T, s *Store, n int) []*Run {
	t.Helper()
	var out []*Run
	t0 := time.Date(2026, 6, 2, 10, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		id := "run-" + string(rune('a'+i))
		if err := s.Begin(Active{ID: id, Schedule: "s", Experiment: "e", Started: t0}); err != nil {
			t.Fatal(err)
		}
		dir, _ := s.RunDir(id)
		os.WriteFile(filepath.Join(dir, "result.json"), []byte(`{"status":"passed","n":`+string(rune('0'+i))+`}`), 0o640)
		os.WriteFile(filepath.Join(dir, "log"), []byte("log of "+id), 0o640)
		score := 90.0 + float64(i)
		r := &Run{ID: id, Schedule: "s", Experiment: "e", Trigger: "schedule", Status: "passed", Score: &score,
			Started: t0.Add(time.Duration(i) * time.Hour), Ended: t0.Add(time.Duration(i)*time.Hour + time.Minute)}
		if err := s.Record(r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func open(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func tamper(t *testing.T, dir, stmt string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "history.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt, args...); err != nil {
		t.Fatal(err)
	}
}

func TestRecordListAndChain(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	runs := fill(t, s, 3)
	if runs[0].PrevHash != "" || runs[1].PrevHash != runs[0].Hash || runs[2].PrevHash != runs[1].Hash {
		t.Errorf("rows are not chained: %q %q %q", runs[0].PrevHash, runs[1].PrevHash, runs[2].PrevHash)
	}
	if len(runs[0].FileHashes) != 2 {
		t.Errorf("file hashes %v, want result.json and log", runs[0].FileHashes)
	}
	got, err := s.List(Filter{Experiment: "e"})
	if err != nil || len(got) != 3 || got[0].ID != "run-c" {
		t.Fatalf("list: %v, %v", got, err)
	}
	if none, _ := s.List(Filter{Experiment: "other"}); len(none) != 0 {
		t.Errorf("filter by experiment let %d through", len(none))
	}
	last, err := s.LastPassed("s", runs[2].Seq)
	if err != nil || last == nil || last.ID != "run-b" {
		t.Errorf("last passed before run-c: %v, %v", last, err)
	}
	if a, _ := s.Actives(); len(a) != 0 {
		t.Errorf("recorded runs are still active: %v", a)
	}
	v, err := s.Verify()
	if err != nil || !v.OK() || v.Runs != 3 || v.Head != runs[2].Hash {
		t.Fatalf("verify an untouched history: %+v, %v", v, err)
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tamper func(t *testing.T, s *Store, dir string)
		want   string
	}{
		{"an edited result", func(t *testing.T, s *Store, dir string) {
			os.WriteFile(filepath.Join(dir, "runs", "run-b", "result.json"), []byte(`{"status":"passed","n":9}`), 0o640)
		}, "run run-b (#2): result.json was changed"},
		{"a deleted log", func(t *testing.T, s *Store, dir string) {
			os.Remove(filepath.Join(dir, "runs", "run-a", "log"))
		}, "run run-a (#1): log was deleted"},
		{"a deleted run", func(t *testing.T, s *Store, dir string) {
			tamper(t, dir, `DELETE FROM runs WHERE id = 'run-b'`)
		}, "run(s) 2 to 2 before it were deleted"},
		{"the last run deleted", func(t *testing.T, s *Store, dir string) {
			tamper(t, dir, `DELETE FROM runs WHERE id = 'run-c'`)
			os.RemoveAll(filepath.Join(dir, "runs", "run-c"))
		}, "runs were deleted from the end"},
		{"an edited row", func(t *testing.T, s *Store, dir string) {
			tamper(t, dir, `UPDATE runs SET doc = replace(doc, '"status":"passed"', '"status":"failed"') WHERE id = 'run-a'`)
		}, "run run-a (#1): the row was changed"},
		{"a file planted beside a run's files", func(t *testing.T, s *Store, dir string) {
			os.WriteFile(filepath.Join(dir, "runs", "run-b", "report.html"), []byte("<p>all passed</p>"), 0o640)
		}, `run run-b (#2): "report.html" is in its directory but was not there when the run was recorded`},
		{"a directory planted in a run's", func(t *testing.T, s *Store, dir string) {
			os.Mkdir(filepath.Join(dir, "runs", "run-a", "extra"), 0o750)
		}, `run run-a (#1): "extra" is in its directory but was not there`},
		{"a row whose files went", func(t *testing.T, s *Store, dir string) {
			tamper(t, dir, `DELETE FROM runs WHERE id = 'run-c'`)
		}, "run run-c: its directory is in runs/ but the index holds no row"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, dir := open(t)
			fill(t, s, 3)
			tc.tamper(t, s, dir)
			v, err := s.Verify()
			if err != nil {
				t.Fatal(err)
			}
			if v.OK() || !strings.Contains(v.String(), tc.want) {
				t.Errorf("verify after %s:\n%s\nwant it to say %q", tc.name, v, tc.want)
			}
		})
	}
}

// TestDeletionStaysVisible: a run recorded after the last one was deleted keeps the
// gap in the numbering, so the deletion is still found.
func TestDeletionStaysVisible(t *testing.T) {
	t.Parallel()
	s, dir := open(t)
	fill(t, s, 2)
	tamper(t, dir, `DELETE FROM runs WHERE id = 'run-b'`)
	os.RemoveAll(filepath.Join(dir, "runs", "run-b"))
	if err := s.Begin(Active{ID: "run-z", Schedule: "s", Experiment: "e"}); err != nil {
		t.Fatal(err)
	}
	r := &Run{ID: "run-z", Schedule: "s", Experiment: "e", Status: "skipped"}
	if err := s.Record(r); err != nil {
		t.Fatal(err)
	}
	if r.Seq != 3 {
		t.Errorf("the new run is number %d, want 3 (after the deleted 2)", r.Seq)
	}
	v, _ := s.Verify()
	if v.OK() || !strings.Contains(v.String(), "run(s) 2 to 2 before it were deleted") {
		t.Errorf("verify:\n%s", v)
	}
}

func TestScheduleStateSurvivesReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 6, 2, 10, 0, 0, 0, time.UTC)
	if err := s.SetLastNominal("weekly", when); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPaused("weekly", true, "HALT"); err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(Active{ID: "r1", Schedule: "weekly", Experiment: "e"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Schedules()
	if err != nil || !st["weekly"].LastNominal.Equal(when) || !st["weekly"].Paused || st["weekly"].PausedWhy != "HALT" {
		t.Errorf("state after reopen: %+v, %v", st, err)
	}
	if a, _ := s.Actives(); len(a) != 1 || a[0].ID != "r1" {
		t.Errorf("active runs after reopen: %v (a killed run must be found)", a)
	}
	if _, err := s.RunDir("../etc"); err == nil {
		t.Error("a run ID with a path in it was accepted")
	}
}
