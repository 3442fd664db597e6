// Package schedule decides when each game-day schedule starts a run: the cron
// expression in the schedule's time zone, a random jitter, the hours and days it may
// run in, the blackout windows it must never run in, and what to do about starts that
// were missed while the service was down. A start that must not run is still a start:
// it comes out with the reason it is skipped, so that the history can record it.
//
// Everything here reads time through the time package, so that the tests run in
// synctest bubbles on a fake clock.
package schedule

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Missed says what a schedule does with the starts it missed while the service was
// not running.
type Missed string

const (
	// MissedSkip records the missed starts as skipped and waits for the next one.
	MissedSkip Missed = "skip"
	// MissedRunOnce runs once at once (if the windows allow it), however many were missed.
	MissedRunOnce Missed = "run_once"
)

// Spec is one schedule, parsed.
type Spec struct {
	Name string
	// CronText is the cron expression as written; Cron is its parse.
	CronText string
	Cron     cron.Schedule
	// Location is the time zone of the cron expression, the hours and the dates.
	Location *time.Location
	// Jitter delays each start by a random time in [0, Jitter).
	Jitter time.Duration
	// Only, when set, is the window a run may start in.
	Only *Window
	// Never lists the blackout windows no run may start in.
	Never []Blackout
	// Missed is the policy for starts missed while the service was down.
	Missed Missed
}

// Fire is one start of a schedule.
type Fire struct {
	Schedule string
	// Nominal is when the cron expression fired; Start is when the run starts (Nominal
	// plus the jitter, or the time of a catch-up run).
	Nominal time.Time
	Start   time.Time
	// Skip, when set, says why this start must not run.
	Skip string
	// Missed counts the starts this fire stands for that were missed while the
	// service was down (0 for an ordinary start).
	Missed int
}

// Next returns the first cron time after t, in the schedule's zone; the zero time if
// the expression never fires again.
func (s *Spec) Next(after time.Time) time.Time {
	return s.Cron.Next(after.In(s.Location))
}

// Plan turns a cron time into a start: it adds the jitter, bounded so that a start due
// inside the Only window stays inside it, and decides whether the start may run.
func (s *Spec) Plan(nominal time.Time, rnd *rand.Rand) Fire {
	nominal = nominal.In(s.Location)
	f := Fire{Schedule: s.Name, Nominal: nominal, Start: nominal}
	span := s.Jitter
	if s.Only != nil {
		if end, ok := s.Only.end(nominal); ok && end.Sub(nominal) < span {
			span = end.Sub(nominal)
		}
	}
	if span > 0 && rnd != nil {
		f.Start = nominal.Add(time.Duration(rnd.Int64N(int64(span))))
	}
	f.Skip = s.SkipReason(f.Start)
	return f
}

// SkipReason says why a run must not start at t, or "" when it may.
func (s *Spec) SkipReason(t time.Time) string {
	t = t.In(s.Location)
	for _, b := range s.Never {
		if b.Contains(t) {
			return fmt.Sprintf("inside the blackout %s", b)
		}
	}
	if s.Only != nil && !s.Only.Contains(t) {
		return fmt.Sprintf("outside the allowed window (only %s, %s); it was due %s", s.Only, s.Location, t.Format("Mon 2006-01-02 15:04"))
	}
	return ""
}

// maxMissed bounds the count of missed starts, so that an every-second schedule after
// a month of downtime is not walked start by start.
const maxMissed = 100_000

// CatchUp returns the fire that stands for the starts missed in (last, now], or false
// when none were missed. With MissedSkip it is a skipped fire; with MissedRunOnce it
// starts at now, unless the windows forbid now.
func (s *Spec) CatchUp(last, now time.Time) (Fire, bool) {
	if last.IsZero() {
		return Fire{}, false
	}
	var first, latest time.Time
	n := 0
	for t := s.Next(last); !t.IsZero() && !t.After(now) && n < maxMissed; t = s.Next(t) {
		if n == 0 {
			first = t
		}
		latest = t
		n++
	}
	if n == 0 {
		return Fire{}, false
	}
	now = now.In(s.Location)
	f := Fire{Schedule: s.Name, Nominal: latest.In(s.Location), Start: now, Missed: n}
	what := fmt.Sprintf("%d start(s) missed while faultline serve was not running (%s", n, first.In(s.Location).Format(time.RFC3339))
	if n > 1 {
		what += " to " + latest.In(s.Location).Format(time.RFC3339)
	}
	what += ")"
	switch s.Missed {
	case MissedRunOnce:
		if reason := s.SkipReason(now); reason != "" {
			f.Skip = what + "; the catch-up run is " + reason
		}
	default:
		f.Skip = what + `; missed = "skip"`
	}
	return f, true
}

// Window is the days and hours a run may start in.
type Window struct {
	// Days holds the allowed weekdays; all false means every day.
	Days [7]bool
	// From and To are offsets from midnight; To is exclusive. Both zero: all day.
	From, To time.Duration
}

func (w *Window) allDays() bool { return w.Days == [7]bool{} }

func (w *Window) allHours() bool { return w.From == 0 && w.To == 0 }

// Contains says whether t (in the window's zone) is inside the window.
func (w *Window) Contains(t time.Time) bool {
	if !w.allDays() && !w.Days[t.Weekday()] {
		return false
	}
	if w.allHours() {
		return true
	}
	off := sinceMidnight(t)
	return off >= w.From && off < w.To
}

// end returns the end of the window's hours on t's day, when t is inside the window.
func (w *Window) end(t time.Time) (time.Time, bool) {
	if !w.Contains(t) {
		return time.Time{}, false
	}
	y, m, d := t.Date()
	if w.allHours() {
		return time.Date(y, m, d+1, 0, 0, 0, 0, t.Location()), true
	}
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location()).Add(w.To), true
}

func sinceMidnight(t time.Time) time.Duration {
	h, m, s := t.Clock()
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second + time.Duration(t.Nanosecond())
}

func (w *Window) String() string {
	var parts []string
	if !w.allDays() {
		parts = append(parts, formatDays(w.Days))
	}
	if !w.allHours() {
		parts = append(parts, formatClock(w.From)+"-"+formatClock(w.To))
	}
	if len(parts) == 0 {
		return "any time"
	}
	return strings.Join(parts, " ")
}

// Blackout is a window no run may start in: [From, To).
type Blackout struct {
	From, To time.Time
	// Text is the window as the user wrote it.
	Text string
}

// Contains says whether t is inside the blackout.
func (b Blackout) Contains(t time.Time) bool { return !t.Before(b.From) && t.Before(b.To) }

func (b Blackout) String() string {
	if b.Text != "" {
		return b.Text
	}
	return b.From.Format(time.RFC3339) + " to " + b.To.Format(time.RFC3339)
}
