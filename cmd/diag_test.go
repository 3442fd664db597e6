package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/result"
	"github.com/hashicorp/hcl/v2"
)

// TestDiagnosticsEscapeControlCharacters: what a file holds reaches the terminal only
// as text: escape sequences, bells and bidirectional overrides in the source are
// written as escapes in snippets and messages, and the snippet still highlights the
// right bytes.
func TestDiagnosticsEscapeControlCharacters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]struct {
		src  string
		want []string
	}{
		"values.hcl": {
			src: "experiment \"x\" {\n  baseline = \"5 minutes\x1b[2J\"\n}\n" +
				"target \"a\" { name = \"a\" }\n" +
				"fault \"pause\" \"p\" {\n  target   = target.a\n  duration = \"1\u202es\"\n}\n",
			want: []string{`baseline = "5 minutes\x1b[2J"`, `duration = "1\u202es"`},
		},
		"syntax.hcl": {
			src:  "experiment \"x\" {}\r\n\x1b]0;owned\x07\r\n",
			want: []string{`\x1b]0;owned\x07`},
		},
	}
	for name, f := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(f.src), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, tty := range []bool{false, true} {
			code, _, stderr := langRun(t, tty, nil, "validate", path)
			if code != result.ExitInvalid {
				t.Fatalf("%s, tty %v: exit code %d, want %d", name, tty, code, result.ExitInvalid)
			}
			text := stderr
			if tty {
				// The writer's own colours are the only escape sequences allowed.
				text = regexp.MustCompile(`\x1b\[[0-9;]*m`).ReplaceAllString(stderr, "")
			}
			if i := strings.IndexFunc(text, func(r rune) bool { return (r < 0x20 && r != '\n') || r == 0x7f || r == 0x202e }); i >= 0 {
				t.Errorf("%s, tty %v: a control character %q reached the output:\n%q", name, tty, text[i], text)
			}
			for _, want := range f.want {
				if !strings.Contains(text, want) {
					t.Errorf("%s, tty %v: output lacks the escaped snippet %s:\n%s", name, tty, want, text)
				}
			}
		}
	}
	_, _, stderr := langRun(t, true, nil, "validate", filepath.Join(dir, "values.hcl"))
	if !strings.Contains(stderr, "baseline = \x1b[1;4m\"5 minutes\\x1b[2J\"\x1b[0m") {
		t.Errorf("the highlight does not cover the escaped value:\n%q", stderr)
	}
}

// TestJSONOutputIsInert: --json prints what a file holds with DEL, C1 controls and
// bidirectional overrides escaped (encoding/json leaves them raw), and the document
// still decodes to the same text.
func TestJSONOutputIsInert(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bidi.hcl")
	src := "experiment \"x\" {\n  baseline = \"5 min\u202eutes\u009b2J\x7f\"\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := langRun(t, false, nil, "validate", "--json", path)
	if code != result.ExitInvalid {
		t.Fatalf("exit code %d, want %d", code, result.ExitInvalid)
	}
	if i := strings.IndexFunc(stdout, func(r rune) bool { return r == 0x7f || r == 0x9b || r == 0x202e }); i >= 0 {
		t.Errorf("a control rune reached the JSON output raw:\n%q", stdout)
	}
	var got any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("--json output does not decode: %v\n%s", err, stdout)
	}
	if b, _ := json.Marshal(got); !strings.Contains(string(b), "5 min\u202eutes\u009b2J\x7f") {
		t.Errorf("the decoded output lost the file's text:\n%s", b)
	}
}

// TestPrintDiagnosticsAsHCLDoes: printing each diagnostic against a window of its file
// gives what HCL's writer gives against the whole file, for files without control
// characters: snippets, highlights, line numbers and block context.
func TestPrintDiagnosticsAsHCLDoes(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob("../experiments/testdata/errors/*.hcl")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, path := range paths {
		_, files, diags := experiments.Load(path, experiments.LoadOptions{Getenv: func(string) string { return "" }})
		for _, tty := range []bool{false, true} {
			var got, want bytes.Buffer
			printDiagnostics(&got, tty, files, diags)
			width := uint(0)
			if tty {
				width = diagnosticWidth
			}
			if err := hcl.NewDiagnosticTextWriter(&want, files, width, tty).WriteDiagnostics(diags); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("%s, tty %v: printed\n%s\nHCL's writer:\n%s", path, tty, got.String(), want.String())
			}
		}
	}
}

// BenchmarkPrintDiagnostics prints the most diagnostics a load returns for a file of
// the largest size one may have.
func BenchmarkPrintDiagnostics(b *testing.B) {
	var src strings.Builder
	src.WriteString("experiment \"x\" {}\ntarget \"a\" { name = \"a\" }\n")
	for i := 0; i < 150; i++ {
		fmt.Fprintf(&src, "fault \"pause\" \"p%d\" {\n  target   = target.a\n  duration = \"%d minutes\"\n}\n", i, i+1)
	}
	for src.Len() < experiments.MaxFileBytes-100 {
		src.WriteString("# " + strings.Repeat("x", 76) + "\n")
	}
	_, files, diags := experiments.LoadSource("big.hcl", []byte(src.String()), experiments.LoadOptions{Getenv: func(string) string { return "" }})
	if len(diags) != experiments.MaxDiagnostics+1 {
		b.Fatalf("%d diagnostics", len(diags))
	}
	b.ReportAllocs()
	for b.Loop() {
		printDiagnostics(io.Discard, true, files, diags)
	}
}
