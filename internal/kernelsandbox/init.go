// Package kernelsandbox runs a package's tests on a stock Debian kernel under qemu,
// for what the build machines' kernels lack (sch_netem, sch_prio).
//
// The harness (Run) downloads the kernel package with `apt-get download` into a cache
// folder and keeps the kernel and the few modules the tests need; it builds the
// package's test binary statically, packs it as /init into a newc initramfs with the
// modules, boots qemu with the serial console on a pipe, and reads the verdict the
// binary prints before it powers the machine off.
//
// Inside the sandbox the test binary is PID 1. Its TestMain calls Main, which mounts
// /proc, /sys and /dev, loads the modules, runs the tests and powers off. Tests that
// need the sandbox's kernel ask InSandbox.
package kernelsandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// EnvSandbox is set to "1" on the sandbox kernel's command line; the kernel passes it
// to /init as an environment variable.
const EnvSandbox = "FAULTLINE_KERNEL_SANDBOX"

// resultMarker starts the line /init prints with the tests' exit code.
const resultMarker = "FAULTLINE-SANDBOX-RESULT exit="

// modulesDir is where the initramfs holds the kernel modules, loaded in name order.
const modulesDir = "/modules"

// InSandbox reports whether this process is /init of the kernel sandbox.
func InSandbox() bool { return os.Getenv(EnvSandbox) == "1" && os.Getpid() == 1 }

// Main runs the tests. In the sandbox it first makes the machine usable (mounts and
// modules) and afterwards prints the verdict and powers off; it never returns there.
// Elsewhere it returns m.Run's code. Call it from TestMain: os.Exit(kernelsandbox.Main(m)).
func Main(m *testing.M) int {
	if !InSandbox() {
		return m.Run()
	}
	code := 1
	if err := setup(); err != nil {
		fmt.Printf("kernel sandbox setup failed: %v\n", err)
	} else {
		code = m.Run()
	}
	fmt.Printf("\n%s%d\n", resultMarker, code)
	os.Stdout.Sync()
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {} // init must not exit: the kernel would panic
}

func setup() error {
	for _, m := range []struct{ src, dir, fstype string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"}, {"tmpfs", "/tmp", "tmpfs"},
	} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.src, m.dir, m.fstype, 0, ""); err != nil && err != unix.EBUSY {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.dir, err)
		}
	}
	os.Setenv("TMPDIR", "/tmp")
	os.Setenv("PATH", "/")
	entries, err := os.ReadDir(modulesDir)
	if err != nil {
		return fmt.Errorf("read %s: %w", modulesDir, err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".ko") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if err := loadModule(filepath.Join(modulesDir, n)); err != nil {
			return err
		}
	}
	return nil
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && err != unix.EEXIST {
		return fmt.Errorf("load module %s: %w", filepath.Base(path), err)
	}
	return nil
}
