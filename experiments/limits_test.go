package experiments

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// smallExperiment is a valid experiment that the hostile shapes below are added to.
const smallExperiment = `experiment "x" {}
target "api" { image = "shop:dev" }
fault "restart" "bounce" { target = target.api }
`

// onlyDiagnostic loads src and requires exactly one error with the given summary.
func onlyDiagnostic(t *testing.T, src []byte, opts LoadOptions, summary string) *hcl.Diagnostic {
	t.Helper()
	if opts.Getenv == nil {
		opts.Getenv = noEnv
	}
	exp, _, diags := LoadSource("hostile.hcl", src, opts)
	if exp != nil {
		t.Errorf("an experiment was returned")
	}
	if len(diags) != 1 || diags[0].Summary != summary || diags[0].Severity != hcl.DiagError {
		var got []string
		for i, d := range diags {
			if i == 5 {
				got = append(got, fmt.Sprintf("... %d in all", len(diags)))
				break
			}
			got = append(got, d.Summary)
		}
		t.Fatalf("diagnostics %q, want one error %q", got, summary)
	}
	return diags[0]
}

// TestHugeFileIsRefused: a file beyond MaxFileBytes is refused before parsing, also
// when it would be valid, and Load does not read it whole.
func TestHugeFileIsRefused(t *testing.T) {
	t.Parallel()
	padding := strings.Repeat("# "+strings.Repeat("x", 98)+"\n", 2*MaxFileBytes/100)
	src := []byte(smallExperiment + padding)
	d := onlyDiagnostic(t, src, LoadOptions{}, "Experiment file too large")
	if !strings.Contains(d.Detail, "2.0 MiB") || !strings.Contains(d.Detail, "at most 1.0 MiB") {
		t.Errorf("detail %q does not give the size and the limit", d.Detail)
	}

	path := filepath.Join(t.TempDir(), "huge.hcl")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, diags := Load(path, LoadOptions{Getenv: noEnv})
	if len(diags) != 1 || diags[0].Summary != "Experiment file too large" {
		t.Fatalf("Load: %v", diags)
	}

	// A variables file has the same limit.
	vars := filepath.Join(t.TempDir(), "huge.vars")
	if err := os.WriteFile(vars, []byte(padding), 0o600); err != nil {
		t.Fatal(err)
	}
	onlyDiagnostic(t, []byte(smallExperiment), LoadOptions{VarFiles: []string{vars}}, "Variables file too large")
}

// TestBinaryFileIsRefused: bytes that are not UTF-8 text get one error pointing at the
// first of them, not thousands of syntax errors.
func TestBinaryFileIsRefused(t *testing.T) {
	t.Parallel()
	garbage := make([]byte, 1<<20)
	rand.New(rand.NewSource(1)).Read(garbage)
	onlyDiagnostic(t, garbage, LoadOptions{}, "Not a text file")

	src := []byte(smallExperiment + "# ok\n\x00\n")
	d := onlyDiagnostic(t, src, LoadOptions{}, "Not a text file")
	if d.Subject == nil || d.Subject.Start.Line != 5 || d.Subject.Start.Column != 1 {
		t.Errorf("subject %v, want line 5, column 1", d.Subject)
	}
}

// TestDeepNestingIsRefused: nesting that would overflow the parser's or the
// evaluator's stack (a fatal error no recover can catch) is one diagnostic instead.
func TestDeepNestingIsRefused(t *testing.T) {
	t.Parallel()
	const n = 100_000
	for _, tt := range []struct {
		name, local, summary string
	}{
		{"brackets", strings.Repeat("[", n) + strings.Repeat("]", n), "Nesting too deep"},
		{"unclosed brackets", strings.Repeat("[", n), "Nesting too deep"},
		{"parentheses", strings.Repeat("(", n) + "1" + strings.Repeat(")", n), "Nesting too deep"},
		{"objects", strings.Repeat("{a=", n) + "1" + strings.Repeat("}", n), "Nesting too deep"},
		{"interpolations", strings.Repeat(`"${`, n) + "1" + strings.Repeat(`}"`, n), "Nesting too deep"},
		{"template directives", `"` + strings.Repeat("%{if true}", n) + `"`, "Nesting too deep"},
		{"negations", strings.Repeat("!", n) + "true", "Nesting too deep"},
		{"minus signs", strings.Repeat("-", n) + "1", "Nesting too deep"},
		{"operator chain", "1" + strings.Repeat("+1", 400_000), "Expression too long"},
		{"conditional chain", strings.Repeat("true ? 1 : ", 80_000) + "1", "Expression too long"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := smallExperiment + "locals {\n  deep = " + tt.local + "\n}\n"
			onlyDiagnostic(t, []byte(src), LoadOptions{}, tt.summary)
		})
	}
	t.Run("block bodies", func(t *testing.T) {
		src := smallExperiment + strings.Repeat("a {\n", n) + strings.Repeat("}\n", n)
		onlyDiagnostic(t, []byte(src), LoadOptions{}, "Nesting too deep")
	})
	t.Run("value on the command line", func(t *testing.T) {
		src := smallExperiment + "variable \"ports\" {\n  type = list(any)\n  default = []\n}\n"
		opts := LoadOptions{Vars: []string{"ports=" + strings.Repeat("[", n) + strings.Repeat("]", n)}}
		onlyDiagnostic(t, []byte(src), opts, "Nesting too deep")
	})
}

// TestNestingWithinLimitsLoads: what real files hold is not mistaken for nesting:
// brackets in strings and comments, sequential templates, long flat lists, and
// nesting up to the limit.
func TestNestingWithinLimitsLoads(t *testing.T) {
	t.Parallel()
	deep := MaxNesting - 2 // the locals block and the attribute's own level
	src := smallExperiment + `
# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
locals {
  brackets = "` + strings.Repeat("[(", 100) + `" // ` + strings.Repeat("{", 100) + `
  nested   = ` + strings.Repeat("[", deep) + strings.Repeat("]", deep) + `
  chain    = 1` + strings.Repeat(" + 1", MaxOperators-1) + `
  list     = [` + strings.Repeat("1 + 1, ", 1000) + `]
  ifs      = "` + strings.Repeat("%{if true}x%{endif}", 200) + `"
  minus    = [` + strings.Repeat("-1, ", 200) + `]
}
`
	_, _, diags := LoadSource("ok.hcl", []byte(src), LoadOptions{Getenv: noEnv})
	if len(diags) > 0 {
		t.Fatalf("diagnostics for a file within the limits:\n%s", diagText(diags))
	}
}

// TestDiagnosticsAreCapped: a file with hundreds of mistakes gets the first
// MaxDiagnostics and one more that counts the rest.
func TestDiagnosticsAreCapped(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(smallExperiment)
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&b, "fault \"pause\" \"p%d\" {\n  target   = target.api\n  duration = \"%d minutes\"\n}\n", i, i+1)
	}
	exp, _, diags := LoadSource("many.hcl", []byte(b.String()), LoadOptions{Getenv: noEnv})
	if exp != nil {
		t.Error("an experiment was returned")
	}
	if len(diags) != MaxDiagnostics+1 {
		t.Fatalf("%d diagnostics, want %d", len(diags), MaxDiagnostics+1)
	}
	last := diags[MaxDiagnostics]
	if last.Summary != "Too many diagnostics" || last.Severity != hcl.DiagError ||
		!strings.Contains(last.Detail, "200 errors and 0 warnings more are not shown") {
		t.Fatalf("last diagnostic %q: %q", last.Summary, last.Detail)
	}
	for _, d := range diags[:MaxDiagnostics] {
		if d.Summary != "Invalid duration" {
			t.Fatalf("kept %q, want the first mistakes of the file", d.Summary)
		}
	}
}

// allocatedBytes is what f allocates on the heap. The test calling it must not be
// parallel: parallel tests wait until the sequential ones are done.
func allocatedBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestLocalsScaleLinearly: settling locals costs about the same per local however
// many there are. Memory stands in for time: it is deterministic, and each local used
// to rebuild an object of every local settled before it (n² over a file).
func TestLocalsScaleLinearly(t *testing.T) {
	localsFile := func(n int) []byte {
		var b strings.Builder
		b.WriteString(smallExperiment + "locals {\n  l0 = 0\n")
		for i := 1; i < n; i++ {
			// Each depends on the one before, written after it: a chain in file order.
			fmt.Fprintf(&b, "  l%d = local.l%d + 1\n", i, i-1)
		}
		b.WriteString("}\n")
		return []byte(b.String())
	}
	cost := func(n int) uint64 {
		src := localsFile(n)
		return allocatedBytes(func() {
			if _, _, diags := LoadSource("locals.hcl", src, LoadOptions{Getenv: noEnv}); diags.HasErrors() {
				t.Fatal(diags.Error())
			}
		})
	}
	small, large := cost(500), cost(4000)
	ratio := float64(large) / float64(small)
	t.Logf("500 locals: %d bytes, 4000 locals: %d bytes, ratio %.1f", small, large, ratio)
	if ratio > 16 { // linear is 8, quadratic 64
		t.Errorf("8 times the locals cost %.1f times the memory; settling locals should scale linearly", ratio)
	}
}
