//go:build sandbox

package kernelsandbox

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testreal"
)

// TestKernelSandboxNetworkFaults runs faults/network's namespace and netem tests as
// /init of a stock Debian kernel under qemu (make test-kernel). FAULTLINE_SANDBOX_BENCH
// adds a -test.bench pattern (bench/network uses it).
func TestKernelSandboxNetworkFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 12*time.Minute)
	defer cancel()
	cache := os.Getenv("FAULTLINE_KERNEL_CACHE")
	if cache == "" {
		var err error
		if cache, err = DefaultCacheDir(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		testreal.Missing(t, "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")
	}
	k, err := FetchKernel(ctx, cache)
	if errors.Is(err, ErrNoKernel) {
		testreal.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// The missing-netem test needs a kernel without sch_netem: the host's, where
	// `make test-unit` runs it; the sandbox's kernel has it, so it is left out here.
	args := []string{"-test.v", "-test.run=^Test(Sandbox|Namespace)", "-test.skip=^TestNamespaceMissingNetemSaysWhatToLoad$", "-test.timeout=10m"}
	if b := os.Getenv("FAULTLINE_SANDBOX_BENCH"); b != "" {
		args = append(args, "-test.bench="+b, "-test.benchmem")
		if strings.Contains(b, "Bench") {
			args[1] = "-test.run=^$"
		}
	}
	res, err := Run(ctx, Options{Package: "./faults/network", Dir: moduleRoot(t), TestArgs: args, Kernel: k, Console: os.Stdout})
	if errors.Is(err, ErrNoQemu) {
		testreal.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel %s: first output after %v, whole run %v", k.Package, res.Boot.Round(time.Millisecond), res.Total.Round(time.Millisecond))
	if res.ExitCode != 0 {
		t.Fatalf("the tests in the sandbox failed (exit %d): see the console output above", res.ExitCode)
	}
}

func moduleRoot(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}
