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
// adds a -test.bench pattern (bench/network uses it); FAULTLINE_SANDBOX_ACCEL picks
// the accelerators.
func TestKernelSandboxNetworkFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 12*time.Minute)
	defer cancel()
	k := sandboxKernel(ctx, t)
	accels, err := AccelsFromEnv()
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
	res, err := Run(ctx, Options{Package: "./faults/network", Dir: moduleRoot(t), TestArgs: args, Kernel: k, Accels: accels, Console: os.Stdout})
	logAccel(t, res)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel %s: first output after %v, whole run %v", k.Package, res.Boot.Round(time.Millisecond), res.Total.Round(time.Millisecond))
	if res.ExitCode != 0 {
		t.Fatalf("the tests in the sandbox failed (exit %d): see the console output above", res.ExitCode)
	}
}

// TestKernelSandboxTriesKVMFirst boots the smallest guest with the default
// accelerators: KVM when /dev/kvm opens, and emulation when KVM cannot run the guest
// (some machines' /dev/kvm opens, and then qemu aborts or the guest hangs silently).
func TestKernelSandboxTriesKVMFirst(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	k := sandboxKernel(ctx, t)
	accels := DefaultAccels()
	if accels[0].Name != "kvm" {
		t.Skip("skipped: /dev/kvm does not open here, so KVM is not tried (nothing to fall back from)")
	}
	res, err := Run(ctx, Options{Package: "./internal/kernelsandbox/testdata/guest", Dir: moduleRoot(t), TestArgs: []string{"-test.v"}, Kernel: k, Console: os.Stdout})
	logAccel(t, res)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("the guest's test failed (exit %d)", res.ExitCode)
	}
	switch {
	case res.Accel == "kvm" && len(res.Skipped) == 0:
	case res.Accel == "tcg" && len(res.Skipped) == 1 && strings.HasPrefix(res.Skipped[0], "kvm: "):
	default:
		t.Fatalf("ran under %q after giving up %q: want kvm, or tcg after kvm was given up", res.Accel, res.Skipped)
	}
}

// TestKernelSandboxFallsBack forces both ways an accelerator fails, with real qemu on
// any machine: one under which qemu exits at once (an unknown CPU model), one under
// which the guest never prints (started with its CPU stopped, -S). Emulation must
// then run the guest to its verdict.
func TestKernelSandboxFallsBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	k := sandboxKernel(ctx, t)
	dies := Accel{Name: "dies", Args: []string{"-accel", "tcg", "-cpu", "faultline-no-such-cpu"}}
	silent := Accel{Name: "silent", Args: []string{"-accel", "tcg", "-S"}}
	res, err := Run(ctx, Options{
		Package: "./internal/kernelsandbox/testdata/guest", Dir: moduleRoot(t), TestArgs: []string{"-test.v"}, Kernel: k,
		Accels: []Accel{dies, silent, AccelTCG}, FirstOutput: 3 * time.Second, Console: os.Stdout,
	})
	logAccel(t, res)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accel != "tcg" || res.ExitCode != 0 {
		t.Fatalf("ran under %q with exit %d, want tcg with exit 0", res.Accel, res.ExitCode)
	}
	if len(res.Skipped) != 2 ||
		!strings.HasPrefix(res.Skipped[0], "dies: qemu exited before any console output") || !strings.Contains(res.Skipped[0], "faultline-no-such-cpu") ||
		res.Skipped[1] != "silent: no console output within 3s" {
		t.Fatalf("gave up %q, want the dead qemu (with its words) and the silent guest", res.Skipped)
	}
}

// sandboxKernel finds qemu and the kernel, or skips (fails in CI) saying what is missing.
func sandboxKernel(ctx context.Context, t *testing.T) *Kernel {
	t.Helper()
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
	return k
}

// logAccel says in the test log which accelerator ran and why others were given up.
func logAccel(t *testing.T, res *Result) {
	t.Helper()
	if res == nil {
		return
	}
	for _, s := range res.Skipped {
		t.Logf("accelerator given up: %s", s)
	}
	if res.Accel != "" {
		t.Logf("accelerator: %s (first output after %v)", res.Accel, res.Boot.Round(time.Millisecond))
	}
}

func moduleRoot(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}
