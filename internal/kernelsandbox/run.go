package kernelsandbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Options says what to run in the sandbox.
type Options struct {
	// Package is the Go package whose tests run as /init, e.g. "./faults/network".
	Package string
	// Dir is where `go test -c` runs: the module's root.
	Dir string
	// TestArgs go to the test binary, e.g. "-test.v", "-test.run=^TestSandbox".
	// The kernel splits its command line on spaces, so no argument may contain one.
	TestArgs []string
	Kernel   *Kernel
	// Console receives everything the sandbox prints, as it comes.
	Console io.Writer
	// MemoryMB is the machine's memory; 0 means 768.
	MemoryMB int
}

// Result is the verdict of one sandbox run.
type Result struct {
	ExitCode int           // the test binary's exit code
	Boot     time.Duration // from starting qemu to /init's first line
	Total    time.Duration
}

// ErrNoQemu marks a machine without qemu-system-x86_64.
var ErrNoQemu = errors.New("qemu-system-x86_64 is not installed")

// Run builds the package's test binary, boots it as /init of the kernel under qemu and
// returns the test binary's exit code. It fails when the sandbox does not report one:
// a crash, a kernel panic or ctx's deadline.
func Run(ctx context.Context, o Options) (*Result, error) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, fmt.Errorf("%w: install the qemu-system-x86 package", ErrNoQemu)
	}
	for _, a := range o.TestArgs {
		if strings.ContainsAny(a, " \t\n\"") {
			return nil, fmt.Errorf("test argument %q holds a space or quote: the kernel command line cannot carry it", a)
		}
	}
	work, err := os.MkdirTemp("", "faultline-test-sandbox-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	initPath := filepath.Join(work, "init")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", initPath, o.Package)
	build.Dir = o.Dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // /init must be static
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the test binary of %s: %v\n%s", o.Package, err, out)
	}
	initrd := filepath.Join(work, "initrd.gz")
	if err := buildInitramfs(initrd, initPath, o.Kernel.Modules); err != nil {
		return nil, fmt.Errorf("build the initramfs: %w", err)
	}

	mem := o.MemoryMB
	if mem == 0 {
		mem = 768
	}
	cmdline := "console=ttyS0 quiet panic=-1 " + EnvSandbox + "=1 -- " + strings.Join(o.TestArgs, " ")
	args := []string{
		"-m", strconv.Itoa(mem), "-smp", "1", "-nodefaults", "-no-user-config",
		"-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
		"-kernel", o.Kernel.Image, "-initrd", initrd, "-append", cmdline,
	}
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
		f.Close()
		args = append(args, "-accel", "kvm", "-cpu", "host")
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, qemu, args...)
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start qemu: %w", err)
	}
	res := &Result{ExitCode: -1}
	console := o.Console
	if console == nil {
		console = io.Discard
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if res.Boot == 0 && line != "" {
			res.Boot = time.Since(start)
		}
		fmt.Fprintln(console, line)
		if i := strings.Index(line, resultMarker); i >= 0 {
			if code, err := strconv.Atoi(strings.TrimSpace(line[i+len(resultMarker):])); err == nil {
				res.ExitCode = code
			}
		}
	}
	werr := cmd.Wait()
	res.Total = time.Since(start)
	if res.ExitCode < 0 {
		if ctx.Err() != nil {
			return res, fmt.Errorf("the sandbox did not finish within its time limit (%v): %w", res.Total.Round(time.Second), ctx.Err())
		}
		return res, fmt.Errorf("the sandbox stopped without a verdict (kernel panic or crash of /init): qemu: %v %s", werr, strings.TrimSpace(stderr.String()))
	}
	return res, nil
}

func buildInitramfs(path, initPath string, modules []string) error {
	initData, err := os.ReadFile(initPath)
	if err != nil {
		return err
	}
	files := []initramfsFile{{Name: "init", Perm: 0o755, Data: initData}}
	for i, m := range modules {
		data, err := os.ReadFile(m)
		if err != nil {
			return err
		}
		files = append(files, initramfsFile{Name: fmt.Sprintf("modules/%02d-%s", i, filepath.Base(m)), Perm: 0o644, Data: data})
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeInitramfs(f, files); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
