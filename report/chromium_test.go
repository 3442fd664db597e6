package report_test

import (
	"bytes"
	"image/png"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/browsertest"
	"github.com/faultline/faultline/report"
)

// pageRequests opens a page in headless Chromium and returns the screenshot and every
// request the page itself made (the browser's own background requests carry no
// file:// isolation key and are left out).
func pageRequests(t *testing.T, html []byte) (shot []byte, requests []string) {
	t.Helper()
	p := browsertest.File(t, html, browsertest.Options{})
	for _, r := range p.Requests {
		if strings.HasPrefix(r.Isolation, "file://") && !strings.HasPrefix(r.URL, "file:") {
			requests = append(requests, r.URL)
		}
	}
	return p.Shot, requests
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
	colours, top := browsertest.Page{Shot: shot}.Colours(t, 2)
	if colours < 20 || top > 0.9 {
		t.Errorf("screenshot looks blank: %d colours, the commonest covers %.0f%%", colours, 100*top)
	}
	b := img.Bounds()
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
