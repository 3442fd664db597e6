package experiments

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/faults"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		errHint string // part of the error, "" when valid
	}{
		{"200ms", 200 * time.Millisecond, ""},
		{"1m30s", 90 * time.Second, ""},
		{" 5s ", 5 * time.Second, ""},
		{"0s", 0, ""},
		{"5 minutes", 0, `write "5m"`},
		{"30 seconds", 0, `write "30s"`},
		{"2 days", 0, `write "48h"`},
		{"1d", 0, `write "24h"`},
		{"60", 0, `"60s"`},
		{"-5s", 0, "negative"},
		{"soon", 0, "not a duration"},
		{"168h", 168 * time.Hour, ""},
		{"168h0m1s", 0, `longer than 168h (7 days)`},
		{"9223372036854775807ns", 0, `longer than 168h (7 days)`},
		{"9223372036854775808ns", 0, `longer than 168h (7 days)`},
		{"99999999999h", 0, `longer than 168h (7 days)`},
		{"8 days", 0, `write "192h"`},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		switch {
		case tt.errHint == "" && err != nil:
			t.Errorf("parseDuration(%q): %v", tt.in, err)
		case tt.errHint == "" && got != tt.want:
			t.Errorf("parseDuration(%q) = %s, want %s", tt.in, got, tt.want)
		case tt.errHint != "" && (err == nil || !strings.Contains(err.Error(), tt.errHint)):
			t.Errorf("parseDuration(%q) error = %v, want one containing %q", tt.in, err, tt.errHint)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		168 * time.Hour: "168h", 90 * time.Second: "1m30s", time.Hour + time.Second: "1h0m1s",
		10 * time.Minute: "10m", 1500 * time.Millisecond: "1.5s", 0: "0s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestParseBytesAndRates(t *testing.T) {
	t.Parallel()
	bytesTests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"64m", 64 << 20, true}, {"512MiB", 512 << 20, true}, {"1g", 1 << 30, true},
		{"4096", 4096, true}, {"1.5k", 1536, true}, {"2KB", 2048, true},
		{"64q", 0, false}, {"lots", 0, false}, {"0.3", 0, false}, {"99999999999t", 0, false},
		{" 64 MB ", 64 << 20, true}, {"2p", 2 << 50, true}, {"1kib", 1024, true}, {"3b", 3, true},
		{"4096p", 0, false}, {"1mbb", 0, false}, {"1e3k", 0, false}, {"-1k", 0, false},
	}
	for _, tt := range bytesTests {
		got, err := parseBytes(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	rateTests := []struct {
		in   string
		want uint64
		hint string
	}{
		{"1mbit", 1_000_000, ""}, {"500kbit", 500_000, ""}, {"2Gbit", 2_000_000_000, ""},
		{"1mibit", 1 << 20, ""}, {"8000", 8000, ""},
		{"1mbps", 0, `"8mbit" for 1 mbytes per second`}, {"1furlong", 0, "unknown unit"},
	}
	for _, tt := range rateTests {
		got, err := parseRate(tt.in)
		switch {
		case tt.hint == "" && (err != nil || got != tt.want):
			t.Errorf("parseRate(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		case tt.hint != "" && (err == nil || !strings.Contains(err.Error(), tt.hint)):
			t.Errorf("parseRate(%q) error = %v, want one containing %q", tt.in, err, tt.hint)
		}
	}
}

func TestParseSignalCIDRPorts(t *testing.T) {
	t.Parallel()

	for in, want := range map[string]string{"10.0.0.0/8": "10.0.0.0/8", "10.1.2.3/8": "10.0.0.0/8", "10.1.2.3": "10.1.2.3/32", "fd00::1": "fd00::1/128", "::ffff:10.0.0.1": "10.0.0.1/32"} {
		if got, err := parseCIDR(in); err != nil || got != want {
			t.Errorf("parseCIDR(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"10.0.0.300", "db.internal", "10.0.0.0/40", ""} {
		if _, err := parseCIDR(bad); err == nil {
			t.Errorf("parseCIDR(%q) gave no error", bad)
		}
	}
	for in, want := range map[string]faults.PortRange{"80": {From: 80, To: 80}, "9000-9100": {From: 9000, To: 9100}, " 443 ": {From: 443, To: 443}} {
		if got, err := parsePorts(in); err != nil || got != want {
			t.Errorf("parsePorts(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"0", "65536", "9100-9000", "http", "1-2-3", ""} {
		if _, err := parsePorts(bad); err == nil {
			t.Errorf("parsePorts(%q) gave no error", bad)
		}
	}
}

// TestParamsHaveRegistryTypes checks that decoded parameters have the Go types the
// registry documents, with defaults filled in, since the fault kinds read them with
// faults.Params' typed getters.
func TestParamsHaveRegistryTypes(t *testing.T) {
	t.Parallel()
	exp, _, diags := Load("testdata/valid/units.hcl", LoadOptions{Getenv: noEnv})
	if diags.HasErrors() {
		t.Fatal(diagText(diags))
	}
	byName := map[string]*FaultSpec{}
	for _, f := range exp.Faults {
		byName[f.Name] = f
	}
	bw := byName["kib"].Params
	if bw.Rate("rate") != 1_000_000 || bw.Bytes("burst") != 1600 || bw.Bytes("limit") != 1536 {
		t.Errorf("bandwidth params = %#v", bw)
	}
	if got := byName["pct_string"].Params.Number("percent"); got != 12.5 {
		t.Errorf("percent = %v, want 12.5", got)
	}
	if got := byName["pct_string"].Params["correlation"]; got != 0.0 {
		t.Errorf("default correlation = %#v, want float64 0", got)
	}
	if got := byName["one_ip"].Params.Destinations("to"); len(got) != 1 || got[0].CIDR != "192.168.1.10/32" {
		t.Errorf("to = %#v", got)
	}
	if got := byName["one_ip"].Params.String("direction"); got != "both" {
		t.Errorf("default direction = %q", got)
	}
	if r, ok := byName["kib"].ParamRanges["limit"]; !ok || r.Start.Line != 21 {
		t.Errorf("ParamRanges[limit] = %v, want line 21", r)
	}

	exp, _, diags = Load("testdata/valid/repeats.hcl", LoadOptions{Getenv: noEnv})
	if diags.HasErrors() {
		t.Fatal(diagText(diags))
	}
	for _, f := range exp.Faults {
		switch f.Name {
		case "flap":
			if f.Params.Duration("grace") != 0 || !f.Params.Has("grace") || f.Times != 5 || f.Every != 10*time.Second || !f.Reapply {
				t.Errorf("flap = %+v", f)
			}
		case "sighup":
			if f.Params.String("signal") != "SIGHUP" || f.Params.Bool("restore") || f.Duration != 0 || f.Reapply {
				t.Errorf("sighup = %+v", f)
			}
		case "term_by_name":
			if f.Params.String("signal") != "SIGTERM" || !f.Params.Bool("restore") {
				t.Errorf("term_by_name = %+v", f)
			}
		}
	}
	p := NewPlan(exp)
	if len(p.Injections) != 7 {
		t.Errorf("plan has %d injections, want 5 repeats + 2 kills", len(p.Injections))
	}
}

// TestSignalsAsTheContainerFaultsTakeThem: the language reads a kill's signal with the
// same parser as the container faults, numbers of real-time signals included ("40"
// was refused here and taken there).
func TestSignalsAsTheContainerFaultsTakeThem(t *testing.T) {
	t.Parallel()
	for written, want := range map[string]string{
		`40`: "40", `"40"`: "40", `"rtmin+6"`: "40", `9`: "SIGKILL", `"term"`: "SIGTERM", `"SIGIOT"`: "SIGABRT",
	} {
		src := smallExperiment + "fault \"kill\" \"k\" {\n  target = target.api\n  start  = \"10s\"\n  signal = " + written + "\n}\n"
		exp, _, diags := LoadSource("x.hcl", []byte(src), LoadOptions{Getenv: noEnv})
		if diags.HasErrors() {
			t.Errorf("signal = %s: %s", written, diags.Error())
			continue
		}
		if got := exp.Faults[1].Params.String("signal"); got != want {
			t.Errorf("signal = %s decoded to %q, want %q", written, got, want)
		}
	}
	src := smallExperiment + "fault \"kill\" \"k\" {\n  target = target.api\n  signal = 65\n}\n"
	if _, _, diags := LoadSource("x.hcl", []byte(src), LoadOptions{Getenv: noEnv}); !diags.HasErrors() || !strings.Contains(diags.Error(), "from 1 to 64") {
		t.Errorf("signal = 65: %v, want an error giving the range", diags)
	}
}

func TestNearest(t *testing.T) {
	t.Parallel()
	kinds := faults.KindNames()
	for given, want := range map[string]string{
		"delya": "delay", "DELAY": "delay", "pasue": "pause", "los": "loss", "partitoin": "partition",
		"p959": "p95", "meen": "mean", "frobnicate": "", "": "", strings.Repeat("delay", 100_000): "",
	} {
		known := kinds
		if given == "p959" || given == "meen" {
			known = Aggregates
		}
		if got := Nearest(given, known); got != want {
			t.Errorf("Nearest(%.20q) = %q, want %q", given, got, want)
		}
	}
}
