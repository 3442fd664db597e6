// Package browsertest opens pages in a real headless Chromium for tests: a screenshot,
// the DOM as the browser built it, and every request the page itself made (read from
// Chromium's net log). It skips on a laptop without Chromium and fails in CI
// (internal/testreal).
package browsertest

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testreal"
)

// Request is one request the page made.
type Request struct {
	URL string
	// Isolation is the network isolation key Chromium gave it: the page's own origin
	// (file://..., http://127.0.0.1:PORT); the browser's background requests have none
	// of the page's.
	Isolation string
}

// Page is what Chromium saw of one page.
type Page struct {
	Shot     []byte // PNG screenshot
	DOM      string // the DOM after the page loaded (only with Options.DOM)
	Requests []Request
}

// Options tune Open.
type Options struct {
	Width, Height int  // window size; 0 means 1200 x 1600
	DOM           bool // also dump the DOM (a second browser run)
}

// Open loads url (http://... or file://...) in headless Chromium.
func Open(t testing.TB, url string, o Options) Page {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		testreal.Missing(t, "no chromium on PATH (apt-get install chromium)")
	}
	if o.Width == 0 {
		o.Width, o.Height = 1200, 1600
	}
	dir := t.TempDir()
	shotPath, netLog := filepath.Join(dir, "shot.png"), filepath.Join(dir, "net.json")
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(dir, "profile"),
		"--window-size=" + strconv.Itoa(o.Width) + "," + strconv.Itoa(o.Height)}
	run := func(extra ...string) []byte {
		cmd := exec.Command(bin, append(append(flags, extra...), url)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatalf("start chromium: %v", err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-time.After(90 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("chromium did not finish within 90s:\n%s", errb.String())
		}
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, errb.String())
		}
		return out.Bytes()
	}
	var p Page
	run("--log-net-log="+netLog, "--screenshot="+shotPath)
	if o.DOM {
		p.DOM = string(run("--dump-dom"))
	}
	if p.Shot, err = os.ReadFile(shotPath); err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	raw, err := os.ReadFile(netLog)
	if err != nil {
		t.Fatalf("no net log: %v", err)
	}
	var log struct {
		Constants struct {
			LogEventTypes map[string]int `json:"logEventTypes"`
		} `json:"constants"`
		Events []struct {
			Type   int            `json:"type"`
			Params map[string]any `json:"params"`
		} `json:"events"`
	}
	if err := json.Unmarshal(raw, &log); err != nil {
		t.Fatalf("net log: %v", err)
	}
	start, ok := log.Constants.LogEventTypes["URL_REQUEST_START_JOB"]
	if !ok {
		t.Fatal("net log has no URL_REQUEST_START_JOB event type")
	}
	for _, e := range log.Events {
		if e.Type != start {
			continue
		}
		u, _ := e.Params["url"].(string)
		key, _ := e.Params["network_isolation_key"].(string)
		p.Requests = append(p.Requests, Request{URL: u, Isolation: key})
	}
	return p
}

// File writes html into a temporary file and opens it.
func File(t testing.TB, html []byte, o Options) Page {
	t.Helper()
	page := filepath.Join(t.TempDir(), "page.html")
	if err := os.WriteFile(page, html, 0o644); err != nil {
		t.Fatal(err)
	}
	return Open(t, "file://"+page, o)
}

// RequestsOf lists the URLs of the requests the page made whose isolation key holds
// origin, that is the page's own requests, not the browser's.
func (p Page) RequestsOf(origin string) []string {
	var out []string
	for _, r := range p.Requests {
		if strings.Contains(r.Isolation, origin) {
			out = append(out, r.URL)
		}
	}
	return out
}

// Colours counts the colours of the screenshot (5 bits a channel, every step-th pixel)
// and the share of the commonest one; a blank page has few colours and one that covers
// almost everything.
func (p Page) Colours(t testing.TB, step int) (colours int, commonest float64) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(p.Shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	counts := map[uint32]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += step {
		for x := b.Min.X; x < b.Max.X; x += step {
			r, g, bl, _ := img.At(x, y).RGBA()
			counts[(r>>11)<<10|(g>>11)<<5|bl>>11]++
		}
	}
	top, total := 0, 0
	for _, n := range counts {
		total += n
		top = max(top, n)
	}
	return len(counts), float64(top) / float64(total)
}
