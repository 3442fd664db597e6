package experiments

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/faultline/faultline/faults"
)

// The parsers below turn the written form of a value into its Go type. They return a
// plain error whose text is the detail of a diagnostic: it says what to write instead.

var spelledDuration = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Zµ]+)\s*$`)

// durationUnitWords maps the units people write in prose to Go's duration units.
var durationUnitWords = map[string]string{
	"nanosecond": "ns", "nanoseconds": "ns", "nsec": "ns",
	"microsecond": "us", "microseconds": "us", "usec": "us",
	"millisecond": "ms", "milliseconds": "ms", "msec": "ms", "msecs": "ms", "millis": "ms",
	"second": "s", "seconds": "s", "sec": "s", "secs": "s", "S": "s",
	"minute": "m", "minutes": "m", "min": "m", "mins": "m", "M": "m",
	"hour": "h", "hours": "h", "hr": "h", "hrs": "h", "H": "h",
}

// MaxDuration bounds every duration an experiment writes, and MaxRun the whole run
// (baseline, faults with their repeats, recovery): a game day lasts hours, and beyond
// a week offsets would only overflow on the way to a timeline nobody means.
const (
	MaxDuration = 7 * 24 * time.Hour
	MaxRun      = 7 * 24 * time.Hour
)

// goDuration is the syntax of time.ParseDuration, to tell an overflow from a typo.
var goDuration = regexp.MustCompile(`^[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+$`)

// parseDuration reads a Go duration ("200ms", "1m30s"), never negative, at most
// MaxDuration.
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	tooLong := fmt.Errorf("%q is longer than %s (7 days), the longest duration faultline takes", s, formatDuration(MaxDuration))
	d, err := time.ParseDuration(t)
	if err == nil {
		if d < 0 {
			return 0, fmt.Errorf("%q is negative; durations count forward from a point in the run, write a positive one such as %q", s, strings.TrimPrefix(t, "-"))
		}
		if d > MaxDuration {
			return 0, tooLong
		}
		return d, nil
	}
	if goDuration.MatchString(t) && !strings.HasPrefix(t, "-") {
		return 0, tooLong // well formed: only an overflow makes time.ParseDuration fail
	}
	if _, numErr := strconv.ParseFloat(strings.TrimSpace(s), 64); numErr == nil {
		return 0, fmt.Errorf("%q has no unit; write it with one, such as \"%ss\" or \"%sms\"", s, strings.TrimSpace(s), strings.TrimSpace(s))
	}
	if m := spelledDuration.FindStringSubmatch(s); m != nil {
		unit, ok := durationUnitWords[m[2]]
		if !ok {
			unit, ok = durationUnitWords[strings.ToLower(m[2])]
		}
		switch {
		case ok:
			return 0, fmt.Errorf("%q is not a Go duration; write %q", s, m[1]+unit)
		case strings.EqualFold(m[2], "d") || strings.HasPrefix(strings.ToLower(m[2]), "day"):
			if n, err := strconv.ParseFloat(m[1], 64); err == nil {
				return 0, fmt.Errorf("%q is not a Go duration, which has no days; write %q", s, strconv.FormatFloat(n*24, 'f', -1, 64)+"h")
			}
		}
	}
	return 0, fmt.Errorf("%q is not a duration; write a Go duration such as \"500ms\", \"90s\", \"5m\" or \"1h30m\"", s)
}

// formatDuration writes d as Go does, without the zero units it leaves at the end
// ("168h" rather than "168h0m0s").
func formatDuration(d time.Duration) string {
	s := d.String()
	for _, zero := range []string{"0s", "0m"} {
		if strings.HasSuffix(s, zero) && len(s) > len(zero) && !strings.HasSuffix(s, "."+zero) {
			if c := s[len(s)-len(zero)-1]; c < '0' || c > '9' {
				s = s[:len(s)-len(zero)]
			}
		}
	}
	return s
}

// parsePercent reads 30, 12.5 or "30%" as a percentage.
func parsePercent(s string) (float64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSpace(strings.TrimSuffix(t, "%"))
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a percentage; write a number such as 30 or \"30%%\"", s)
	}
	return v, nil
}

var sizePattern = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$`)

// maxBytes bounds a size: 4 EiB is beyond any memory or buffer, and keeps the
// conversion to int64 exact on every platform.
const maxBytes = 1 << 62

// parseBytes reads a size as Docker reads `docker run --memory`, with its own parser
// (github.com/docker/go-units' RAMInBytes): "64m", "512MiB", "1g" or "4096" (bytes);
// k, m, g, t and p, with or without b or ib, are powers of 1024. It is stricter in
// two ways: a fraction of a byte ("0.3") is an error rather than dropped, and so is
// a size beyond 4 EiB.
func parseBytes(s string) (int64, error) {
	m := sizePattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size; write a number of bytes or a size such as \"64m\", \"512MiB\" or \"1g\"", s)
	}
	num, unit := m[1], m[2]
	mult, err := units.RAMInBytes("1" + unit)
	if err != nil {
		return 0, fmt.Errorf("%q has an unknown unit %q; use b, k, m, g, t or p (powers of 1024, as Docker reads them), e.g. \"64m\"", s, unit)
	}
	n, err := units.RAMInBytes(num + unit)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: %w", s, err)
	}
	f, _ := strconv.ParseFloat(num, 64) // the pattern made it a plain decimal
	switch v := f * float64(mult); {
	case v >= maxBytes:
		return 0, fmt.Errorf("%q is too large; sizes go up to 4 EiB", s)
	case v != math.Trunc(v):
		return 0, fmt.Errorf("%q is not a whole number of bytes", s)
	}
	return n, nil
}

// rateUnits follows tc: bit, kbit, mbit, gbit, tbit are powers of 1000; kibit and so on of 1024.
var rateUnits = map[string]float64{
	"": 1, "bit": 1,
	"kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
	"kibit": 1 << 10, "mibit": 1 << 20, "gibit": 1 << 30, "tibit": 1 << 40,
}

// parseRate reads a bit rate such as "1mbit", "500kbit" or 1000000 (bits per second).
func parseRate(s string) (uint64, error) {
	m := sizePattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a rate; write bits per second such as \"1mbit\", \"500kbit\" or \"2gbit\"", s)
	}
	unit := strings.ToLower(m[2])
	mult, ok := rateUnits[unit]
	if !ok {
		if prefix, isBytes := strings.CutSuffix(unit, "bps"); isBytes {
			if _, known := rateUnits[prefix+"bit"]; known {
				n, _ := strconv.ParseFloat(m[1], 64)
				return 0, fmt.Errorf("%q is ambiguous: tc reads %q as bytes per second; write bits: \"%s%sbit\" for %s %sbytes per second, or \"%s%sbit\" for %s %sbits", s, m[2], strconv.FormatFloat(n*8, 'f', -1, 64), prefix, m[1], prefix, m[1], prefix, m[1], prefix)
			}
		}
		return 0, fmt.Errorf("%q has an unknown unit %q; use bit, kbit, mbit or gbit (powers of 1000, as tc does), e.g. \"1mbit\"", s, m[2])
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a rate: %w", s, err)
	}
	v := n * mult
	if v >= math.MaxUint64/2 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return uint64(math.Round(v)), nil
}

// parseCIDR reads a CIDR or a single IP and normalises it ("10.1.2.3" -> "10.1.2.3/32").
func parseCIDR(s string) (string, error) {
	t := strings.TrimSpace(s)
	if strings.Contains(t, "/") {
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return "", fmt.Errorf("%q is not a CIDR; write one such as \"10.0.0.0/8\", an IP such as \"10.0.0.7\", or a reference such as target.db", s)
		}
		return p.Masked().String(), nil
	}
	a, err := netip.ParseAddr(t)
	if err != nil {
		return "", fmt.Errorf("%q is not an IP or CIDR; write one such as \"10.0.0.0/8\" or \"10.0.0.7\", or a reference such as target.db (host names are not resolved)", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()).String(), nil
}

// parsePorts reads 80, "8080" or "9000-9100".
func parsePorts(s string) (faults.PortRange, error) {
	t := strings.TrimSpace(s)
	from, to, isRange := strings.Cut(t, "-")
	lo, err1 := parsePort(from)
	hi := lo
	var err2 error
	if isRange {
		hi, err2 = parsePort(to)
	}
	if err1 != nil || err2 != nil {
		return faults.PortRange{}, fmt.Errorf("%q is not a port; write a port from 1 to 65535 such as 80 or \"8080\", or a range such as \"9000-9100\"", s)
	}
	if lo > hi {
		return faults.PortRange{}, fmt.Errorf("the range %q runs backwards; write the lower port first, \"%d-%d\"", s, hi, lo)
	}
	return faults.PortRange{From: lo, To: hi}, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return uint16(n), nil
}

// FormatBound writes a bound of a parameter in the unit the user writes it in.
func FormatBound(t faults.ParamType, v float64) string {
	switch t {
	case faults.Duration:
		return (time.Duration(v * float64(time.Second))).String()
	case faults.Percent:
		return strconv.FormatFloat(v, 'f', -1, 64) + "%"
	case faults.ByteSize:
		return formatBytes(int64(v))
	case faults.BitRate:
		return strconv.FormatFloat(v, 'f', -1, 64) + "bit"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dg", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dm", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dk", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// FormatDefault writes a parameter's default as it would be written in an experiment
// ("" when there is none).
func FormatDefault(p faults.Param) string {
	switch v := p.Default.(type) {
	case nil:
		return ""
	case time.Duration:
		return v.String()
	case string:
		return strconv.Quote(v)
	case float64:
		if p.Type == faults.Percent {
			return strconv.FormatFloat(v, 'f', -1, 64) + "%"
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// FormatBounds writes a parameter's bounds and allowed values ("" when unbounded).
func FormatBounds(p faults.Param) string {
	var parts []string
	if p.Min != nil {
		parts = append(parts, ">= "+FormatBound(p.Type, *p.Min))
	}
	if p.Max != nil {
		parts = append(parts, "<= "+FormatBound(p.Type, *p.Max))
	}
	if len(p.Enum) > 0 {
		parts = append(parts, "one of "+strings.Join(p.Enum, ", "))
	}
	return strings.Join(parts, ", ")
}

// ParseDuration reads a duration as the language does everywhere (a Go duration, never
// negative, with a hint for "60" or "2d"), for the files that sit beside experiments.
func ParseDuration(s string) (time.Duration, error) { return parseDuration(s) }
