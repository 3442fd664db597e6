package serve

import (
	"net/url"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/browsertest"
	"github.com/faultline/faultline/serve/history"
)

// browse opens a page of the running server in headless Chromium and returns the
// screenshot, the DOM as Chromium built it, and every request the page made that did
// not go to the server itself.
func browse(t *testing.T, base, path string) (shot []byte, dom string, outside []string) {
	t.Helper()
	p := browsertest.Open(t, base+path, browsertest.Options{Width: 1200, Height: 1400, DOM: true})
	own := p.RequestsOf("127.0.0.1") // the browser's own background requests are not the page's
	if len(own) == 0 {
		t.Fatalf("the net log holds no request of the page: the check would prove nothing")
	}
	for _, u := range own {
		if !strings.HasPrefix(u, base+"/") {
			outside = append(outside, u)
		}
	}
	return p.Shot, p.DOM, outside
}

func colourful(t *testing.T, shot []byte) {
	t.Helper()
	colours, top := browsertest.Page{Shot: shot}.Colours(t, 3)
	if colours < 8 || top > 0.97 {
		t.Errorf("the page looks blank: %d colours, the commonest covers %.1f%%", colours, 100*top)
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
	// Three runs for the trend. A trigger that comes while the previous run still
	// holds its container is recorded as skipped, under its file's name; the run page
	// shows one that ran, under the experiment's (hostile) name.
	var id string
	for i := 0; i < 3; i++ {
		tid, err := svc.Trigger("a", "manual")
		if err != nil {
			t.Fatal(err)
		}
		if r := recorded(t, svc, tid); r.Status != history.StatusSkipped && r.Experiment == fr.name {
			id = tid
		}
	}
	if id == "" {
		t.Fatal("no run ran: every one was skipped or failed")
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
