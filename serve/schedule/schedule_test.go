package schedule

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	_ "time/tzdata"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustSpec(t *testing.T, name, expr string, loc *time.Location) *Spec {
	t.Helper()
	c, err := ParseCron(expr)
	if err != nil {
		t.Fatal(err)
	}
	return &Spec{Name: name, CronText: expr, Cron: c, Location: loc, Missed: MissedSkip}
}

func businessHours(t *testing.T) *Window {
	days, err := ParseDays([]string{"mon-fri"})
	if err != nil {
		t.Fatal(err)
	}
	from, to, err := ParseHours("09:00-16:00")
	if err != nil {
		t.Fatal(err)
	}
	return &Window{Days: days, From: from, To: to}
}

func TestPlan(t *testing.T) {
	t.Parallel()
	berlin := mustLoc(t, "Europe/Berlin")
	ny := mustLoc(t, "America/New_York")
	christmas, err := ParseBlackout("2026-12-20", "2027-01-05", berlin)
	if err != nil {
		t.Fatal(err)
	}
	at := func(loc *time.Location, s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name      string
		expr      string
		loc       *time.Location
		only      bool
		never     []Blackout
		jitter    time.Duration
		after     time.Time
		wantNom   time.Time
		wantSkip  string // substring; "" means it runs
		jitterMax time.Duration
	}{
		{name: "weekly in Berlin summer", expr: "0 10 * * TUE", loc: berlin, after: at(berlin, "2026-06-01 12:00"),
			wantNom: at(berlin, "2026-06-02 10:00")},
		{name: "the zone decides the instant", expr: "0 10 * * *", loc: ny, after: at(time.UTC, "2026-01-05 00:00"),
			wantNom: at(time.UTC, "2026-01-05 15:00")},
		{name: "inside the blackout", expr: "0 10 * * TUE", loc: berlin, never: []Blackout{christmas}, after: at(berlin, "2026-12-16 12:00"),
			wantNom: at(berlin, "2026-12-22 10:00"), wantSkip: "blackout 2026-12-20 to 2027-01-05"},
		{name: "the blackout's last day is in it", expr: "0 10 * * *", loc: berlin, never: []Blackout{christmas}, after: at(berlin, "2027-01-04 12:00"),
			wantNom: at(berlin, "2027-01-05 10:00"), wantSkip: "blackout"},
		{name: "the day after the blackout runs", expr: "0 10 * * *", loc: berlin, never: []Blackout{christmas}, after: at(berlin, "2027-01-05 12:00"),
			wantNom: at(berlin, "2027-01-06 10:00")},
		{name: "before business hours", expr: "0 8 * * *", loc: berlin, only: true, after: at(berlin, "2026-06-01 00:00"),
			wantNom: at(berlin, "2026-06-01 08:00"), wantSkip: "outside the allowed window (only mon-fri 09:00-16:00, Europe/Berlin)"},
		{name: "end of business hours is out", expr: "0 16 * * *", loc: berlin, only: true, after: at(berlin, "2026-06-01 00:00"),
			wantNom: at(berlin, "2026-06-01 16:00"), wantSkip: "outside"},
		{name: "weekend", expr: "0 10 * * *", loc: berlin, only: true, after: at(berlin, "2026-06-06 00:00"),
			wantNom: at(berlin, "2026-06-06 10:00"), wantSkip: "Sat 2026-06-06 10:00"},
		{name: "jitter stays inside business hours", expr: "50 15 * * *", loc: berlin, only: true, jitter: time.Hour, after: at(berlin, "2026-06-01 00:00"),
			wantNom: at(berlin, "2026-06-01 15:50"), jitterMax: 10 * time.Minute},
		{name: "jitter", expr: "0 10 * * *", loc: berlin, jitter: 30 * time.Minute, after: at(berlin, "2026-06-01 00:00"),
			wantNom: at(berlin, "2026-06-01 10:00"), jitterMax: 30 * time.Minute},
		// 02:30 does not exist in Berlin on 2026-03-29 (clocks jump from 02:00 to 03:00):
		// the cron library skips that day rather than running at a time nobody wrote.
		{name: "a time lost to daylight saving", expr: "30 2 * * *", loc: berlin, after: at(berlin, "2026-03-28 12:00"),
			wantNom: at(berlin, "2026-03-30 02:30")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := mustSpec(t, "s", tc.expr, tc.loc)
			sp.Never, sp.Jitter = tc.never, tc.jitter
			if tc.only {
				sp.Only = businessHours(t)
			}
			rnd := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < 50; i++ { // jitter is random: try many draws
				nom := sp.Next(tc.after)
				if !nom.Equal(tc.wantNom) {
					t.Fatalf("next after %s = %s, want %s", tc.after, nom, tc.wantNom)
				}
				f := sp.Plan(nom, rnd)
				if d := f.Start.Sub(f.Nominal); d < 0 || (tc.jitterMax == 0 && d != 0) || (tc.jitterMax > 0 && d >= tc.jitterMax) {
					t.Fatalf("start %s is %s after the cron time, want within [0, %s)", f.Start, d, tc.jitterMax)
				}
				if tc.wantSkip == "" && f.Skip != "" {
					t.Fatalf("skipped: %s", f.Skip)
				}
				if tc.wantSkip != "" && !strings.Contains(f.Skip, tc.wantSkip) {
					t.Fatalf("skip reason %q, want it to say %q", f.Skip, tc.wantSkip)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	if _, err := ParseCron("CRON_TZ=UTC 0 10 * * *"); err == nil || !strings.Contains(err.Error(), "time_zone") {
		t.Errorf("CRON_TZ prefix: %v", err)
	}
	if _, err := ParseCron("0 0 10 * * *"); err == nil || !strings.Contains(err.Error(), "six fields") {
		t.Errorf("six fields: %v", err)
	}
	if _, err := ParseCron("61 * * * *"); err == nil || !strings.Contains(err.Error(), "cron expression") {
		t.Errorf("bad minute: %v", err)
	}
	if _, err := ParseCron("@every 100ms"); err == nil {
		t.Error("@every 100ms accepted")
	}
	if _, err := ParseDays([]string{"mon-fryday"}); err == nil {
		t.Error("bad day accepted")
	}
	if d, err := ParseDays([]string{"fri-mon"}); err != nil || !d[5] || !d[6] || !d[0] || !d[1] || d[2] {
		t.Errorf("fri-mon = %v, %v", d, err)
	}
	if _, _, err := ParseHours("22:00-02:00"); err == nil || !strings.Contains(err.Error(), "midnight") {
		t.Errorf("wrapping hours: %v", err)
	}
	if _, _, err := ParseHours("9-16"); err == nil {
		t.Error("9-16 accepted")
	}
	if _, err := ParseBlackout("2027-01-05", "2026-12-20", time.UTC); err == nil || !strings.Contains(err.Error(), "swap") {
		t.Errorf("reversed blackout: %v", err)
	}
	if _, err := ParseMissed("catch_up"); err == nil {
		t.Error("bad missed policy accepted")
	}
}

// recorder collects the fires of a scheduler.
type recorder struct {
	mu    sync.Mutex
	fires []Fire
	stall time.Duration // how long the callback blocks on its first fire
}

func (r *recorder) fire(f Fire) {
	r.mu.Lock()
	first := len(r.fires) == 0
	r.fires = append(r.fires, f)
	r.mu.Unlock()
	if first && r.stall > 0 {
		time.Sleep(r.stall) // a callback that stalls is the thing under test (virtual time)
	}
}

func (r *recorder) got() []Fire {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Fire(nil), r.fires...)
}

// runFor runs a scheduler in the bubble for d of virtual time.
func runFor(t *testing.T, s *Scheduler, last map[string]time.Time, d time.Duration) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.Run(ctx, last); close(done) }()
	time.Sleep(d)
	cancel()
	<-done
}

func TestSchedulerFiresOnTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		r := &recorder{}
		every := mustSpec(t, "every10s", "@every 10s", time.UTC)
		s := New([]*Spec{every}, 1, r.fire)
		runFor(t, s, nil, 35*time.Second)
		fires := r.got()
		if len(fires) != 3 {
			t.Fatalf("%d fires in 35s of @every 10s, want 3: %+v", len(fires), fires)
		}
		for i, f := range fires {
			if want := t0.Add(time.Duration(i+1) * 10 * time.Second); !f.Start.Equal(want) || f.Skip != "" {
				t.Errorf("fire %d at %s (skip %q), want %s", i, f.Start, f.Skip, want)
			}
		}
	})
}

func TestSchedulerJitterAndOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		a := mustSpec(t, "a", "* * * * *", time.UTC)
		a.Jitter = 50 * time.Second
		b := mustSpec(t, "b", "* * * * *", time.UTC)
		s := New([]*Spec{a, b}, 7, r.fire)
		runFor(t, s, nil, 10*time.Minute+55*time.Second)
		fires := r.got()
		if len(fires) != 20 {
			t.Fatalf("%d fires, want 10 of each schedule: %+v", len(fires), fires)
		}
		spread := map[time.Duration]bool{}
		for i, f := range fires {
			if i > 0 && f.Start.Before(fires[i-1].Start) {
				t.Errorf("fires out of start order: %s before %s", fires[i-1].Start, f.Start)
			}
			d := f.Start.Sub(f.Nominal)
			if f.Schedule == "b" && d != 0 {
				t.Errorf("b has no jitter but started %s late", d)
			}
			if f.Schedule == "a" {
				if d < 0 || d >= 50*time.Second {
					t.Errorf("a started %s after its cron time, want within [0, 50s)", d)
				}
				spread[d.Truncate(time.Second)] = true
			}
		}
		if len(spread) < 5 {
			t.Errorf("jitter took only %d distinct values in 10 starts: not random", len(spread))
		}
	})
}

func TestSchedulerMissedStarts(t *testing.T) {
	tests := []struct {
		name      string
		policy    Missed
		only      bool
		wantSkip  string
		wantCount int
	}{
		{name: "skip", policy: MissedSkip, wantSkip: `6 start(s) missed`, wantCount: 6},
		{name: "run once", policy: MissedRunOnce, wantSkip: "", wantCount: 6},
		// The bubble's clock starts on Saturday 2000-01-01, 00:00 UTC.
		{name: "run once outside the window", policy: MissedRunOnce, only: true, wantSkip: "the catch-up run is outside", wantCount: 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				now := time.Now()
				r := &recorder{}
				sp := mustSpec(t, "ten", "*/10 * * * *", time.UTC)
				sp.Missed = tc.policy
				if tc.only {
					sp.Only = businessHours(t)
				}
				s := New([]*Spec{sp}, 1, r.fire)
				runFor(t, s, map[string]time.Time{"ten": now.Add(-time.Hour)}, time.Second)
				fires := r.got()
				if len(fires) != 1 {
					t.Fatalf("%d fires, want the one catch-up: %+v", len(fires), fires)
				}
				f := fires[0]
				if f.Missed != tc.wantCount || !f.Start.Equal(now) {
					t.Errorf("catch-up stands for %d starts at %s, want %d at %s", f.Missed, f.Start, tc.wantCount, now)
				}
				if (tc.wantSkip == "") != (f.Skip == "") || !strings.Contains(f.Skip, tc.wantSkip) {
					t.Errorf("skip %q, want %q", f.Skip, tc.wantSkip)
				}
				if up := s.Upcoming()["ten"]; !up.Start.Equal(now.Add(10 * time.Minute)) {
					t.Errorf("next start %s, want the next cron time %s", up.Start, now.Add(10*time.Minute))
				}
			})
		})
	}
}

func TestSchedulerStalledFiresBecomeMissed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		r := &recorder{stall: 5 * time.Minute}
		s := New([]*Spec{mustSpec(t, "min", "* * * * *", time.UTC)}, 1, r.fire)
		runFor(t, s, nil, 6*time.Minute+30*time.Second)
		fires := r.got()
		// 00:01 fires and stalls until 00:06; the starts at 00:02..00:06 are missed
		// (recorded once, as skipped); then none until 00:07, past the end.
		if len(fires) != 2 {
			t.Fatalf("%d fires, want the first and one for the missed ones: %+v", len(fires), fires)
		}
		if !fires[0].Start.Equal(t0.Add(time.Minute)) || fires[0].Skip != "" {
			t.Errorf("first fire %+v", fires[0])
		}
		if fires[1].Missed != 5 || !strings.Contains(fires[1].Skip, "5 start(s) missed") {
			t.Errorf("missed fire %+v, want 5 missed starts, skipped", fires[1])
		}
	})
}
