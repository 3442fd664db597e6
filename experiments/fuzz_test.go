package experiments

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzLoad feeds arbitrary files to the loader: it must never panic, and whatever it
// accepts must be a whole experiment that can be planned.
func FuzzLoad(f *testing.F) {
	for _, root := range []string{"testdata", filepath.Join("..", "examples")} {
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".hcl") {
				if src, err := os.ReadFile(path); err == nil {
					f.Add(src)
				}
			}
			return nil
		})
	}
	for _, src := range hostileShapes() {
		f.Add(src)
	}
	noFiles := func(string) ([]byte, error) { return nil, errors.New("no files while fuzzing") }
	f.Fuzz(func(t *testing.T, src []byte) {
		exp, files, diags := LoadSource("fuzz.hcl", src, LoadOptions{Getenv: noEnv, ReadFile: noFiles})
		if files == nil {
			t.Fatal("no sources returned")
		}
		if len(diags) > MaxDiagnostics+1 {
			t.Fatalf("%d diagnostics, more than the %d kept", len(diags), MaxDiagnostics+1)
		}
		if diags.HasErrors() {
			if exp != nil {
				t.Fatal("an experiment was returned with errors")
			}
			return
		}
		if exp == nil {
			t.Fatal("no experiment and no error")
		}
		if len(exp.Faults) == 0 || exp.Step <= 0 {
			t.Fatalf("accepted an incomplete experiment: %+v", exp)
		}
		for _, fs := range exp.Faults {
			if exp.TargetByName(fs.Target) == nil {
				t.Fatalf("fault %s refers to an unknown target %q", fs.Name, fs.Target)
			}
		}
		for _, c := range exp.Checks {
			if exp.MetricByName(c.Metric) == nil {
				t.Fatalf("check %s refers to an unknown metric %q", c.Name, c.Metric)
			}
		}
		p := NewPlan(exp)
		if p.Total < p.FaultEnd || p.FaultEnd < p.FaultStart || p.FaultStart < 0 {
			t.Fatalf("plan out of order: %+v", p)
		}
		if p.Total > MaxRun || len(p.Injections) > MaxInjections {
			t.Fatalf("plan beyond the limits: %s, %d injections", p.Total, len(p.Injections))
		}
	})
}

// hostileShapes are files built to hurt a loader: each once crashed it, ran it for
// minutes or made it print megabytes. They are generated here rather than committed.
func hostileShapes() map[string][]byte {
	const deep = 100_000
	rng := rand.New(rand.NewSource(1))
	binary := make([]byte, 1<<20)
	rng.Read(binary)
	text := make([]byte, 100<<10)
	const alphabet = " \t\n\x1b{}[]()\"=#abc09.$%"
	for i := range text {
		text[i] = alphabet[rng.Intn(len(alphabet))]
	}
	local := func(expr string) []byte {
		return []byte("experiment \"x\" {}\nlocals {\n  deep = " + expr + "\n}\n")
	}
	var locals, faults, mistakes strings.Builder
	locals.WriteString("locals {\n  l0 = 0\n")
	for i := 1; i < 16_000; i++ {
		fmt.Fprintf(&locals, "  l%d = local.l%d + 1\n", i, i-1)
	}
	locals.WriteString("}\nexperiment \"x\" {}\ntarget \"a\" { name = \"a\" }\nfault \"pause\" \"p\" {\n  target = target.a\n  duration = \"${local.l15999}s\"\n}\n")
	faults.WriteString("experiment \"x\" {}\ntarget \"a\" { name = \"a\" }\n")
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&faults, "fault \"pause\" \"p%d\" {\n  target   = target.a\n  start    = \"%dms\"\n  duration = \"10s\"\n}\n", i, i)
	}
	mistakes.WriteString("experiment \"x\" {}\ntarget \"a\" { name = \"a\" }\n")
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&mistakes, "fault \"pause\" \"p%d\" {\n  target   = target.a\n  duration = \"%d minutes\"\n}\n", i, i+1)
	}
	return map[string][]byte{
		"deep brackets":       local(strings.Repeat("[", deep) + strings.Repeat("]", deep)),
		"deep parentheses":    local(strings.Repeat("(", deep) + "1" + strings.Repeat(")", deep)),
		"deep objects":        local(strings.Repeat("{a=", deep) + "1" + strings.Repeat("}", deep)),
		"deep templates":      local(strings.Repeat(`"${`, deep) + "1" + strings.Repeat(`}"`, deep)),
		"deep directives":     local(`"` + strings.Repeat("%{if true}", deep) + `"`),
		"deep negations":      local(strings.Repeat("!", deep) + "true"),
		"long operator chain": local("1" + strings.Repeat("+1", 400_000)),
		"deep blocks":         []byte(strings.Repeat("a {\n", deep) + strings.Repeat("}\n", deep)),
		"16k locals":          []byte(locals.String()),
		"binary garbage":      binary,
		"text garbage":        text,
		"too large":           append([]byte("experiment \"x\" {}\n"), bytes.Repeat([]byte("# padding\n"), MaxFileBytes/10+1)...),
		"500 overlaps":        []byte(faults.String()),
		"300 mistakes":        []byte(mistakes.String()),
		"duration overflow": []byte(`experiment "x" {}
target "a" { name = "a" }
fault "pause" "p" {
  target   = target.a
  duration = "9223372036854775807ns"
}
`),
		"overlapping partitions": []byte(`experiment "x" {}
target "a" { name = "a" }
fault "partition" "p" {
  target   = target.a
  duration = "10s"
  to       = ["10.0.0.0/8"]
}
fault "partition" "q" {
  target   = target.a
  duration = "10s"
  to       = ["10.0.0.0/8"]
}
`),
	}
}

// TestHostileShapes: each shape the fuzzer starts from loads in bounded work with a
// clear error (the fuzzer's own checks run on them too, as its seeds).
func TestHostileShapes(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"deep brackets": "Nesting too deep", "deep parentheses": "Nesting too deep", "deep objects": "Nesting too deep",
		"deep templates": "Nesting too deep", "deep directives": "Nesting too deep", "deep negations": "Nesting too deep",
		"long operator chain": "Expression too long", "deep blocks": "Nesting too deep", "binary garbage": "Not a text file",
		"too large": "Experiment file too large", "500 overlaps": "Overlapping faults on one target", "300 mistakes": "Invalid duration",
		"duration overflow": "Invalid duration", "overlapping partitions": "Overlapping faults on one target",
	}
	for name, src := range hostileShapes() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			exp, _, diags := LoadSource("hostile.hcl", src, LoadOptions{Getenv: noEnv})
			if name == "16k locals" {
				if diags.HasErrors() || exp.Faults[0].Duration != 15999*time.Second {
					t.Fatalf("16k locals: %v", diags)
				}
				return
			}
			if exp != nil || !diags.HasErrors() {
				t.Fatalf("accepted")
			}
			if len(diags) > MaxDiagnostics+1 {
				t.Errorf("%d diagnostics", len(diags))
			}
			if w, ok := want[name]; ok && diags[0].Summary != w {
				t.Errorf("first diagnostic %q, want %q", diags[0].Summary, w)
			}
		})
	}
}
