package journal

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkAppend measures what durability costs before each injection: Append
// (write + fsync) against the obvious alternative, the same line written without
// fsync. Compare the two ns/op in one run: their ratio is the cost of surviving a
// crash, paid once per injected fault.
func BenchmarkAppend(b *testing.B) {
	r := rec("bench")
	b.Run("fsync", func(b *testing.B) {
		j, err := Create(b.TempDir(), "bench", "bench")
		if err != nil {
			b.Fatal(err)
		}
		defer j.f.Close()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := j.Append(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("no-fsync", func(b *testing.B) {
		f, err := os.OpenFile(filepath.Join(b.TempDir(), "plain"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			encoded, _ := json.Marshal(line{Type: typeInject, ID: i, Record: &r})
			if _, err := f.Write(append(encoded, '\n')); err != nil {
				b.Fatal(err)
			}
		}
	})
}
