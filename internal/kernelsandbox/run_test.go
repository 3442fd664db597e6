package kernelsandbox

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeQemu writes a stand-in for qemu-system-x86_64 that behaves as its -accel
// argument says, the way real machines do: "abort" dies at once with qemu's words
// about a /dev/kvm that cannot run a guest, "silent" never prints (a guest hung
// before its first instruction), "crash" prints a kernel panic and exits without a
// verdict, "passN" boots and reports exit code N.
func fakeQemu(t *testing.T) string {
	t.Helper()
	script := `#!/bin/sh
accel=
while [ $# -gt 0 ]; do
  if [ "$1" = -accel ]; then accel=$2; fi
  shift
done
case $accel in
abort)
  echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2
  kill -ABRT $$ ;;
silent)
  exec sleep 120 ;;
crash)
  echo "[    1.335756] Kernel panic - not syncing: VFS: Unable to mount root fs"
  exit 0 ;;
pass*)
  echo "=== RUN   TestSomething"
  echo "--- PASS: TestSomething (0.00s)"
  echo "` + resultMarker + `${accel#pass}"
  exit 0 ;;
esac
echo "unknown accelerator $accel" >&2
exit 1
`
	path := filepath.Join(t.TempDir(), "qemu-system-x86_64")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func fake(name string) Accel { return Accel{Name: name, Args: []string{"-accel", name}} }

func TestBootFallsBackWhenQemuDiesBeforeAnyOutput(t *testing.T) {
	t.Parallel()
	var console bytes.Buffer
	res, err := boots(t.Context(), fakeQemu(t), nil, []Accel{fake("abort"), fake("pass0")}, time.Minute, &console)
	if err != nil {
		t.Fatalf("boots: %v (console: %s)", err, console.String())
	}
	if res.Accel != "pass0" || res.ExitCode != 0 {
		t.Fatalf("ran under %q with exit %d, want pass0 with exit 0", res.Accel, res.ExitCode)
	}
	if len(res.Skipped) != 1 || !strings.HasPrefix(res.Skipped[0], "abort: qemu exited before any console output") || !strings.Contains(res.Skipped[0], "failed to set MSR 0x10a") {
		t.Fatalf("skipped %q, want one entry saying the abort attempt died with qemu's words", res.Skipped)
	}
	if res.Boot <= 0 {
		t.Errorf("boot time %v, want the time to the first line of the attempt that ran", res.Boot)
	}
}

func TestBootFallsBackWhenTheGuestStaysSilent(t *testing.T) {
	t.Parallel()
	start := time.Now()
	res, err := boots(t.Context(), fakeQemu(t), nil, []Accel{fake("silent"), fake("pass0")}, 300*time.Millisecond, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("boots: %v", err)
	}
	if res.Accel != "pass0" {
		t.Fatalf("ran under %q, want pass0 after the silent attempt", res.Accel)
	}
	if len(res.Skipped) != 1 || res.Skipped[0] != "silent: no console output within 300ms" {
		t.Fatalf("skipped %q, want [\"silent: no console output within 300ms\"]", res.Skipped)
	}
	// The silent qemu sleeps for 2 minutes unless it is stopped.
	if took := time.Since(start); took > time.Minute {
		t.Fatalf("took %v: the silent qemu was not stopped", took)
	}
}

func TestBootDoesNotRetryAGuestThatPrinted(t *testing.T) {
	t.Parallel()
	var console bytes.Buffer
	res, err := boots(t.Context(), fakeQemu(t), nil, []Accel{fake("crash"), fake("pass0")}, time.Minute, &console)
	if err == nil || !strings.Contains(err.Error(), "(crash) stopped without a verdict") {
		t.Fatalf("err = %v, want the crash reported as a sandbox without a verdict", err)
	}
	if res.Accel != "crash" || len(res.Skipped) != 0 {
		t.Fatalf("accel %q, skipped %q: a guest that printed must not be retried under another accelerator", res.Accel, res.Skipped)
	}
	if strings.Contains(console.String(), "TestSomething") {
		t.Fatalf("the next accelerator ran after a guest that printed:\n%s", console.String())
	}
}

func TestBootReportsTheVerdict(t *testing.T) {
	t.Parallel()
	var console bytes.Buffer
	res, err := boots(t.Context(), fakeQemu(t), nil, []Accel{fake("pass3")}, time.Minute, &console)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || res.Accel != "pass3" || len(res.Skipped) != 0 {
		t.Fatalf("got exit %d under %q (skipped %q), want exit 3 under pass3", res.ExitCode, res.Accel, res.Skipped)
	}
	if !strings.Contains(console.String(), "--- PASS: TestSomething") {
		t.Fatalf("console lacks the guest's lines:\n%s", console.String())
	}
}

func TestBootFailsWhenTheLastAcceleratorDies(t *testing.T) {
	t.Parallel()
	_, err := boots(t.Context(), fakeQemu(t), nil, []Accel{fake("abort"), fake("abort")}, time.Minute, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "never started: abort: qemu exited before any console output") || !strings.Contains(err.Error(), "before that abort:") {
		t.Fatalf("err = %v, want both attempts named", err)
	}
}

// The last accelerator may be silent for as long as the caller allows: emulation can
// take many seconds to its first line on a loaded machine.
func TestBootLastAcceleratorIsBoundOnlyByTheContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err := boots(ctx, fakeQemu(t), nil, []Accel{fake("silent")}, time.Millisecond, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "did not finish within its time limit") {
		t.Fatalf("err = %v, want the context's deadline, not a silence limit", err)
	}
}

func TestAccelsFromEnv(t *testing.T) {
	for _, c := range []struct {
		env  string
		want []string // nil: DefaultAccels
		err  string
	}{
		{env: "", want: nil},
		{env: "auto", want: nil},
		{env: "tcg", want: []string{"tcg"}},
		{env: "kvm, tcg", want: []string{"kvm", "tcg"}},
		{env: "hvf", err: `unknown accelerator "hvf": use kvm, tcg`},
	} {
		t.Setenv(EnvAccel, c.env)
		got, err := AccelsFromEnv()
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s=%q: err = %v, want %q", EnvAccel, c.env, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s=%q: %v", EnvAccel, c.env, err)
			continue
		}
		var names []string
		for _, a := range got {
			names = append(names, a.Name)
		}
		if strings.Join(names, ",") != strings.Join(c.want, ",") || (got == nil) != (c.want == nil) {
			t.Errorf("%s=%q: got %q, want %q", EnvAccel, c.env, names, c.want)
		}
	}
}

func TestDefaultAccelsEndInEmulation(t *testing.T) {
	t.Parallel()
	accels := DefaultAccels()
	if len(accels) == 0 || accels[len(accels)-1].Name != "tcg" {
		t.Fatalf("DefaultAccels() = %v, want emulation last: an opening /dev/kvm is no proof it can run a guest", accels)
	}
}
