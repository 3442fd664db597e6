package kernelsandbox

import (
	"compress/gzip"
	"fmt"
	"io"
	"strings"
)

// cpioWriter writes the "newc" cpio format the kernel unpacks as an initramfs.
type cpioWriter struct {
	w     io.Writer
	ino   int
	count int64
}

// cpio mode bits.
const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeCharDev = 0o020000
)

func (c *cpioWriter) header(name string, mode, size int64, rdevMajor, rdevMinor int) error {
	c.ino++
	name = strings.TrimPrefix(name, "/")
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, size, 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	if err := c.write([]byte(hdr + name + "\x00")); err != nil {
		return err
	}
	return c.pad()
}

func (c *cpioWriter) write(b []byte) error {
	n, err := c.w.Write(b)
	c.count += int64(n)
	return err
}

// pad aligns to four bytes, as newc requires after names and after file data.
func (c *cpioWriter) pad() error {
	if r := c.count % 4; r != 0 {
		return c.write(make([]byte, 4-r))
	}
	return nil
}

func (c *cpioWriter) dir(name string) error { return c.header(name, modeDir|0o755, 0, 0, 0) }

func (c *cpioWriter) charDev(name string, major, minor int) error {
	return c.header(name, modeCharDev|0o600, 0, major, minor)
}

func (c *cpioWriter) file(name string, perm int64, data []byte) error {
	if err := c.header(name, modeRegular|perm, int64(len(data)), 0, 0); err != nil {
		return err
	}
	if err := c.write(data); err != nil {
		return err
	}
	return c.pad()
}

func (c *cpioWriter) close() error { return c.header("TRAILER!!!", 0, 0, 0, 0) }

// initramfsFile is one regular file of the initramfs.
type initramfsFile struct {
	Name string
	Perm int64
	Data []byte
}

// writeInitramfs writes a gzip-compressed newc archive with the directories and the
// console device /init needs, and the given files.
func writeInitramfs(w io.Writer, files []initramfsFile) error {
	gz := gzip.NewWriter(w)
	c := &cpioWriter{w: gz}
	for _, d := range []string{"dev", "proc", "sys", "tmp", "modules"} {
		if err := c.dir(d); err != nil {
			return err
		}
	}
	// The kernel opens /dev/console as init's stdin, stdout and stderr.
	if err := c.charDev("dev/console", 5, 1); err != nil {
		return err
	}
	for _, f := range files {
		if err := c.file(f.Name, f.Perm, f.Data); err != nil {
			return err
		}
	}
	if err := c.close(); err != nil {
		return err
	}
	return gz.Close()
}
