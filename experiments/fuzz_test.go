package experiments

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	noFiles := func(string) ([]byte, error) { return nil, errors.New("no files while fuzzing") }
	f.Fuzz(func(t *testing.T, src []byte) {
		exp, files, diags := LoadSource("fuzz.hcl", src, LoadOptions{Getenv: noEnv, ReadFile: noFiles})
		if files == nil {
			t.Fatal("no sources returned")
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
