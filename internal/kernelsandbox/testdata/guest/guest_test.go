// Package guest is the smallest /init for the kernel sandbox: the sandbox's own tests
// boot it to see which accelerator runs and that a verdict comes back.
package guest

import (
	"os"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/kernelsandbox"
)

func TestMain(m *testing.M) { os.Exit(kernelsandbox.Main(m)) }

// TestGuestKernel passes only as /init of the sandbox's kernel, with /proc mounted.
func TestGuestKernel(t *testing.T) {
	if !kernelsandbox.InSandbox() {
		t.Fatal("not /init of the kernel sandbox")
	}
	v, err := os.ReadFile("/proc/version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(v), "Linux version ") {
		t.Fatalf("/proc/version = %q", v)
	}
	t.Logf("%s", strings.TrimSpace(string(v)))
}
