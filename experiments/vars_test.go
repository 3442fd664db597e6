package experiments

import (
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"testing"
	"time"
)

const varsExperiment = `
variable "latency" {
  default = "100ms"
}
variable "percent" {
  type    = number
  default = 10
}
variable "ports" {
  type    = list(number)
  default = [80]
}
variable "token_file" {
  sensitive = true
}

experiment "vars" {
  description = var.token_file
}

target "api" {
  image = "shop:dev"
}

fault "delay" "slow" {
  target   = target.api
  duration = "10s"
  latency  = var.latency
  ports    = var.ports
}

fault "loss" "lossy" {
  target   = target.api
  start    = "20s"
  duration = "10s"
  percent  = var.percent
}
`

// memFiles serves var files from memory.
func memFiles(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
	}
}

func TestVariableSources(t *testing.T) {
	t.Parallel()
	env := func(vals map[string]string) func(string) string {
		return func(k string) string { return vals[k] }
	}
	varFiles := memFiles(map[string]string{
		"prod.vars":  "latency = \"300ms\"\npercent = 30\n",
		"typo.vars":  "latencyy = \"1s\"\ntoken_file = \"t\"\n",
		"broken.var": "latency = \n",
	})
	tests := []struct {
		name        string
		opts        LoadOptions
		wantLatency time.Duration
		wantPercent float64
		wantPorts   int
		wantDiag    string // summary of the first diagnostic; "" for none
	}{
		{name: "env sets a required variable", opts: LoadOptions{Getenv: env(map[string]string{"FAULTLINE_VAR_token_file": "/t"})},
			wantLatency: 100 * time.Millisecond, wantPercent: 10, wantPorts: 1},
		{name: "env overrides defaults", opts: LoadOptions{Getenv: env(map[string]string{"FAULTLINE_VAR_token_file": "/t", "FAULTLINE_VAR_latency": "250ms", "FAULTLINE_VAR_percent": "15"})},
			wantLatency: 250 * time.Millisecond, wantPercent: 15, wantPorts: 1},
		{name: "var file overrides env", opts: LoadOptions{VarFiles: []string{"prod.vars"}, Vars: []string{"token_file=/t"}, Getenv: env(map[string]string{"FAULTLINE_VAR_latency": "250ms"})},
			wantLatency: 300 * time.Millisecond, wantPercent: 30, wantPorts: 1},
		{name: "var overrides var file", opts: LoadOptions{VarFiles: []string{"prod.vars"}, Vars: []string{"token_file=/t", "latency=1s"}},
			wantLatency: time.Second, wantPercent: 30, wantPorts: 1},
		{name: "list variable parsed as HCL", opts: LoadOptions{Vars: []string{"token_file=/t", "ports=[80, 443, \"8080\"]"}},
			wantLatency: 100 * time.Millisecond, wantPercent: 10, wantPorts: 3},
		{name: "value with an equals sign", opts: LoadOptions{Vars: []string{"token_file=a=b"}},
			wantLatency: 100 * time.Millisecond, wantPercent: 10, wantPorts: 1},
		{name: "missing required", opts: LoadOptions{}, wantDiag: "No value for required variable"},
		{name: "undeclared --var", opts: LoadOptions{Vars: []string{"token_file=/t", "latncy=1s"}}, wantDiag: "Value for undeclared variable"},
		{name: "malformed --var", opts: LoadOptions{Vars: []string{"token_file"}}, wantDiag: "Invalid --var option"},
		{name: "number from a word", opts: LoadOptions{Vars: []string{"token_file=/t", "percent=lots"}}, wantDiag: "Invalid value for variable"},
		{name: "huge number", opts: LoadOptions{Vars: []string{"token_file=/t", "percent=1e99999999"}}, wantDiag: "Number out of range"},
		{name: "bad list", opts: LoadOptions{Vars: []string{"token_file=/t", "ports=[80,"}}, wantDiag: "Missing expression"},
		{name: "undeclared in var file is a warning", opts: LoadOptions{VarFiles: []string{"typo.vars"}},
			wantLatency: 100 * time.Millisecond, wantPercent: 10, wantPorts: 1, wantDiag: "Value for undeclared variable"},
		{name: "missing var file", opts: LoadOptions{Vars: []string{"token_file=/t"}, VarFiles: []string{"nope.vars"}}, wantDiag: "Cannot read variables file"},
		{name: "broken var file", opts: LoadOptions{Vars: []string{"token_file=/t"}, VarFiles: []string{"broken.var"}}, wantDiag: "Invalid expression"},
		{name: "bad value reaches the parameter", opts: LoadOptions{Vars: []string{"token_file=/t", "latency=5 minutes"}}, wantDiag: "Invalid duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := tt.opts
			opts.ReadFile = varFiles
			if opts.Getenv == nil {
				opts.Getenv = noEnv
			}
			exp, _, diags := LoadSource("vars.hcl", []byte(varsExperiment), opts)
			if tt.wantDiag != "" {
				if len(diags) == 0 || diags[0].Summary != tt.wantDiag {
					t.Fatalf("diagnostics = %s, want first %q", diagText(diags), tt.wantDiag)
				}
			} else if len(diags) > 0 {
				t.Fatalf("unexpected diagnostics:\n%s", diagText(diags))
			}
			if tt.wantLatency == 0 {
				if exp != nil {
					t.Fatalf("experiment returned despite errors")
				}
				return
			}
			if exp == nil {
				t.Fatalf("no experiment: %s", diagText(diags))
			}
			slow, lossy := exp.Faults[0].Params, exp.Faults[1].Params
			if got := slow.Duration("latency"); got != tt.wantLatency {
				t.Errorf("latency = %s, want %s", got, tt.wantLatency)
			}
			if got := lossy.Number("percent"); got != tt.wantPercent {
				t.Errorf("percent = %v, want %v", got, tt.wantPercent)
			}
			if got := len(slow.Ports("ports")); got != tt.wantPorts {
				t.Errorf("%d ports, want %d", got, tt.wantPorts)
			}
			if exp.Variables["token_file"] != "(sensitive)" {
				t.Errorf("a sensitive variable is shown in the report: %q", exp.Variables["token_file"])
			}
			if len(exp.SensitiveValues) != 1 || exp.SensitiveValues[0] != exp.Description || exp.Description == "" {
				t.Errorf("SensitiveValues = %q, want the token_file value %q for redaction", exp.SensitiveValues, exp.Description)
			}
			if !strings.Contains(exp.Variables["latency"], "s") {
				t.Errorf("Variables[latency] = %q", exp.Variables["latency"])
			}
		})
	}
}

// TestVariableMessagesNameTheFlags: every message about a variable names the flags as
// the command line takes them, --var and --var-file; -var would be read as -v -a -r.
func TestVariableMessagesNameTheFlags(t *testing.T) {
	t.Parallel()
	src := []byte(`variable "required" {}
variable "ports" {
  type    = list(number)
  default = []
}
experiment "x" {}
target "api" { image = "shop:dev" }
fault "restart" "bounce" { target = target.api }
`)
	opts := LoadOptions{
		Getenv:   noEnv,
		Vars:     []string{"malformed", "undeclared=1", "ports=[\"a\"]"},
		VarFiles: []string{"/nonexistent/prod.vars"},
		ReadFile: func(string) ([]byte, error) { return nil, fs.ErrNotExist },
	}
	_, _, diags := LoadSource("x.hcl", src, opts)
	singleDash := regexp.MustCompile(`(^|[^-])-var\b`)
	var text strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&text, "%s: %s\n", d.Summary, d.Detail)
	}
	for _, want := range []string{"Invalid --var option", "write it as --var 'name=value'", "The option --var \"undeclared=1\"",
		"Set it with --var 'required=...', in a --var-file", "Check the --var-file path", "from --var ports"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("no message says %q", want)
		}
	}
	if m := singleDash.FindString(text.String()); m != "" {
		t.Errorf("a message names the flag %q, which the command line does not take:\n%s", m, text.String())
	}
}

// TestLocalsSuggestFunctions: a misspelt function in a local gets HCL's suggestion,
// as anywhere else.
func TestLocalsSuggestFunctions(t *testing.T) {
	t.Parallel()
	src := "locals {\n  a = \"x\"\n  b = uper(local.a)\n}\n"
	_, _, diags := LoadSource("x.hcl", []byte(src), LoadOptions{Getenv: noEnv})
	if len(diags) != 1 || !strings.Contains(diags[0].Detail, `Did you mean "upper"?`) {
		t.Fatalf("diagnostics %v, want one suggesting upper", diags)
	}
}
