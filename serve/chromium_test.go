package serve

import (
	"bytes"
	"encoding/json"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testreal"
)

// browse opens a page of the running server in headless Chromium and returns the
// screenshot, the DOM as Chromium built it, and every request the page made that did
// not go to the server itself.
func browse(t *testing.T, base, path string) (shot []byte, dom string, outside []string) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		testreal.Missing(t, "no chromium on PATH (apt-get install chromium)")
	}
	dir := t.TempDir()
	shotPath, netLog := filepath.Join(dir, "shot.png"), filepath.Join(dir, "net.json")
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1200,1400"}
	run := func(extra ...string) []byte {
		cmd := exec.Command(bin, append(append(flags, extra...), base+path)...)
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
	run("--log-net-log="+netLog, "--screenshot="+shotPath)
	dom = string(run("--dump-dom"))
	shot, err = os.ReadFile(shotPath)
	if err != nil {
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
	start := log.Constants.LogEventTypes["URL_REQUEST_START_JOB"]
	seen := 0
	for _, e := range log.Events {
		if e.Type != start {
			continue
		}
		u, _ := e.Params["url"].(string)
		key, _ := e.Params["network_isolation_key"].(string)
		if !strings.Contains(key, "127.0.0.1") {
			continue // the browser's own background requests
		}
		seen++
		if !strings.HasPrefix(u, base+"/") {
			outside = append(outside, u)
		}
	}
	if seen == 0 {
		t.Fatalf("the net log holds no request of the page: the check would prove nothing")
	}
	return shot, dom, outside
}

func colourful(t *testing.T, shot []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	colours := map[uint32]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[(r>>11)<<10|(g>>11)<<5|bl>>11]++
		}
	}
	top, total := 0, 0
	for _, n := range colours {
		total += n
		top = max(top, n)
	}
	if len(colours) < 8 || float64(top)/float64(total) > 0.97 {
		t.Errorf("the page looks blank: %d colours, the commonest covers %.1f%%", len(colours), 100*float64(top)/float64(total))
	}
}

// TestPagesInChromium renders the runs page, a run's page and the trend page in a
// real browser: not blank, no request leaves the server, and a hostile experiment
// name and description stay text (no script runs: the DOM holds no element it made).
func TestPagesInChromium(t *testing.T) {
	t.Parallel()
	fr := newFakeRunner()
	fr.name = `<script>document.title="pwned"</script>`
	fr.targets["a.hcl"] = []Target{{ID: "c1", Name: "shop-backend-1"}}
	close(fr.hold)
	svc, srv := testService(t, fr, nil, "")
	var id string
	for i := 0; i < 3; i++ {
		id, _ = svc.Trigger("a", "manual")
		recorded(t, svc, id)
	}
	pages := []struct{ name, path string }{{"runs", "/"}, {"run", "/runs/" + id}, {"trend", "/experiments/" + url.PathEscape(fr.name)}, {"schedules", "/schedules"}}
	for _, pg := range pages {
		path := pg.path
		t.Run(pg.name, func(t *testing.T) {
			shot, dom, outside := browse(t, srv.URL, path)
			colourful(t, shot)
			if len(outside) > 0 {
				t.Errorf("%s made requests outside the server: %q", path, outside)
			}
			if strings.Contains(dom, "pwned</title>") || strings.Contains(dom, "<script>document") {
				t.Errorf("%s: the hostile name became markup", path)
			}
			if pg.name != "schedules" && !strings.Contains(dom, "&lt;script&gt;document.title") {
				t.Errorf("%s: the hostile name is not shown as text", path)
			}
		})
	}
}
