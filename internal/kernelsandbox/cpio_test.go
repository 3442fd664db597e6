package kernelsandbox

import (
	"bytes"
	"compress/gzip"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestInitramfsIsNewcCpio(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	files := []initramfsFile{{Name: "init", Perm: 0o755, Data: []byte("#!binary")}, {Name: "modules/00-veth.ko", Perm: 0o644, Data: []byte("abcde")}}
	if err := writeInitramfs(&buf, files); err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(gz)
	if err != nil {
		t.Fatal(err)
	}
	// Walk the archive the way the kernel does: header, name, padding, data, padding.
	var names []string
	for off := 0; ; {
		if string(raw[off:off+6]) != "070701" {
			t.Fatalf("no newc magic at offset %d", off)
		}
		field := func(i int) int {
			var v int
			for _, c := range raw[off+6+8*i : off+14+8*i] {
				v = v*16 + strings.IndexByte("0123456789ABCDEF", c)
			}
			return v
		}
		size, nameLen := field(6), field(11)
		name := string(raw[off+110 : off+110+nameLen-1])
		off = (off + 110 + nameLen + 3) &^ 3
		if name == "TRAILER!!!" {
			break
		}
		names = append(names, name)
		if name == "modules/00-veth.ko" && string(raw[off:off+size]) != "abcde" {
			t.Errorf("module data = %q", raw[off:off+size])
		}
		off = (off + size + 3) &^ 3
	}
	want := []string{"dev", "proc", "sys", "tmp", "modules", "dev/console", "init", "modules/00-veth.ko"}
	if !slices.Equal(names, want) {
		t.Errorf("entries %v, want %v", names, want)
	}
	// cpio itself, when installed, must read it too.
	if _, err := exec.LookPath("cpio"); err == nil {
		cmd := exec.Command("cpio", "-t")
		cmd.Stdin = bytes.NewReader(raw)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "modules/00-veth.ko") {
			t.Errorf("cpio -t: %v: %s", err, out)
		}
	}
}
