package report_test

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testreal"
	"github.com/faultline/faultline/report"
)

// pageRequests opens a page in headless Chromium, takes a screenshot, and returns the
// screenshot and every network request the page itself made (read from Chromium's net
// log; the browser's own background requests carry no file:// isolation key and are
// left out).
func pageRequests(t *testing.T, html []byte) (shot []byte, requests []string) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		testreal.Missing(t, "no chromium on PATH (apt-get install chromium)")
	}
	dir, err := os.MkdirTemp("", "faultline-test-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, html, 0o644); err != nil {
		t.Fatal(err)
	}
	shotPath, netLog := filepath.Join(dir, "shot.png"), filepath.Join(dir, "net.json")
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--log-net-log="+netLog,
		"--screenshot="+shotPath, "--window-size=1200,1600", "file://"+page)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
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
		t.Fatalf("chromium did not finish within 90s:\n%s", out.String())
	}
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out.String())
	}
	shot, err = os.ReadFile(shotPath)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, out.String())
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
		url, _ := e.Params["url"].(string)
		key, _ := e.Params["network_isolation_key"].(string)
		if strings.HasPrefix(key, "file://") && !strings.HasPrefix(url, "file:") {
			requests = append(requests, url)
		}
	}
	return shot, requests
}

func TestHTMLInChromium(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := report.Render(&buf, "html", fixture(165, 0.08)); err != nil {
		t.Fatal(err)
	}
	shot, requests := pageRequests(t, buf.Bytes())
	if len(requests) > 0 {
		t.Errorf("the report made requests: %q", requests)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	colours := map[uint32]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[(r>>11)<<10|(g>>11)<<5|bl>>11]++
		}
	}
	top, total := 0, 0
	for _, n := range colours {
		total += n
		top = max(top, n)
	}
	if len(colours) < 20 || float64(top)/float64(total) > 0.9 {
		t.Errorf("screenshot looks blank: %d colours, the commonest covers %.0f%%", len(colours), 100*float64(top)/float64(total))
	}
	// The fault window's red shading and the series lines must have reached the screen.
	var reddish int
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 > 200 && g>>8 < 235 && bl>>8 < 235 && r>>8 > g>>8+8 {
				reddish++
			}
		}
	}
	if reddish < 500 {
		t.Errorf("no shaded fault window visible (%d reddish pixels)", reddish)
	}
}

// The request detector must see a request when there is one, or the test above proves
// nothing.
func TestChromiumDetectsRequests(t *testing.T) {
	t.Parallel()
	_, requests := pageRequests(t, []byte(`<html><body><img src="http://127.0.0.1:9/faultline-test.png">x</body></html>`))
	if len(requests) != 1 || requests[0] != "http://127.0.0.1:9/faultline-test.png" {
		t.Errorf("detected requests %q, want the image", requests)
	}
}
