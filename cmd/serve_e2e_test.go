package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/waitfor"

	"github.com/faultline/faultline/internal/dockertest"
	"github.com/faultline/faultline/internal/promtest"
	"github.com/faultline/faultline/serve/notify"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func eventually(t *testing.T, timeout time.Duration, what string, out *syncBuf, cond func() bool) {
	t.Helper()
	waitfor.Condition(t, timeout, what, cond, out)
}

type apiRun struct {
	ID, Schedule, Status, Reason string
	Files                        map[string]string
}

func apiRuns(t *testing.T, base string) []apiRun {
	t.Helper()
	resp, err := http.Get(base + "/api/runs")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var body struct{ Runs []apiRun }
	json.NewDecoder(resp.Body).Decode(&body)
	return body.Runs
}

func apiPost(t *testing.T, base, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestServeEndToEnd runs faultline serve against the real Docker Engine and a real
// Prometheus (which scrapes serve's own /metrics): two schedules on one container
// every few seconds (runs, and skips for busy targets), the history with reports,
// the counters, HALT during a fault, kill -9 during a fault and the restart, and
// SIGTERM.
func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	bin := buildFaultline(t)
	img := dockertest.Image(t, cli, dockertest.Sleeper)
	short := dockertest.Run(t, cli, dockertest.RunOptions{Name: "serve-short", Image: img})
	long := dockertest.Run(t, cli, dockertest.RunOptions{Name: "serve-long", Image: img})
	dockertest.WaitLog(t, cli, short.ID, "ready")
	dockertest.WaitLog(t, cli, long.ID, "ready")

	addr := freePort(t)
	prom := promtest.Start(t, promtest.Options{Targets: []string{addr}})
	dir := t.TempDir()
	token := "0123456789abcdef0123456789abcdef"
	os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600)
	experiment := func(name, target, pause string) {
		src := fmt.Sprintf(`
experiment %q {
  description = "<script>alert('described')</script>"
  baseline    = "2s"
  recovery    = "2s"
  step        = "1s"
}

prometheus {
  url = %q
}

target "app" {
  name = "^%s$"
}

fault "pause" "freeze" {
  target   = target.app
  duration = %q
}

metric "serve_up" {
  query = "up{job=\"faultline-test\"}"
}

check "serve_is_scraped" {
  metric = metric.serve_up
  above  = 0.5
}
`, name, prom.URL, target, pause)
		os.WriteFile(filepath.Join(dir, name+".hcl"), []byte(src), 0o600)
	}
	experiment("short", short.Name, "2s")
	experiment("long", long.Name, "5m")
	os.WriteFile(filepath.Join(dir, "gameday.hcl"), []byte(`
server {
  token_file = "token"
  data_dir   = "history"
  time_zone  = "Europe/Berlin"
}

schedule "short" {
  experiment = "short.hcl"
  cron       = "@every 10s"
}

schedule "short-twin" {
  experiment = "short.hcl"
  cron       = "@every 10s"
}

schedule "long" {
  experiment = "long.hcl"
  cron       = "@yearly"
}

notify "webhook" "oncall" {
  url_env    = "FAULTLINE_TEST_WEBHOOK_URL"
  secret_env = "FAULTLINE_TEST_WEBHOOK_SECRET"
  on         = ["interrupted"]
}
`), 0o600)
	// The on-call webhook: a real HTTP server on loopback that keeps what it is sent.
	const secret = "webhook-secret-for-the-test"
	type delivery struct {
		event string
		valid bool
		msg   struct{ Text string }
	}
	var hookMu sync.Mutex
	var deliveries []delivery
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d := delivery{event: r.Header.Get(notify.EventHeader),
			valid: r.Header.Get(notify.SignatureHeader) == notify.Sign([]byte(secret), r.Header.Get(notify.TimestampHeader), body)}
		json.Unmarshal(body, &d.msg)
		hookMu.Lock()
		deliveries = append(deliveries, d)
		hookMu.Unlock()
	}))
	t.Cleanup(hook.Close)
	hookEnv := []string{"FAULTLINE_TEST_WEBHOOK_URL=" + hook.URL, "FAULTLINE_TEST_WEBHOOK_SECRET=" + secret}
	state := filepath.Join(dir, "state")
	base := "http://" + addr
	start := func() (*exec.Cmd, *syncBuf) {
		t.Helper()
		cmd, out := startRunEnv(t, bin, hookEnv, "serve", "--state-dir", state, "--listen", addr, filepath.Join(dir, "gameday.hcl"))
		eventually(t, 30*time.Second, "serve to listen", out, func() bool { return strings.Contains(out.String(), "listening on") })
		return cmd, out
	}
	serve, out := start()
	if strings.Contains(out.String(), token) {
		t.Errorf("serve printed the token:\n%s", out)
	}

	// Two runs of the short experiment, with their reports; its twin, due at the same
	// instants on the same container, is skipped with the container's name.
	var runs []apiRun
	eventually(t, 90*time.Second, "two recorded runs of the short experiment and a busy skip", out, func() bool {
		runs = apiRuns(t, base)
		done, busy := 0, 0
		for _, r := range runs {
			if r.Status == "passed" || r.Status == "failed" {
				done++
			}
			if r.Status == "skipped" && strings.Contains(r.Reason, "targets busy: "+short.Name) {
				busy++
			}
		}
		return done >= 2 && busy >= 1
	})
	for _, r := range runs {
		if r.Status != "passed" && r.Status != "failed" {
			continue
		}
		if r.Status != "passed" {
			t.Errorf("run %s: %s %s", r.ID, r.Status, r.Reason)
		}
		if r.Files["result.json"] == "" || r.Files["report.html"] == "" || r.Files["log"] == "" {
			t.Errorf("run %s lacks files: %v", r.ID, r.Files)
		}
		if page := httpGet(t, base+"/runs/"+r.ID+"/report.html"); !strings.Contains(page, "&lt;script&gt;") {
			t.Errorf("run %s: the report does not show the description as text", r.ID)
		}
	}
	metrics := httpGet(t, base+"/metrics")
	for _, want := range []string{`faultline_runs_total{experiment="short",schedule="short`, `status="passed"}`, `faultline_last_score{experiment="short"} 100`,
		`faultline_schedule_next_start_timestamp_seconds{experiment="long",schedule="long"}`, "faultline_run_duration_seconds_count"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	prom.WaitForSamples(t, `faultline_runs_total{status="passed"}`, 30*time.Second)

	// HALT during a fault reverts it at once.
	if code := apiPost(t, base, "/api/schedules/long/trigger", token); code != http.StatusAccepted {
		t.Fatalf("trigger: %d", code)
	}
	dockertest.Wait(t, cli, long.ID, "paused by the long run", dockertest.Paused)
	eventually(t, 10*time.Second, "faultline_fault_active for the long run", out, func() bool {
		return strings.Contains(httpGet(t, base+"/metrics"), `faultline_fault_active{experiment="long",fault="freeze",kind="pause",target="`+long.Name+`"} 1`)
	})
	halted := time.Now()
	if code := apiPost(t, base, "/api/halt", token); code != http.StatusOK {
		t.Fatalf("halt: %d", code)
	}
	eventually(t, 10*time.Second, "HALT to unpause the container", out, func() bool { return !dockertest.Paused(dockertest.Inspect(t, cli, long.ID)) })
	took := time.Since(halted)
	t.Logf("HALT to the container running again: %s", took)
	if took > 2*time.Second {
		t.Errorf("HALT took %s to revert the pause, want about a second at most", took)
	}
	eventually(t, 30*time.Second, "the halted run in the history", out, func() bool {
		for _, r := range apiRuns(t, base) {
			if r.Schedule == "long" && r.Status == "interrupted" && strings.Contains(r.Reason, "halted") {
				return true
			}
		}
		return false
	})
	if !strings.Contains(httpGet(t, base+"/api/schedules"), `"paused": true`) {
		t.Error("HALT did not pause the schedules")
	}
	// The interrupted run reached the on-call webhook, signed, with a chat text.
	eventually(t, 30*time.Second, "the webhook to be told of the interrupted run", out, func() bool {
		hookMu.Lock()
		defer hookMu.Unlock()
		for _, d := range deliveries {
			if d.event == "interrupted" {
				if !d.valid || !strings.Contains(d.msg.Text, "long") {
					t.Errorf("webhook delivery: signature valid %v, text %q; want a valid signature and a text naming the experiment", d.valid, d.msg.Text)
				}
				return true
			}
		}
		return false
	})
	if strings.Contains(out.String(), hook.URL) || strings.Contains(out.String(), secret) {
		t.Errorf("serve printed the webhook's URL or secret:\n%s", out)
	}

	// kill -9 during a fault: the next start reverts it before anything else and
	// records the run as interrupted.
	apiPost(t, base, "/api/resume", token)
	apiPost(t, base, "/api/schedules/short/pause", token)
	apiPost(t, base, "/api/schedules/short-twin/pause", token)
	eventually(t, 60*time.Second, "the short schedules to be idle", out, func() bool {
		return !strings.Contains(httpGet(t, base+"/api/schedules"), `"running"`)
	})
	if code := apiPost(t, base, "/api/schedules/long/trigger", token); code != http.StatusAccepted {
		t.Fatalf("trigger: %d", code)
	}
	dockertest.Wait(t, cli, long.ID, "paused by the second long run", dockertest.Paused)
	if err := serve.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	serve.Wait()
	if !dockertest.Paused(dockertest.Inspect(t, cli, long.ID)) {
		t.Fatal("the container is not paused after kill -9: nothing is left to recover, the test proves nothing")
	}
	serve, out = start()
	if dockertest.Paused(dockertest.Inspect(t, cli, long.ID)) {
		t.Errorf("serve listens again while the killed run's pause is still in place:\n%s", out)
	}
	newest := apiRuns(t, base)
	if len(newest) == 0 || newest[0].Schedule != "long" || newest[0].Status != "interrupted" || !strings.Contains(newest[0].Reason, "journal recovery") {
		t.Errorf("the newest run after the restart is %+v, want the killed run, interrupted", newest[:min(1, len(newest))])
	}
	// The restarted service shows the last score it had recorded, not nothing.
	if m := httpGet(t, base+"/metrics"); !strings.Contains(m, `faultline_last_score{experiment="short"} 100`) {
		t.Errorf("after the restart /metrics lacks the short experiment's last score")
	}

	// SIGTERM: exit 0 once clean; the history verifies.
	serve.Process.Signal(syscall.SIGTERM)
	if code := exitCode(t, serve.Wait()); code != 0 {
		t.Errorf("serve exited %d on SIGTERM, want 0\n%s", code, out)
	}
	verify := exec.Command(bin, "serve", "verify", filepath.Join(dir, "gameday.hcl"))
	vout, err := verify.CombinedOutput()
	if err != nil || !strings.Contains(string(vout), "history intact") {
		t.Errorf("verify: %v\n%s", err, vout)
	}
	os.WriteFile(filepath.Join(dir, "history", "runs", runs[len(runs)-1].ID, "log"), []byte("edited"), 0o640)
	vout, err = exec.Command(bin, "serve", "verify", filepath.Join(dir, "gameday.hcl")).CombinedOutput()
	if exitCode(t, err) != 1 || !strings.Contains(string(vout), "log was changed") {
		t.Errorf("verify after an edit: %v\n%s", err, vout)
	}
}
