package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// cronParser reads the five standard fields (minute hour day-of-month month
// day-of-week) and the descriptors (@daily, @hourly, @every 30s, ...).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron parses a cron expression. Its time zone is the schedule's, so a CRON_TZ=
// prefix is refused rather than silently fighting with time_zone.
func ParseCron(expr string) (cron.Schedule, error) {
	e := strings.TrimSpace(expr)
	if strings.HasPrefix(e, "TZ=") || strings.HasPrefix(e, "CRON_TZ=") {
		return nil, fmt.Errorf("%q names a time zone; remove the prefix and set time_zone in the server block", expr)
	}
	if n := len(strings.Fields(e)); !strings.HasPrefix(e, "@") && n == 6 {
		return nil, fmt.Errorf("%q has six fields; write the five standard ones (minute hour day month weekday), or \"@every 30s\" for a start every 30 seconds", expr)
	}
	s, err := cronParser.Parse(e)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron expression (%v); write five fields such as \"0 10 * * TUE\", or a descriptor such as \"@daily\" or \"@every 1h\"", expr, err)
	}
	if d, ok := strings.CutPrefix(e, "@every "); ok {
		// The library rounds a shorter delay up to a second without a word.
		if every, err := time.ParseDuration(strings.TrimSpace(d)); err == nil && every < time.Second {
			return nil, fmt.Errorf("%q starts more often than once a second; use at least \"@every 1s\"", expr)
		}
	}
	return s, nil
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

var fullDayNames = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

func dayIndex(s string) (int, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, d := range dayNames {
		if s == d || s == fullDayNames[i] {
			return i, true
		}
	}
	return 0, false
}

// ParseDays reads day names and ranges: ["mon-fri"], ["sat", "sun"], ["fri-mon"].
func ParseDays(list []string) ([7]bool, error) {
	var days [7]bool
	for _, item := range list {
		from, to, isRange := strings.Cut(item, "-")
		a, ok := dayIndex(from)
		if !ok {
			return days, fmt.Errorf("%q is not a day; write mon, tue, wed, thu, fri, sat or sun, or a range such as \"mon-fri\"", item)
		}
		b := a
		if isRange {
			if b, ok = dayIndex(to); !ok {
				return days, fmt.Errorf("%q is not a range of days; write one such as \"mon-fri\"", item)
			}
		}
		for i := a; ; i = (i + 1) % 7 {
			days[i] = true
			if i == b {
				break
			}
		}
	}
	return days, nil
}

// ParseHours reads "09:00-16:00": a start at 09:00 is in, one at 16:00 is out. A window
// that crosses midnight is refused: a schedule's day is the day it starts.
func ParseHours(s string) (from, to time.Duration, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not a range of hours; write one such as \"09:00-16:00\"", s)
	}
	if from, err = parseClock(a); err == nil {
		to, err = parseClock(b)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%q: %w", s, err)
	}
	if to <= from {
		return 0, 0, fmt.Errorf("%q ends before it starts; a window cannot cross midnight: write the evening and the morning as two schedules", s)
	}
	return from, to, nil
}

func parseClock(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("%q is not a time of day; write hours and minutes such as \"09:00\" (24:00 for midnight at the end)", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

func formatClock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// formatDays writes a day set compactly: "mon-fri", "sat,sun".
func formatDays(days [7]bool) string {
	// Start from Monday so that "mon-fri" reads as people write it.
	order := []int{1, 2, 3, 4, 5, 6, 0}
	var parts []string
	for i := 0; i < 7; {
		if !days[order[i]] {
			i++
			continue
		}
		j := i
		for j+1 < 7 && days[order[j+1]] {
			j++
		}
		if j > i+1 {
			parts = append(parts, dayNames[order[i]]+"-"+dayNames[order[j]])
		} else {
			for k := i; k <= j; k++ {
				parts = append(parts, dayNames[order[k]])
			}
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// ParseBlackout reads a blackout window. Dates ("2026-12-20") are whole days in loc,
// both included; times ("2026-12-20T18:00:00+01:00" or "2026-12-20 18:00", read in loc)
// are exact, the end excluded.
func ParseBlackout(from, to string, loc *time.Location) (Blackout, error) {
	a, _, err := parseWhen(from, loc)
	if err != nil {
		return Blackout{}, fmt.Errorf("from: %w", err)
	}
	b, bDate, err := parseWhen(to, loc)
	if err != nil {
		return Blackout{}, fmt.Errorf("to: %w", err)
	}
	if bDate {
		b = time.Date(b.Year(), b.Month(), b.Day()+1, 0, 0, 0, 0, loc)
	}
	if !b.After(a) {
		return Blackout{}, fmt.Errorf("it ends (%s) before it starts (%s); swap from and to", to, from)
	}
	return Blackout{From: a, To: b, Text: from + " to " + to}, nil
}

func parseWhen(s string, loc *time.Location) (t time.Time, dateOnly bool, err error) {
	s = strings.TrimSpace(s)
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return t, true, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, false, nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, false, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("%q is not a date or time; write a date such as \"2026-12-20\" or a time such as \"2026-12-20 18:00\"", s)
}

// ParseMissed reads the missed policy; "" means MissedSkip.
func ParseMissed(s string) (Missed, error) {
	switch Missed(s) {
	case "", MissedSkip:
		return MissedSkip, nil
	case MissedRunOnce:
		return MissedRunOnce, nil
	}
	return "", fmt.Errorf("%q is not a policy; write \"skip\" (record the missed starts as skipped) or \"run_once\" (run once at start-up)", s)
}
