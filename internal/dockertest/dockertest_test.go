package dockertest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

func TestUniqueNameIsSafeAndPrefixed(t *testing.T) {
	t.Parallel()
	tests := []struct{ hint, wantStart string }{
		{"", Prefix + "testuniquenameissafeandprefixed-"},
		{"Shop/Backend 1", Prefix + "shop-backend-1-"},
		{"///", Prefix + "x-"},
	}
	for _, tt := range tests {
		got := UniqueName(t, tt.hint)
		if !strings.HasPrefix(got, tt.wantStart) {
			t.Errorf("UniqueName(%q) = %q, want prefix %q", tt.hint, got, tt.wantStart)
		}
		if unsafeName.MatchString(got) {
			t.Errorf("UniqueName(%q) = %q has characters Docker refuses", tt.hint, got)
		}
	}
	if a, b := UniqueName(t, "x"), UniqueName(t, "x"); a == b {
		t.Errorf("two names for the same hint are equal: %q", a)
	}
}

// TestSleeperLifecycle exercises every helper against the real engine: image build,
// network, run, wait on state and on output, and the sleeper's signal reports.
func TestSleeperLifecycle(t *testing.T) {
	cli := Client(t)
	img := Image(t, cli, Sleeper)
	if !strings.HasPrefix(img, Prefix+"sleeper:") {
		t.Fatalf("image tag %q does not start with %ssleeper:", img, Prefix)
	}
	if again := Image(t, cli, Sleeper); again != img {
		t.Errorf("second Image call built %q, want the cached %q", again, img)
	}
	nw := Network(t, cli, NetworkOptions{})
	c := Run(t, cli, RunOptions{Image: img, Cmd: []string{"-listen", ":8080"}, Networks: []string{nw.Name}, Labels: map[string]string{"role": "probe"}})
	WaitLog(t, cli, c.ID, "ready")
	st := Wait(t, cli, c.ID, "running", Running)
	if st.Config.Labels["role"] != "probe" || st.Config.Labels[TestLabel] != "1" {
		t.Errorf("labels = %v, want role=probe and %s=1", st.Config.Labels, TestLabel)
	}
	ep := st.NetworkSettings.Networks[nw.Name]
	if ep == nil || !ep.IPAddress.IsValid() {
		t.Fatalf("container has no address on %s: %+v", nw.Name, st.NetworkSettings.Networks)
	}
	// The host reaches a bridge network's containers directly.
	httpc := &http.Client{Timeout: 5 * time.Second}
	resp, err := httpc.Get("http://" + ep.IPAddress.String() + ":8080/")
	if err != nil {
		t.Fatalf("GET sleeper: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("sleeper answered %d, want 200", resp.StatusCode)
	}

	ctx := context.Background()
	if _, err := cli.ContainerKill(ctx, c.ID, client.ContainerKillOptions{Signal: "SIGUSR1"}); err != nil {
		t.Fatal(err)
	}
	WaitLog(t, cli, c.ID, "signal SIGUSR1")
	if !Running(Inspect(t, cli, c.ID)) {
		t.Errorf("sleeper stopped on SIGUSR1")
	}
	if _, err := cli.ContainerKill(ctx, c.ID, client.ContainerKillOptions{Signal: "SIGTERM"}); err != nil {
		t.Fatal(err)
	}
	st = Wait(t, cli, c.ID, "exited", Exited)
	if st.State.ExitCode != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", st.State.ExitCode)
	}
	if out := Logs(t, cli, c.ID); !strings.Contains(out, "signal SIGTERM") {
		t.Errorf("output %q does not report SIGTERM", out)
	}
}
