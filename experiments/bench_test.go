package experiments

import (
	"os"
	"strings"
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

// BenchmarkLoadHostile loads the shapes FuzzLoad starts from (see hostileShapes): each
// must cost about as much as its size, however it is built.
func BenchmarkLoadHostile(b *testing.B) {
	shapes := hostileShapes()
	for _, name := range []string{"16k locals", "500 overlaps", "300 mistakes", "deep brackets", "long operator chain", "text garbage", "binary garbage"} {
		src := shapes[name]
		b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				LoadSource("hostile.hcl", src, LoadOptions{Getenv: noEnv})
			}
		})
	}
}
