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
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
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
	// Accels are tried in order until one boots: nil means DefaultAccels().
	Accels []Accel
	// FirstOutput is how long an accelerator that has a fallback may stay silent
	// before qemu is stopped and the next one is tried; 0 means 20 s. The last
	// accelerator is bound only by the context.
	FirstOutput time.Duration
	// Qemu is the qemu binary; "" means qemu-system-x86_64 on PATH.
	Qemu string
}

// Accel is a way for qemu to run the guest's CPU.
type Accel struct {
	Name string   // "kvm", "tcg"
	Args []string // the qemu arguments that select it
}

var (
	// AccelKVM runs the guest on the host's CPU through /dev/kvm.
	AccelKVM = Accel{Name: "kvm", Args: []string{"-accel", "kvm", "-cpu", "host"}}
	// AccelTCG emulates the CPU: slower, and it works everywhere.
	AccelTCG = Accel{Name: "tcg", Args: []string{"-accel", "tcg"}}
)

// EnvAccel names the accelerators to try, comma-separated ("kvm,tcg", "tcg"); unset
// or "auto" means DefaultAccels().
const EnvAccel = "FAULTLINE_SANDBOX_ACCEL"

// DefaultAccels is KVM then emulation when /dev/kvm opens, else emulation only. A
// /dev/kvm that opens can still be unable to run a guest (qemu aborts, or the guest
// hangs silently), which is why emulation always follows.
func DefaultAccels() []Accel {
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
		f.Close()
		return []Accel{AccelKVM, AccelTCG}
	}
	return []Accel{AccelTCG}
}

// AccelsFromEnv reads EnvAccel: nil (DefaultAccels) when it is unset or "auto".
func AccelsFromEnv() ([]Accel, error) {
	v := strings.TrimSpace(os.Getenv(EnvAccel))
	if v == "" || v == "auto" {
		return nil, nil
	}
	var out []Accel
	for _, name := range strings.Split(v, ",") {
		switch strings.TrimSpace(name) {
		case "kvm":
			out = append(out, AccelKVM)
		case "tcg":
			out = append(out, AccelTCG)
		default:
			return nil, fmt.Errorf("%s=%q: unknown accelerator %q: use kvm, tcg, a list such as kvm,tcg, or auto", EnvAccel, v, name)
		}
	}
	return out, nil
}

// Result is the verdict of one sandbox run.
type Result struct {
	ExitCode int           // the test binary's exit code
	Accel    string        // the accelerator that ran the tests
	Skipped  []string      // accelerators tried before it, each with why it was given up
	Boot     time.Duration // from starting qemu (the attempt that ran) to /init's first line
	Total    time.Duration // from the first attempt's start to the end
}

// ErrNoQemu marks a machine without qemu-system-x86_64.
var ErrNoQemu = errors.New("qemu-system-x86_64 is not installed")

// Run builds the package's test binary, boots it as /init of the kernel under qemu and
// returns the test binary's exit code. It fails when the sandbox does not report one:
// a crash, a kernel panic or ctx's deadline. An accelerator under which qemu exits or
// prints nothing within FirstOutput is given up for the next one in Accels.
func Run(ctx context.Context, o Options) (*Result, error) {
	qemu := o.Qemu
	if qemu == "" {
		var err error
		if qemu, err = exec.LookPath("qemu-system-x86_64"); err != nil {
			return nil, fmt.Errorf("%w: install the qemu-system-x86 package", ErrNoQemu)
		}
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
	firstOutput := o.FirstOutput
	if firstOutput == 0 {
		firstOutput = 20 * time.Second
	}
	console := o.Console
	if console == nil {
		console = io.Discard
	}
	return boots(ctx, qemu, args, o.Accels, firstOutput, console)
}

// boots runs qemu with each accelerator in turn until one boots the guest: accels nil
// means DefaultAccels(). It gives an accelerator up for the next one when qemu exits
// or stays silent for firstOutput before its first console line; the last one is
// bound only by ctx. Once the guest has printed, its verdict or failure is final.
func boots(ctx context.Context, qemu string, args []string, accels []Accel, firstOutput time.Duration, console io.Writer) (*Result, error) {
	if accels == nil {
		accels = DefaultAccels()
	}
	if len(accels) == 0 {
		return nil, errors.New("no accelerator to run qemu with")
	}
	start := time.Now()
	res := &Result{ExitCode: -1}
	for i, acc := range accels {
		last := i == len(accels)-1
		limit := firstOutput
		if last {
			limit = 0
		}
		a := boot(ctx, qemu, append(slices.Clone(args), acc.Args...), limit, console)
		res.Total = time.Since(start)
		if a.fallback != "" && !last && ctx.Err() == nil {
			res.Skipped = append(res.Skipped, acc.Name+": "+a.fallback)
			continue
		}
		res.Accel, res.Boot, res.ExitCode = acc.Name, a.boot, a.exitCode
		switch {
		case a.exitCode >= 0:
			return res, nil
		case ctx.Err() != nil:
			return res, fmt.Errorf("the sandbox (%s) did not finish within its time limit (%v): %w", acc.Name, res.Total.Round(time.Second), ctx.Err())
		case a.fallback != "":
			return res, fmt.Errorf("the sandbox never started: %s%s", acc.Name+": "+a.fallback, skippedSuffix(res.Skipped))
		default:
			return res, fmt.Errorf("the sandbox (%s) stopped without a verdict (kernel panic or crash of /init): qemu: %v %s", acc.Name, a.err, a.stderr)
		}
	}
	panic("unreachable")
}

func skippedSuffix(skipped []string) string {
	if len(skipped) == 0 {
		return ""
	}
	return "; before that " + strings.Join(skipped, "; ")
}

// attempt is what one qemu boot came to.
type attempt struct {
	exitCode int           // the verdict, or -1
	boot     time.Duration // to the first console line; 0 if none
	// fallback says why the guest never ran (qemu exited or stayed silent before its
	// first console line); "" once it printed something.
	fallback string
	err      error  // qemu's exit
	stderr   string // qemu's last words
}

// boot runs qemu once. With silentLimit > 0, qemu is stopped when it has printed no
// console line by then.
func boot(ctx context.Context, qemu string, args []string, silentLimit time.Duration, console io.Writer) attempt {
	actx, stop := context.WithCancel(ctx)
	defer stop()
	var silent atomic.Bool // set before qemu is stopped for its silence
	var timer *time.Timer
	if silentLimit > 0 {
		timer = time.AfterFunc(silentLimit, func() { silent.Store(true); stop() })
		defer timer.Stop()
	}
	a := attempt{exitCode: -1}
	start := time.Now()
	cmd := exec.CommandContext(actx, qemu, args...)
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return attempt{exitCode: -1, err: err}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return attempt{exitCode: -1, err: fmt.Errorf("start qemu: %w", err)}
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if a.boot == 0 && line != "" {
			if timer != nil && !timer.Stop() {
				break // too late: qemu is being stopped for its silence
			}
			a.boot = time.Since(start)
		}
		fmt.Fprintln(console, line)
		if i := strings.Index(line, resultMarker); i >= 0 {
			if code, err := strconv.Atoi(strings.TrimSpace(line[i+len(resultMarker):])); err == nil {
				a.exitCode = code
			}
		}
	}
	a.err = cmd.Wait()
	a.stderr = strings.TrimSpace(stderr.String())
	if a.boot == 0 && a.exitCode < 0 {
		switch {
		case silent.Load():
			a.fallback = fmt.Sprintf("no console output within %v", silentLimit)
		case ctx.Err() == nil:
			a.fallback = fmt.Sprintf("qemu exited before any console output: %v", a.err)
			if a.stderr != "" {
				a.fallback += ": " + oneLine(a.stderr)
			}
		}
	}
	return a
}

// oneLine joins qemu's stderr into one line for a log.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " / ")), " ")
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
