package experiments

import (
	"os"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
)

// BenchmarkLoad measures a whole load of an example (parse, variables, decoding,
// validation); BenchmarkParseOnly measures the HCL parse alone, the floor any loader
// pays, so that the ratio shows what decoding and checking cost on top.
func BenchmarkLoad(b *testing.B) {
	src, err := os.ReadFile("../examples/slow-database.hcl")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, diags := LoadSource("slow-database.hcl", src, LoadOptions{Getenv: noEnv}); diags.HasErrors() {
			b.Fatal(diags)
		}
	}
}

func BenchmarkParseOnly(b *testing.B) {
	src, err := os.ReadFile("../examples/slow-database.hcl")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, diags := hclparse.NewParser().ParseHCL(src, "slow-database.hcl"); diags.HasErrors() {
			b.Fatal(diags)
		}
	}
}
