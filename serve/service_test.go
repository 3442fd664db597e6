package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/waitfor"

	"github.com/faultline/faultline/result"
	"github.com/faultline/faultline/serve/gameday"
	"github.com/faultline/faultline/serve/history"
	"github.com/faultline/faultline/serve/notify"
	"github.com/faultline/faultline/serve/schedule"
)

const testToken = "0123456789abcdef0123456789abcdef"

// fakeRunner prepares runs that inject one fault on their targets and hold it until
// released or cancelled, like the runner: cancelling reverts, and the result says
// interrupted.
type fakeRunner struct {
	mu       sync.Mutex
	targets  map[string][]Target // by experiment file base name
	name     string              // experiment name reported
	hold     chan struct{}       // closed: runs end as passed
	started  chan string         // receives the run ID once its fault is injected
	reverted chan string
	// revertFails makes every revert fail, as a revert the Docker Engine refuses.
	revertFails bool
	// scores are the scores of the runs in order of start (100 once used up).
	scores []float64
}

func newFakeRunner() *fakeRunner {
	return &fakeRunner{targets: map[string][]Target{}, hold: make(chan struct{}), started: make(chan string, 10), reverted: make(chan string, 10), name: "pause-one"}
}

func (f *fakeRunner) Prepare(ctx context.Context, req Request) (Prepared, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ts, ok := f.targets[filepath.Base(req.Experiment)]
	if !ok {
		fmt.Fprintln(req.Log, "no such experiment")
		return nil, errors.New("preflight: no container matches")
	}
	if err := req.Claim(ts); err != nil {
		return nil, err
	}
	score := 100.0
	if len(f.scores) > 0 {
		score, f.scores = f.scores[0], f.scores[1:]
	}
	return &fakePrepared{f: f, id: req.RunID, targets: ts, name: f.name, score: score, revertFails: f.revertFails}, nil
}

type fakePrepared struct {
	f           *fakeRunner
	id          string
	name        string
	targets     []Target
	score       float64
	revertFails bool
}

func (p *fakePrepared) Experiment() string { return p.name }
func (p *fakePrepared) Targets() []Target  { return p.targets }
func (p *fakePrepared) Close()             {}

func (p *fakePrepared) Run(ctx context.Context, skip <-chan struct{}, event func(result.Event)) (*result.Result, error) {
	score := p.score
	start := time.Now()
	t := p.targets[0]
	event(result.Event{Type: result.EventInject, Fault: "freeze", Kind: "pause", Target: result.EventTarget{Name: t.Name, ID: t.ID}, Actual: time.Now()})
	p.f.started <- p.id
	res := &result.Result{SchemaVersion: result.SchemaVersion, Experiment: result.Experiment{Name: p.name, Description: "<script>alert('described')</script>"}, StartedAt: start,
		Score: result.Score{Value: &score, Total: 1, Passed: 1}}
	if score < 100 {
		res.Score.Passed = 0
	}
	select {
	case <-p.f.hold:
		res.Status = result.StatusPassed
		if score < 100 {
			res.Status, res.Reason, res.ExitCode = result.StatusFailed, "check error_rate failed", result.ExitCheckFailed
		}
	case <-ctx.Done():
		res.Status, res.Reason, res.ExitCode = result.StatusInterrupted, context.Cause(ctx).Error(), result.ExitAborted
	}
	revert := result.Event{Type: result.EventRevert, Fault: "freeze", Kind: "pause", Target: result.EventTarget{Name: t.Name, ID: t.ID}, Actual: time.Now()}
	if p.revertFails {
		revert.Error = "unpause " + t.Name + ": the engine refused"
		res.Status, res.ExitCode = result.StatusError, result.ExitRevertFailed
		res.Reason = "1 revert(s) failed: the system may still be faulted; run `faultline recover`"
	}
	event(revert)
	p.f.reverted <- p.id
	res.EndedAt = time.Now()
	return res, nil
}

// testService starts a service on a game-day file of two schedules that never fire
// on their own during a test ("a" and "b", both on experiment a.hcl) and one on b.hcl.
func testService(t *testing.T, fr *fakeRunner, recover RecoverFunc, dataDir string) (*Service, *httptest.Server) {
	t.Helper()
	return testServiceWith(t, fr, recover, dataDir, nil)
}

// testServiceWith is testService with the configuration changed by mod first.
func testServiceWith(t *testing.T, fr *fakeRunner, recover RecoverFunc, dataDir string, mod func(*Config)) (*Service, *httptest.Server) {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	yearly, _ := schedule.ParseCron("@yearly")
	mk := func(name, exp string) *gameday.Schedule {
		return &gameday.Schedule{Name: name, Experiment: "/exp/" + exp, Vars: map[string]string{},
			Spec: &schedule.Spec{Name: name, CronText: "@yearly", Cron: yearly, Location: time.UTC, Missed: schedule.MissedSkip}}
	}
	f := &gameday.File{Server: gameday.Server{DataDir: dataDir, Location: time.UTC},
		Schedules: []*gameday.Schedule{mk("a", "a.hcl"), mk("a2", "a.hcl"), mk("b", "b.hcl")}}
	cfg := Config{File: f, Token: testToken, Runner: fr, Recover: recover, Getenv: func(string) string { return "" }}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := svc.Shutdown(ctx, "test over"); err != nil {
			t.Error(err)
		}
	})
	return svc, srv
}

// receiver is a webhook receiver: every notification it got, in order.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	msgs []notify.Message
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m notify.Message
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("a notification is not JSON: %v", err)
		}
		rc.mu.Lock()
		rc.msgs = append(rc.msgs, m)
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// config makes the service notify the receiver of the default events.
func (rc *receiver) config(c *Config) {
	c.File.Notifiers = []*gameday.Notifier{{Kind: "webhook", Name: "oncall", URLEnv: "ONCALL_URL", On: gameday.DefaultEvents}}
	c.Getenv = func(name string) string {
		if name == "ONCALL_URL" {
			return rc.srv.URL + "/hook"
		}
		return ""
	}
}

// wait waits for a notification of event about run and returns it.
func (rc *receiver) wait(t *testing.T, event, run string) notify.Message {
	t.Helper()
	var got notify.Message
	waitFor(t, "a notification "+event+" of run "+run, func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, m := range rc.msgs {
			if m.Event == event && m.Run == run {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.Condition(t, 20*time.Second, what, cond)
}

func recv(t *testing.T, ch chan string, what string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		return ""
	}
}

func recorded(t *testing.T, svc *Service, id string) *history.Run {
	t.Helper()
	var r *history.Run
	waitFor(t, "run "+id+" to be recorded", func() bool {
		var err error
		r, err = svc.Store().Get(id)
		return err == nil
	})
	return r
}

func TestTargetsBusyAndHalt(t *testing.T) {
	t.Parallel()
	fr := newFakeRunner()
	fr.targets["a.hcl"] = []Target{{ID: "c1", Name: "shop-backend-1"}}
	fr.targets["b.hcl"] = []Target{{ID: "c2", Name: "shop-backend-2"}}
	svc, _ := testService(t, fr, nil, "")

	first, err := svc.Trigger("a", "manual")
	if err != nil {
		t.Fatal(err)
	}
	recv(t, fr.started, "the first run's fault")
	// The same container: skipped, naming it and the run that holds it.
	second, _ := svc.Trigger("a2", "manual")
	r := recorded(t, svc, second)
	if r.Status != "skipped" || !strings.Contains(r.Reason, "targets busy: shop-backend-1 (in run "+first+")") {
		t.Errorf("second run on the same container: %s %q", r.Status, r.Reason)
	}
	// Another container: runs beside it.
	third, _ := svc.Trigger("b", "manual")
	recv(t, fr.started, "the third run's fault")
	if got := gauge(t, svc, "faultline_fault_active"); got != 2 {
		t.Errorf("faultline_fault_active sums to %v with two faults injected, want 2", got)
	}

	// HALT reverts both at once and pauses every schedule.
	if n := svc.Halt("test"); n != 2 {
		t.Errorf("HALT reverted %d runs, want 2", n)
	}
	recv(t, fr.reverted, "a revert")
	recv(t, fr.reverted, "a revert")
	for _, id := range []string{first, third} {
		if r := recorded(t, svc, id); r.Status != "interrupted" || !strings.Contains(r.Reason, "halted") {
			t.Errorf("run %s after HALT: %s %q", id, r.Status, r.Reason)
		}
	}
	if got := gauge(t, svc, "faultline_fault_active"); got != 0 {
		t.Errorf("faultline_fault_active sums to %v after HALT, want 0", got)
	}
	for _, v := range svc.Schedules() {
		if !v.Paused {
			t.Errorf("schedule %s not paused by HALT", v.Name)
		}
	}
	if _, err := svc.Trigger("a", "manual"); !errors.Is(err, ErrIsHalted) {
		t.Errorf("run now while halted: %v", err)
	}
	// A scheduled start while paused is recorded as skipped, with the reason.
	svc.onFire(schedule.Fire{Schedule: "b", Nominal: time.Now(), Start: time.Now()})
	runs, _ := svc.Store().List(history.Filter{Schedule: "b"})
	if len(runs) == 0 || runs[0].Status != "skipped" || !strings.Contains(runs[0].Reason, "paused (HALT: test)") {
		t.Errorf("a start while halted: %+v", runs)
	}
	svc.Resume()
	if _, err := svc.Trigger("a", "manual"); err != nil {
		t.Errorf("run now after resume: %v", err)
	}
	recv(t, fr.started, "a run after resume")
	close(fr.hold)
}

func TestBlackoutStartIsRecordedAsSkipped(t *testing.T) {
	t.Parallel()
	fr := newFakeRunner()
	svc, _ := testService(t, fr, nil, "")
	svc.onFire(schedule.Fire{Schedule: "a", Nominal: time.Now(), Start: time.Now(), Skip: "inside the blackout 2026-12-20 to 2027-01-05"})
	runs, _ := svc.Store().List(history.Filter{Schedule: "a"})
	if len(runs) != 1 || runs[0].Status != "skipped" || !strings.Contains(runs[0].Reason, "blackout") {
		t.Fatalf("runs %+v", runs)
	}
	// A run that cannot start is recorded with why, and its log holds it.
	id, _ := svc.Trigger("b", "manual")
	r := recorded(t, svc, id)
	if r.Status != "error" || !strings.Contains(r.Reason, "no container matches") || r.FileHashes["log"] == "" {
		t.Errorf("run that could not start: %+v", r)
	}
}

// TestInterruptedRunIsRecoveredFirst: a run left active by a killed serve is handed
// to the journal recovery before anything else, and recorded as interrupted.
func TestInterruptedRunIsRecoveredFirst(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, err := history.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Begin(history.Active{ID: "killed-run", Schedule: "a", Experiment: "pause-one", Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	recovered := 0
	rec := func(ctx context.Context, w io.Writer) error {
		recovered++
		fmt.Fprintln(w, "recovered 1 fault(s); nothing of ours is left")
		return nil
	}
	rc := newReceiver(t)
	svc, _ := testServiceWith(t, newFakeRunner(), rec, dir, rc.config)
	if recovered != 1 {
		t.Fatalf("recover ran %d times, want once before the service started", recovered)
	}
	r, err := svc.Store().Get("killed-run")
	if err != nil || r.Status != "interrupted" || !strings.Contains(r.Reason, "reverted by the journal recovery") {
		t.Fatalf("the killed run: %+v, %v", r, err)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "runs", "killed-run", "log"))
	if !strings.Contains(string(log), "nothing of ours is left") {
		t.Errorf("the run's log does not say what the recovery did:\n%s", log)
	}
	// On-call hears of it with the default events.
	if m := rc.wait(t, "interrupted", "killed-run"); m.Status != "interrupted" || !strings.Contains(m.Reason, "killed or crashed") {
		t.Errorf("the notification of the killed run: %+v", m)
	}
}

func TestRefusesAnEmptyWebhookURL(t *testing.T) {
	t.Parallel()
	f := &gameday.File{Server: gameday.Server{DataDir: t.TempDir(), Location: time.UTC},
		Notifiers: []*gameday.Notifier{{Kind: "webhook", Name: "oncall", URLEnv: "ONCALL_URL", On: []string{"failed"}}}}
	_, err := New(Config{File: f, Token: testToken, Runner: newFakeRunner(), Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "ONCALL_URL is empty") {
		t.Errorf("New with an unset webhook URL: %v", err)
	}
}

func TestLoadToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	if _, err := LoadToken(path); err == nil || !strings.Contains(err.Error(), "openssl rand") {
		t.Errorf("missing token file: %v", err)
	}
	os.WriteFile(path, []byte(testToken+"\n"), 0o644)
	_, err := LoadToken(path)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), testToken) {
		t.Errorf("a token file readable by others: %v", err)
	}
	os.Chmod(path, 0o600)
	if tok, err := LoadToken(path); err != nil || tok != testToken {
		t.Errorf("a good token file: %q, %v", tok, err)
	}
	os.WriteFile(path, []byte("short"), 0o600)
	if _, err := LoadToken(path); err == nil || strings.Contains(err.Error(), "short") {
		t.Errorf("a short token: %v", err)
	}
}

// gauge sums a metric family's values from /metrics.
func gauge(t *testing.T, svc *Service, name string) float64 {
	t.Helper()
	mfs, err := svc.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			}
		}
	}
	return sum
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 20 * time.Second}

func TestAuth(t *testing.T) {
	t.Parallel()
	fr := newFakeRunner()
	fr.targets["a.hcl"] = []Target{{ID: "c1", Name: "shop-backend-1"}}
	close(fr.hold)
	svc, srv := testService(t, fr, nil, "")

	type call struct {
		path      string
		api       bool
		wantOK    int
		wantState func() bool
	}
	calls := []call{
		{path: "/schedules/a/pause", wantOK: http.StatusSeeOther},
		{path: "/schedules/a/resume", wantOK: http.StatusSeeOther},
		{path: "/schedules/b/run", wantOK: http.StatusSeeOther},
		{path: "/halt", wantOK: http.StatusSeeOther},
		{path: "/resume", wantOK: http.StatusSeeOther},
		{path: "/logout", wantOK: http.StatusSeeOther},
		{path: "/api/schedules/a/pause", api: true, wantOK: http.StatusOK},
		{path: "/api/schedules/a/resume", api: true, wantOK: http.StatusOK},
		{path: "/api/schedules/a/trigger", api: true, wantOK: http.StatusAccepted},
		{path: "/api/halt", api: true, wantOK: http.StatusOK},
		{path: "/api/resume", api: true, wantOK: http.StatusOK},
	}
	post := func(path string, form url.Values, hdr map[string]string) int {
		return postForm(t, srv.URL+path, form, hdr).StatusCode
	}
	for _, c := range calls {
		id := svc.auth.open() // a session of its own: /logout ends the one it is sent with
		cookie := sessionCookie + "=" + id
		csrf := url.Values{"csrf": {svc.auth.csrf(id)}}
		if got := post(c.path, nil, nil); got != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401", c.path, got)
		}
		if got := post(c.path, csrf, map[string]string{"Authorization": "Bearer wrong", "Cookie": sessionCookie + "=wrong"}); got != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d, want 401", c.path, got)
		}
		// A cross-site form post carrying the session (as an old browser might) is refused.
		if got := post(c.path, csrf, map[string]string{"Cookie": cookie, "Authorization": "Bearer " + testToken, "Sec-Fetch-Site": "cross-site"}); got != http.StatusForbidden {
			t.Errorf("%s cross-site: %d, want 403", c.path, got)
		}
		if got := post(c.path, csrf, map[string]string{"Cookie": cookie, "Origin": "https://evil.example"}); got != http.StatusForbidden {
			t.Errorf("%s from another origin: %d, want 403", c.path, got)
		}
		if !c.api {
			if got := post(c.path, nil, map[string]string{"Cookie": cookie}); got != http.StatusForbidden {
				t.Errorf("%s with the session but no CSRF token: %d, want 403", c.path, got)
			}
			if got := post(c.path, csrf, map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "same-origin"}); got != c.wantOK {
				t.Errorf("%s logged in: %d, want %d", c.path, got, c.wantOK)
			}
		} else {
			// The API takes the bearer token, not the cookie.
			if got := post(c.path, nil, map[string]string{"Cookie": cookie}); got != http.StatusUnauthorized {
				t.Errorf("%s with only the cookie: %d, want 401", c.path, got)
			}
			if got := post(c.path, nil, map[string]string{"Authorization": "Bearer " + testToken}); got != c.wantOK {
				t.Errorf("%s with the bearer token: %d, want %d", c.path, got, c.wantOK)
			}
		}
	}
	// Logging in: a wrong token is 401; the right one sets an HttpOnly cookie that is
	// not the token.
	if got := post("/login", url.Values{"token": {"nope"}}, nil); got != http.StatusUnauthorized {
		t.Errorf("login with a wrong token: %d", got)
	}
	// After logging in, next leads only to a path of this server: browsers drop tabs
	// and newlines and read a backslash as a slash, so each of these would leave it.
	for next, want := range map[string]string{
		"/runs/r1?x=1":         "/runs/r1?x=1",
		"":                     "/schedules",
		"//evil.example":       "/schedules",
		"/\t/evil.example":     "/schedules",
		"/\n/evil.example":     "/schedules",
		"/\r\n/evil.example":   "/schedules",
		"\t//evil.example":     "/schedules",
		"/ /evil.example":      "/schedules",
		"/\\evil.example":      "/schedules",
		"/%2F/evil.example":    "/schedules",
		"/%5C/evil.example":    "/schedules",
		"https://evil.example": "/schedules",
		"https:/evil.example":  "/schedules",
		"javascript:alert(1)":  "/schedules",
		"evil.example":         "/schedules",
		"/\u00a0/evil.example": "/schedules",
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/login", strings.NewReader(url.Values{"token": {testToken}, "next": {next}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		set := resp.Header.Get("Set-Cookie")
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(set, "HttpOnly") || !strings.Contains(set, "SameSite=Strict") || strings.Contains(set, testToken) {
			t.Errorf("login: %d, Set-Cookie %q", resp.StatusCode, set)
		}
		if loc := resp.Header.Get("Location"); loc != want {
			t.Errorf("login with next=%q redirected to %q, want %q", next, loc, want)
		}
		// The login page carries next into its form the same way.
		resp, err = http.Get(srv.URL + "/login?next=" + url.QueryEscape(next))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `name="next" value="`+want+`"`) {
			t.Errorf("login page with next=%q does not carry %q on", next, want)
		}
	}
	// Reads need no token.
	for _, path := range []string{"/", "/schedules", "/api/runs", "/api/schedules", "/metrics", "/login"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
}

// postForm posts form to u with the headers, following no redirect, and returns the
// response with its body closed.
func postForm(t *testing.T, u string, form url.Values, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestSessionsEndOnTheServer: a login's cookie is a session this serve keeps: it no
// longer works after logout or after its life, even when a browser sends it again;
// one session's CSRF token does not pass with another; and the cookie is Secure when
// the browser came over TLS through a proxy that says so.
func TestSessionsEndOnTheServer(t *testing.T) {
	t.Parallel()
	svc, srv := testService(t, newFakeRunner(), nil, "")
	do := func(path string, form url.Values, hdr map[string]string) *http.Response {
		t.Helper()
		return postForm(t, srv.URL+path, form, hdr)
	}
	login := func(hdr map[string]string) (cookie, csrf string, set string) {
		t.Helper()
		resp := do("/login", url.Values{"token": {testToken}}, hdr)
		for _, c := range resp.Cookies() {
			if c.Name == sessionCookie {
				return sessionCookie + "=" + c.Value, svc.auth.csrf(c.Value), resp.Header.Get("Set-Cookie")
			}
		}
		t.Fatalf("login set no session cookie: %d %v", resp.StatusCode, resp.Header)
		return "", "", ""
	}
	pause := func(cookie, csrf string) int {
		return do("/schedules/a/pause", url.Values{"csrf": {csrf}}, map[string]string{"Cookie": cookie}).StatusCode
	}

	a, csrfA, set := login(nil)
	b, csrfB, _ := login(nil)
	if a == b || strings.Contains(set, "Secure") {
		t.Errorf("two logins: %q and %q, Set-Cookie %q: want two sessions, not Secure over plain HTTP", a, b, set)
	}
	if got := pause(a, csrfA); got != http.StatusSeeOther {
		t.Errorf("a session's form: %d, want 303", got)
	}
	if got := pause(a, csrfB); got != http.StatusForbidden {
		t.Errorf("a form with another session's CSRF token: %d, want 403", got)
	}
	if got := do("/logout", url.Values{"csrf": {csrfA}}, map[string]string{"Cookie": a}).StatusCode; got != http.StatusSeeOther {
		t.Fatalf("logout: %d", got)
	}
	if got := pause(a, csrfA); got != http.StatusUnauthorized {
		t.Errorf("the cookie sent again after logout: %d, want 401", got)
	}
	if got := pause(b, csrfB); got != http.StatusSeeOther {
		t.Errorf("the other session after one logged out: %d, want 303", got)
	}
	// Past its life the session is over, whatever the browser keeps.
	svc.auth.mu.Lock()
	svc.auth.now = func() time.Time { return time.Now().Add(sessionLife + time.Minute) }
	svc.auth.mu.Unlock()
	if got := pause(b, csrfB); got != http.StatusUnauthorized {
		t.Errorf("a session past its life: %d, want 401", got)
	}
	svc.auth.mu.Lock()
	svc.auth.now = time.Now
	svc.auth.mu.Unlock()
	if _, _, set := login(map[string]string{"X-Forwarded-Proto": "https"}); !strings.Contains(set, "Secure") {
		t.Errorf("login through a TLS proxy: Set-Cookie %q, want Secure", set)
	}
}

// TestHostileTextIsEscaped: names and reasons that come from experiments are text.
func TestHostileTextIsEscaped(t *testing.T) {
	t.Parallel()
	fr := newFakeRunner()
	fr.name = `<script>alert("x")</script>`
	fr.targets["a.hcl"] = []Target{{ID: "c1", Name: `<img src=x onerror=alert(1)>`}}
	close(fr.hold)
	svc, srv := testService(t, fr, nil, "")
	id, _ := svc.Trigger("a", "manual")
	recorded(t, svc, id)
	for _, path := range []string{"/", "/runs/" + id, "/experiments/" + url.PathEscape(fr.name)} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
		if strings.Contains(string(body), "<script>") || strings.Contains(string(body), "<img src=x") {
			t.Errorf("GET %s: hostile text reached the page as markup", path)
		}
		if !strings.Contains(string(body), "&lt;script&gt;") {
			t.Errorf("GET %s: the hostile name is not shown as text", path)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
}

// TestShutdownReportsAFailedRevert: a run stopped by Shutdown (SIGTERM) whose revert
// fails makes Shutdown fail, naming the run and saying to run faultline recover.
func TestShutdownReportsAFailedRevert(t *testing.T) {
	t.Parallel()
	fr := newFakeRunner()
	fr.targets["a.hcl"] = []Target{{ID: "c1", Name: "shop-backend-1"}}
	fr.targets["b.hcl"] = []Target{{ID: "c2", Name: "shop-backend-2"}}
	fr.revertFails = true
	svc, _ := testService(t, fr, nil, "")
	failing, _ := svc.Trigger("a", "manual")
	recv(t, fr.started, "the run's fault")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := svc.Shutdown(ctx, "terminated")
	if !errors.Is(err, ErrRevertFailed) || !strings.Contains(err.Error(), failing) || !strings.Contains(err.Error(), "faultline recover") {
		t.Fatalf("Shutdown after a failed revert: %v", err)
	}
}

// TestShutdownSucceedsWhenEveryRevertDoes: Shutdown's error is only for what is left.
func TestShutdownSucceedsWhenEveryRevertDoes(t *testing.T) {
	t.Parallel()
	fr := newFakeRunner()
	fr.targets["a.hcl"] = []Target{{ID: "c1", Name: "shop-backend-1"}}
	svc, _ := testService(t, fr, nil, "")
	svc.Trigger("a", "manual")
	recv(t, fr.started, "the run's fault")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := svc.Shutdown(ctx, "terminated"); err != nil {
		t.Fatalf("Shutdown after every run was reverted: %v", err)
	}
}

// TestOneExperimentOneName: the runs of a schedule are recorded under its experiment's
// name whether they ran or not, so its page, filter, trends and metrics are one.
func TestOneExperimentOneName(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.hcl"), []byte("experiment \"pause-one\" {\n  baseline = \"1s\"\n}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "gameday.hcl"), []byte(`
server {
  token_file = "token"
  data_dir   = "history"
}

schedule "a" {
  experiment = "a.hcl"
  cron       = "@yearly"
}
`), 0o644)
	f, _, diags := gameday.Load(filepath.Join(dir, "gameday.hcl"), gameday.Options{Getenv: func(string) string { return "" }})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	fr := newFakeRunner()
	fr.targets["a.hcl"] = []Target{{ID: "c1", Name: "shop-backend-1"}}
	close(fr.hold)
	svc, _ := testServiceWith(t, fr, nil, "", func(c *Config) {
		f.Server.DataDir = c.File.Server.DataDir
		c.File = f
	})
	svc.onFire(schedule.Fire{Schedule: "a", Nominal: time.Now(), Start: time.Now(), Skip: "inside the blackout 2026-12-20 to 2027-01-05"})
	ran, _ := svc.Trigger("a", "manual")
	if r := recorded(t, svc, ran); r.Status != "passed" {
		t.Fatalf("the run: %+v", r)
	}
	runs, _ := svc.Store().List(history.Filter{Schedule: "a"})
	if len(runs) != 2 {
		t.Fatalf("%d runs, want a skipped one and a passed one", len(runs))
	}
	for _, r := range runs {
		if r.Experiment != "pause-one" {
			t.Errorf("%s run recorded under experiment %q, want pause-one", r.Status, r.Experiment)
		}
	}
	if names, _ := svc.Store().Experiments(); len(names) != 1 {
		t.Errorf("experiments in the history: %q, want one", names)
	}
	if v := svc.Schedules()[0]; v.Experiment != "pause-one" {
		t.Errorf("the schedule shows experiment %q, want pause-one", v.Experiment)
	}
	mfs, _ := svc.metrics.registry.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "experiment" && l.GetValue() != "pause-one" {
					t.Errorf("%s has experiment=%q, want pause-one", mf.GetName(), l.GetValue())
				}
			}
		}
	}
}

func shutdown(t *testing.T, svc *Service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := svc.Shutdown(ctx, "restart"); err != nil {
		t.Fatal(err)
	}
}

func pausedSchedules(svc *Service) (paused, byHand []string) {
	for _, v := range svc.Schedules() {
		if v.Paused {
			paused = append(paused, v.Name)
		}
		if v.PausedByHand {
			byHand = append(byHand, v.Name)
		}
	}
	return paused, byHand
}

// TestHaltHoldsAcrossRestartsAndKeepsHandPauses: a HALT holds after a restart (run
// now refused, faultline_halted 1) until resumed, and resuming lifts the HALT only: a
// schedule paused by hand stays paused, also after the next restart.
func TestHaltHoldsAcrossRestartsAndKeepsHandPauses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fr := newFakeRunner()
	fr.targets["b.hcl"] = []Target{{ID: "c2", Name: "shop-backend-2"}}
	close(fr.hold)
	first, _ := testService(t, fr, nil, dir)
	if err := first.SetPaused("a", true, "the backend is being migrated"); err != nil {
		t.Fatal(err)
	}
	first.Halt("incident 42")
	shutdown(t, first)

	svc, _ := testService(t, fr, nil, dir)
	if got := svc.Halted(); got != "incident 42" {
		t.Fatalf("after a restart, halted is %q, want the HALT's reason", got)
	}
	if _, err := svc.Trigger("b", "manual"); !errors.Is(err, ErrIsHalted) {
		t.Errorf("run now after a restart while halted: %v", err)
	}
	if got := gauge(t, svc, "faultline_halted"); got != 1 {
		t.Errorf("faultline_halted after a restart while halted: %v", got)
	}
	svc.onFire(schedule.Fire{Schedule: "b", Nominal: time.Now(), Start: time.Now()})
	runs, _ := svc.Store().List(history.Filter{Schedule: "b"})
	if len(runs) != 1 || runs[0].Status != "skipped" || !strings.Contains(runs[0].Reason, "HALT: incident 42") {
		t.Errorf("a start after a restart while halted: %+v", runs)
	}
	paused, byHand := pausedSchedules(svc)
	if strings.Join(paused, ",") != "a,a2,b" || strings.Join(byHand, ",") != "a" {
		t.Errorf("while halted: paused %v, by hand %v", paused, byHand)
	}

	svc.Resume()
	paused, byHand = pausedSchedules(svc)
	if strings.Join(paused, ",") != "a" || strings.Join(byHand, ",") != "a" {
		t.Errorf("after resume: paused %v (by hand %v), want only a, paused by hand", paused, byHand)
	}
	if got := gauge(t, svc, "faultline_schedule_paused"); got != 1 {
		t.Errorf("faultline_schedule_paused sums to %v after resume, want 1", got)
	}
	id, err := svc.Trigger("b", "manual")
	if err != nil {
		t.Fatalf("run now after resume: %v", err)
	}
	recorded(t, svc, id)
	shutdown(t, svc)

	again, _ := testService(t, fr, nil, dir)
	paused, _ = pausedSchedules(again)
	if again.Halted() != "" || strings.Join(paused, ",") != "a" {
		t.Errorf("after resume and a restart: halted %q, paused %v", again.Halted(), paused)
	}
}

// TestHaltFromAnOlderHistory: a history written before HALT was kept on its own has
// every schedule paused with "HALT: why"; that is read as the HALT, not as pauses by
// hand that Resume would leave.
func TestHaltFromAnOlderHistory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, err := history.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "a2", "b"} {
		store.SetPaused(name, true, "HALT: halted through the API")
	}
	store.Close()
	svc, _ := testService(t, newFakeRunner(), nil, dir)
	if got := svc.Halted(); got != "halted through the API" {
		t.Errorf("halted %q", got)
	}
	svc.Resume()
	if paused, _ := pausedSchedules(svc); len(paused) != 0 {
		t.Errorf("after resume, still paused: %v", paused)
	}
}

// TestMissedStartsAfterARestart: serve started after three days down catches up by
// each schedule's missed policy, from the last start its history remembers: run_once
// runs once (trigger catch-up), skip records one skipped run saying what was missed.
func TestMissedStartsAfterARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, err := history.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	down := time.Now().Add(-72 * time.Hour)
	for _, name := range []string{"a", "b"} {
		if err := store.SetLastNominal(name, down); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	fr := newFakeRunner()
	fr.targets["a.hcl"] = []Target{{ID: "c1", Name: "shop-backend-1"}}
	fr.targets["b.hcl"] = []Target{{ID: "c2", Name: "shop-backend-2"}}
	close(fr.hold)
	daily, _ := schedule.ParseCron("@daily")
	svc, _ := testServiceWith(t, fr, nil, dir, func(c *Config) {
		for _, sc := range c.File.Schedules {
			sc.Spec.CronText, sc.Spec.Cron = "@daily", daily
		}
		c.File.Schedules[0].Spec.Missed = schedule.MissedRunOnce
	})
	var a, b []history.Run
	waitFor(t, "the catch-up of both schedules to be recorded", func() bool {
		a, _ = svc.Store().List(history.Filter{Schedule: "a"})
		b, _ = svc.Store().List(history.Filter{Schedule: "b"})
		return len(a) > 0 && len(b) > 0 && a[0].Status != "" && a[0].Status != "running"
	})
	if len(a) != 1 || a[0].Trigger != "catch-up" || a[0].Status != "passed" {
		t.Errorf("run_once after three missed days: %+v, want one catch-up run that ran", a)
	}
	if len(b) != 1 || b[0].Status != "skipped" || !strings.Contains(b[0].Reason, "3 start(s) missed") || !strings.Contains(b[0].Reason, `missed = "skip"`) {
		t.Errorf("skip after three missed days: %+v, want one skipped run naming the 3 missed starts", b)
	}
	if runs, _ := svc.Store().List(history.Filter{Schedule: "a2"}); len(runs) != 0 {
		t.Errorf("a schedule with no remembered start caught up: %+v", runs)
	}
}

// TestRegressionIsMarkedAndNotified: a run whose score drops against the last passing
// run of its schedule is marked regressed, saying against which run and how, and
// on-call hears of it as regressed.
func TestRegressionIsMarkedAndNotified(t *testing.T) {
	t.Parallel()
	fr := newFakeRunner()
	fr.targets["a.hcl"] = []Target{{ID: "c1", Name: "shop-backend-1"}}
	fr.scores = []float64{100, 50}
	close(fr.hold)
	rc := newReceiver(t)
	svc, _ := testServiceWith(t, fr, nil, "", rc.config)

	first, _ := svc.Trigger("a", "manual")
	if r := recorded(t, svc, first); r.Status != "passed" || r.Regressed {
		t.Fatalf("the first run: %+v", r)
	}
	second, _ := svc.Trigger("a", "manual")
	r := recorded(t, svc, second)
	if !r.Regressed || !strings.Contains(r.Regression, "against run "+first) || !strings.Contains(r.Regression, "score dropped by 50 points") {
		t.Errorf("the run that scored 50 after 100: regressed %v, %q", r.Regressed, r.Regression)
	}
	m := rc.wait(t, "regressed", second)
	if !strings.Contains(m.Text, "REGRESSED") || !strings.Contains(m.Text, "score dropped by 50 points") || m.Score == nil || *m.Score != 50 {
		t.Errorf("the regressed notification: %+v", m)
	}
	rc.wait(t, "failed", second)
	// One worker delivers in order: everything about the first run came before.
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, m := range rc.msgs {
		if m.Run == first {
			t.Errorf("the passing first run was notified: %+v", m)
		}
	}
}

// TestScheduleRegressionLimits: a schedule's max_score_drop replaces serve's default:
// a drop of 50 points within a limit of 60 is no regression.
func TestScheduleRegressionLimits(t *testing.T) {
	t.Parallel()
	fr := newFakeRunner()
	fr.targets["a.hcl"] = []Target{{ID: "c1", Name: "shop-backend-1"}}
	fr.scores = []float64{100, 50}
	close(fr.hold)
	limit := 60.0
	svc, _ := testServiceWith(t, fr, nil, "", func(c *Config) { c.File.Schedules[0].MaxScoreDrop = &limit })
	first, _ := svc.Trigger("a", "manual")
	recorded(t, svc, first)
	second, _ := svc.Trigger("a", "manual")
	if r := recorded(t, svc, second); r.Regressed || r.Score == nil || *r.Score != 50 {
		t.Errorf("a drop of 50 points with max_score_drop = 60: %+v, want no regression", r)
	}
}

// TestATargetIsListedOnce: a container that two target blocks select is one target of
// the run in the history.
func TestATargetIsListedOnce(t *testing.T) {
	t.Parallel()
	fr := newFakeRunner()
	backend := Target{ID: "c1", Name: "shop-backend-1"}
	fr.targets["a.hcl"] = []Target{backend, {ID: "c2", Name: "shop-frontend"}, backend}
	close(fr.hold)
	svc, _ := testService(t, fr, nil, "")
	id, _ := svc.Trigger("a", "manual")
	if r := recorded(t, svc, id); strings.Join(r.Targets, ",") != "shop-backend-1,shop-frontend" {
		t.Errorf("targets %v, want each container once", r.Targets)
	}
}

// TestRevertFailedIsNotified: a run that could not revert a fault is recorded with
// exit 4 and on-call hears of it as revert_failed.
func TestRevertFailedIsNotified(t *testing.T) {
	t.Parallel()
	fr := newFakeRunner()
	fr.targets["a.hcl"] = []Target{{ID: "c1", Name: "shop-backend-1"}}
	fr.revertFails = true
	close(fr.hold)
	rc := newReceiver(t)
	svc, _ := testServiceWith(t, fr, nil, "", func(c *Config) {
		rc.config(c)
		c.File.Server.PublicURL = "https://faultline.example/gameday"
	})
	id, _ := svc.Trigger("a", "manual")
	if r := recorded(t, svc, id); r.ExitCode != result.ExitRevertFailed || r.Status != "error" {
		t.Errorf("the run whose revert failed: %+v", r)
	}
	m := rc.wait(t, "revert_failed", id)
	if !strings.Contains(m.Text, "REVERT_FAILED") || !strings.Contains(m.Reason, "faultline recover") || m.URL != "https://faultline.example/gameday/runs/"+id {
		t.Errorf("the revert_failed notification: %+v", m)
	}
	rc.wait(t, "error", id)
}
