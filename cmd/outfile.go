package cmd

import (
	"errors"
	"syscall"

	"fmt"
	"github.com/faultline/faultline/result"
	"io"
	"os"
	"path/filepath"
)

// reportFileMode is the mode of every report file: results name containers, queries
// and timings, which are nobody else's business on a shared machine.
const reportFileMode = 0o640

// replaceFile writes what render produces to path, a file of a report directory, without
// ever following a symlink or writing into an existing file: it renders into a new
// temporary file beside path (created exclusively, mode 0600), sets reportFileMode and
// renames it over path. Whatever was at path (a symlink included) is replaced, never
// what it points to; a failed render leaves path as it was.
func replaceFile(path string, render func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := render(f); err != nil {
		return fmt.Errorf("render %s: %w", path, err)
	}
	if err := f.Chmod(reportFileMode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// createNoFollow writes what render produces to path, a file the user named: created
// with reportFileMode when new, truncated when it exists, refused when it is a symlink
// (O_NOFOLLOW), so that a link planted in a shared directory cannot make faultline
// overwrite its target. Devices (/dev/full) and pipes are written as they are.
func createNoFollow(path string, render func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, reportFileMode)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return exitf(result.ExitInvalid, "cannot write the report to %s: it is a symbolic link, which faultline never writes through: give the path of the file itself", path)
		}
		return exitf(result.ExitInvalid, "cannot write the report: %w", err)
	}
	if err := render(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// prepareOutDir makes sure the reports can be written to dir before anything is
// touched: it creates dir (mode 0750) when missing and proves it takes a file. Any
// failure is a usage error (exit 2) naming --out.
func prepareOutDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("--out %s: cannot create the report directory: %w: give a directory you can write (it is created when missing)", dir, err)
	}
	probe, err := os.CreateTemp(dir, ".faultline-probe-*")
	if err != nil {
		return fmt.Errorf("--out %s: cannot write in the report directory: %w: give a directory you can write", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}
