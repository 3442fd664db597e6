package kernelsandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// metaPackage is Debian's package that depends on the current kernel image.
const metaPackage = "linux-image-amd64"

// Modules are the kernel modules the sandbox loads, by file name; none needs another.
var Modules = []string{
	"net/sched/sch_netem.ko", "net/sched/sch_prio.ko", "net/sched/sch_tbf.ko",
	"net/sched/sch_htb.ko", "net/sched/cls_u32.ko", "drivers/net/veth.ko", "drivers/net/dummy.ko",
}

// ErrNoKernel marks a machine where the kernel package cannot be found or fetched.
var ErrNoKernel = errors.New("no Debian kernel package available")

// Kernel is an unpacked kernel: its image and the modules the sandbox loads.
type Kernel struct {
	Package string   // e.g. linux-image-6.1.0-56-amd64
	Image   string   // path of vmlinuz
	Modules []string // paths of the .ko files, in Modules' order
}

// DefaultCacheDir is $XDG_CACHE_HOME/faultline/kernel, or ~/.cache/faultline/kernel.
func DefaultCacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder: set XDG_CACHE_HOME: %w", err)
	}
	return filepath.Join(base, "faultline", "kernel"), nil
}

var dependsLine = regexp.MustCompile(`(?m)^\s*Depends:\s*(linux-image-[0-9][^\s]*)`)

// kernelPackage asks apt which kernel image package linux-image-amd64 names today.
func kernelPackage(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", metaPackage).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w: apt-cache depends %s: %v: %s", ErrNoKernel, metaPackage, err, strings.TrimSpace(string(out)))
	}
	m := dependsLine.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%w: apt-cache depends %s names no kernel image (run apt-get update)", ErrNoKernel, metaPackage)
	}
	return string(m[1]), nil
}

// FetchKernel returns the current Debian kernel from cacheDir, downloading it with
// `apt-get download` and unpacking it with `dpkg -x` the first time. Only the image and
// the sandbox's modules are kept.
func FetchKernel(ctx context.Context, cacheDir string) (*Kernel, error) {
	if _, err := exec.LookPath("apt-get"); err != nil {
		return nil, fmt.Errorf("%w: apt-get is not installed (a Debian machine is needed)", ErrNoKernel)
	}
	pkg, err := kernelPackage(ctx)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cacheDir, pkg)
	k := &Kernel{Package: pkg, Image: filepath.Join(dir, "vmlinuz")}
	for _, m := range Modules {
		k.Modules = append(k.Modules, filepath.Join(dir, "modules", filepath.Base(m)))
	}
	if complete(k) {
		return k, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(cacheDir, "download-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	dl := exec.CommandContext(ctx, "apt-get", "download", pkg)
	dl.Dir = work
	if out, err := dl.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%w: apt-get download %s: %v: %s", ErrNoKernel, pkg, err, lastLines(out))
	}
	debs, _ := filepath.Glob(filepath.Join(work, "*.deb"))
	if len(debs) != 1 {
		return nil, fmt.Errorf("%w: apt-get download %s left %d packages", ErrNoKernel, pkg, len(debs))
	}
	root := filepath.Join(work, "root")
	if out, err := exec.CommandContext(ctx, "dpkg", "-x", debs[0], root).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("dpkg -x %s: %v: %s", debs[0], err, lastLines(out))
	}
	staging := filepath.Join(work, "kernel")
	if err := os.MkdirAll(filepath.Join(staging, "modules"), 0o755); err != nil {
		return nil, err
	}
	images, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(images) != 1 {
		return nil, fmt.Errorf("%s holds %d kernel images under boot/, want 1", pkg, len(images))
	}
	if err := os.Rename(images[0], filepath.Join(staging, "vmlinuz")); err != nil {
		return nil, err
	}
	trees, _ := filepath.Glob(filepath.Join(root, "lib", "modules", "*", "kernel"))
	if len(trees) != 1 {
		return nil, fmt.Errorf("%s holds %d module trees, want 1", pkg, len(trees))
	}
	for _, m := range Modules {
		src := filepath.Join(trees[0], m)
		if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s has no %s (compressed modules are not supported)", pkg, m)
		}
		if err := os.Rename(src, filepath.Join(staging, "modules", filepath.Base(m))); err != nil {
			return nil, err
		}
	}
	os.RemoveAll(dir)
	if err := os.Rename(staging, dir); err != nil {
		return nil, err
	}
	if !complete(k) {
		return nil, fmt.Errorf("kernel cache %s is incomplete after unpacking", dir)
	}
	return k, nil
}

func complete(k *Kernel) bool {
	for _, p := range append([]string{k.Image}, k.Modules...) {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			return false
		}
	}
	return true
}

func lastLines(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " / ")
}
