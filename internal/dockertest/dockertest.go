// Package dockertest gives tests real containers on the real Docker Engine, with every
// object they create named "faultline-test-..." and removed in t.Cleanup.
//
// No registry is reachable, so images are built locally FROM scratch from the
// project's own static Go binaries:
//
//	cli := dockertest.Client(t)                        // skips (or fails in CI) without an engine
//	img := dockertest.Image(t, cli, dockertest.Sleeper) // any Go main package of this module
//	net := dockertest.Network(t, cli, dockertest.NetworkOptions{})
//	c := dockertest.Run(t, cli, dockertest.RunOptions{
//		Image:    img,
//		Cmd:      []string{"-listen", ":8080"},
//		Labels:   map[string]string{"app": "shop"},
//		Networks: []string{net.Name},
//	})
//	dockertest.WaitLog(t, cli, c.ID, "ready")
//	st := dockertest.Wait(t, cli, c.ID, "running", dockertest.Running)
//
// Image runs `CGO_ENABLED=0 go build` on the package (a module-relative path such as
// "./examples/shop" or a full import path), then builds an image through the Engine
// API's image build with a tar context holding the binary and a generated Dockerfile
// (`FROM scratch`, the binary as ENTRYPOINT). The binary is built once per test process;
// the image is tagged faultline-test-NAME:HASH-PID, where HASH is the binary's content
// hash, and the tag is removed when the last test of the process that uses it ends. The
// engine's build cache turns the same content into the same image, so another test
// process (another package) building it costs one cached build and removing one
// process's tag never breaks another's.
//
// Run creates and starts a container (unless NoStart) named faultline-test-HINT-RANDOM,
// labelled faultline.test=1, and removes it with its anonymous volumes at cleanup.
// Network creates a bridge network (optionally internal, with a fixed subnet) and
// removes it at cleanup; create networks before the containers that use them so that
// cleanup (last in, first out) removes the containers first.
//
// Wait polls ContainerInspect until a condition holds or a deadline (Timeout, 30 s)
// passes; the predicates Running, Paused, Exited and NotRunning cover the usual
// states. WaitLog waits for a substring in the container's output; Logs reads it.
package dockertest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/faultline/faultline/internal/dockerx"
	"github.com/faultline/faultline/internal/testreal"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Prefix starts the name of every object a test creates, so that a leftover is recognisable.
const Prefix = "faultline-test-"

// TestLabel is set to "1" on every container and network this package creates.
const TestLabel = "faultline.test"

// Sleeper is the import path of the smallest test workload: it prints "ready", reports
// every signal as "signal NAME" on stdout, and exits 0 on SIGTERM unless run with
// -ignore-term; -listen ADDR serves "ok" over HTTP.
const Sleeper = "github.com/faultline/faultline/internal/dockertest/sleeper"

// Timeout bounds every wait in this package.
const Timeout = 30 * time.Second

// pollInterval is how often Wait and WaitLog look again.
const pollInterval = 20 * time.Millisecond

// Client returns a client for the engine the environment names. Without a reachable
// engine the test is skipped, or fails when real parts are required (CI).
func Client(t testing.TB) *client.Client {
	t.Helper()
	cli, err := dockerx.New(os.Getenv)
	if err != nil {
		testreal.Missing(t, "no Docker client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dockerx.Preflight(ctx, cli); err != nil {
		_ = cli.Close()
		testreal.Missing(t, "no Docker Engine: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// UniqueName returns "faultline-test-HINT-RANDOM", HINT defaulting to the test's name,
// made safe for a container or network name.
func UniqueName(t testing.TB, hint string) string {
	if hint == "" {
		hint = t.Name()
	}
	hint = strings.ToLower(unsafeName.ReplaceAllString(hint, "-"))
	hint = strings.Trim(hint, "-.")
	if len(hint) > 40 {
		hint = hint[:40]
	}
	if hint == "" {
		hint = "x"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return Prefix + hint + "-" + hex.EncodeToString(b[:])
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// builtBinary is one Go main package compiled once per process.
type builtBinary struct {
	once   sync.Once
	binary []byte
	hash   string
	err    error

	mu   sync.Mutex // guards the image fields below
	tag  string     // "" when no image is built
	refs int
}

var (
	binariesMu sync.Mutex
	binaries   = map[string]*builtBinary{}
)

// Image builds (once per process) the Go main package pkg as a static binary and an
// image FROM scratch that runs it, and returns the image's tag. pkg is a full import
// path or a path relative to the module root ("./examples/shop"). The tag is removed
// when the last test using it ends.
func Image(t testing.TB, cli *client.Client, pkg string) string {
	t.Helper()
	binariesMu.Lock()
	b := binaries[pkg]
	if b == nil {
		b = &builtBinary{}
		binaries[pkg] = b
	}
	binariesMu.Unlock()

	b.once.Do(func() { b.binary, b.hash, b.err = goBuild(pkg) })
	if b.err != nil {
		t.Fatalf("dockertest: build %s: %v", pkg, b.err)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tag == "" {
		tag := fmt.Sprintf("%s%s:%s-%d", Prefix, imageName(pkg), b.hash[:16], os.Getpid())
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := buildImage(ctx, cli, tag, b.binary)
		if err != nil {
			// Another process may have removed the cached parent mid-build: once more.
			err = buildImage(ctx, cli, tag, b.binary)
		}
		cancel()
		if err != nil {
			t.Fatalf("dockertest: image for %s: %v", pkg, err)
		}
		b.tag = tag
	}
	b.refs++
	tag := b.tag
	t.Cleanup(func() { releaseImage(t, cli, b) })
	return tag
}

func releaseImage(t testing.TB, cli *client.Client, b *builtBinary) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refs--
	if b.refs > 0 || b.tag == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := cli.ImageRemove(ctx, b.tag, client.ImageRemoveOptions{PruneChildren: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		t.Errorf("dockertest: remove image %s: %v", b.tag, err)
	}
	b.tag = ""
}

func imageName(pkg string) string {
	name := strings.ToLower(unsafeName.ReplaceAllString(path.Base(strings.TrimSuffix(pkg, "/")), "-"))
	name = strings.Trim(name, "-._")
	if name == "" {
		name = "app"
	}
	return name
}

// goBuild compiles pkg statically from the module root and returns the binary and its hash.
func goBuild(pkg string) ([]byte, string, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, "", err
	}
	dir, err := os.MkdirTemp("", Prefix+"build-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "app")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(bin)
	return bin, hex.EncodeToString(sum[:]), nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

const dockerfile = "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"

// buildImage sends a tar context of the generated Dockerfile and the binary to the
// engine's classic builder and reads its progress stream to the end.
func buildImage(ctx context.Context, cli *client.Client, tag string, binary []byte) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"app", 0o755, binary}}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	res, err := cli.ImageBuild(ctx, &buf, client.ImageBuildOptions{
		Tags:        []string{tag},
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{TestLabel: "1"},
	})
	if err != nil {
		return fmt.Errorf("image build %s: %w", tag, err)
	}
	defer res.Body.Close()
	var log strings.Builder
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			continue
		}
		log.WriteString(msg.Stream)
		if msg.Error != "" {
			return fmt.Errorf("image build %s: %s\n%s", tag, msg.Error, log.String())
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("image build %s: read progress: %w", tag, err)
	}
	return nil
}

// RunOptions describe a test container.
type RunOptions struct {
	// Name is a hint for the container's name (default: the test's name); the name is
	// always Prefix + hint + a random suffix.
	Name   string
	Image  string
	Cmd    []string // arguments after the image's entrypoint
	Env    []string
	Labels map[string]string
	// Networks to attach, by name; the first at creation. Default: Docker's bridge.
	Networks []string
	// Resources are the container's initial limits (memory, CPUs, ...).
	Resources     container.Resources
	RestartPolicy container.RestartPolicy
	// StopTimeout is the container's own default grace period in seconds (nil: 10).
	StopTimeout *int
	// Privileged and CapAdd for tests that need them (rarely).
	CapAdd  []string
	NoStart bool // create only
}

// Container is a container a test created.
type Container struct {
	ID   string
	Name string
}

// Run creates (and, unless NoStart, starts) a container and removes it at cleanup.
func Run(t testing.TB, cli *client.Client, opts RunOptions) Container {
	t.Helper()
	name := UniqueName(t, opts.Name)
	labels := map[string]string{TestLabel: "1"}
	for k, v := range opts.Labels {
		labels[k] = v
	}
	hc := &container.HostConfig{
		Resources:     opts.Resources,
		RestartPolicy: opts.RestartPolicy,
		CapAdd:        opts.CapAdd,
	}
	var nc *network.NetworkingConfig
	if len(opts.Networks) > 0 {
		hc.NetworkMode = container.NetworkMode(opts.Networks[0])
		nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{opts.Networks[0]: {}}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{
			Image:       opts.Image,
			Cmd:         opts.Cmd,
			Env:         opts.Env,
			Labels:      labels,
			StopTimeout: opts.StopTimeout,
		},
		HostConfig:       hc,
		NetworkingConfig: nc,
	})
	if err != nil {
		t.Fatalf("dockertest: create container %s: %v", name, err)
	}
	t.Cleanup(func() { Remove(t, cli, created.ID) })
	for _, n := range opts.Networks[min(1, len(opts.Networks)):] {
		if _, err := cli.NetworkConnect(ctx, n, client.NetworkConnectOptions{Container: created.ID}); err != nil {
			t.Fatalf("dockertest: connect %s to network %s: %v", name, n, err)
		}
	}
	if !opts.NoStart {
		if _, err := cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
			t.Fatalf("dockertest: start container %s: %v", name, err)
		}
	}
	return Container{ID: created.ID, Name: name}
}

// Remove force-removes a container and its anonymous volumes; a container that is
// already gone is fine. Run registers it as cleanup; tests call it to make a target vanish.
func Remove(t testing.TB, cli *client.Client, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	_, err := cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) && !isRemovalInProgress(err) {
		t.Errorf("dockertest: remove container %s: %v", id, err)
	}
}

func isRemovalInProgress(err error) bool {
	return strings.Contains(err.Error(), "removal of container") && strings.Contains(err.Error(), "is already in progress")
}

// NetworkOptions describe a test network.
type NetworkOptions struct {
	Name     string // hint, as for RunOptions.Name
	Internal bool   // no route out of the network
	Subnet   string // e.g. "172.30.7.0/24"; default: the engine picks
	Gateway  string // optional, inside Subnet
	Labels   map[string]string
}

// NetworkInfo is a network a test created.
type NetworkInfo struct {
	ID   string
	Name string
}

// Network creates a bridge network and removes it at cleanup.
func Network(t testing.TB, cli *client.Client, opts NetworkOptions) NetworkInfo {
	t.Helper()
	name := UniqueName(t, opts.Name)
	labels := map[string]string{TestLabel: "1"}
	for k, v := range opts.Labels {
		labels[k] = v
	}
	create := client.NetworkCreateOptions{Driver: "bridge", Internal: opts.Internal, Labels: labels}
	if opts.Subnet != "" {
		var cfg network.IPAMConfig
		var err error
		if cfg.Subnet, err = netip.ParsePrefix(opts.Subnet); err != nil {
			t.Fatalf("dockertest: network subnet %q: %v", opts.Subnet, err)
		}
		if opts.Gateway != "" {
			if cfg.Gateway, err = netip.ParseAddr(opts.Gateway); err != nil {
				t.Fatalf("dockertest: network gateway %q: %v", opts.Gateway, err)
			}
		}
		create.IPAM = &network.IPAM{Driver: "default", Config: []network.IPAMConfig{cfg}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	res, err := cli.NetworkCreate(ctx, name, create)
	if err != nil {
		t.Fatalf("dockertest: create network %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		if _, err := cli.NetworkRemove(ctx, res.ID, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("dockertest: remove network %s: %v", name, err)
		}
	})
	return NetworkInfo{ID: res.ID, Name: name}
}

// Inspect returns the container's current state.
func Inspect(t testing.TB, cli *client.Client, id string) container.InspectResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("dockertest: inspect %s: %v", id, err)
	}
	return res.Container
}

// Predicates on an inspected container for Wait.
func Running(c container.InspectResponse) bool {
	return c.State != nil && c.State.Running && !c.State.Paused && !c.State.Restarting
}
func Paused(c container.InspectResponse) bool { return c.State != nil && c.State.Paused }
func Exited(c container.InspectResponse) bool {
	return c.State != nil && c.State.Status == container.StateExited
}
func NotRunning(c container.InspectResponse) bool { return c.State != nil && !c.State.Running }

// Wait polls ContainerInspect until cond holds and returns that state; after Timeout
// the test fails, naming what it waited for and the last state seen.
func Wait(t testing.TB, cli *client.Client, id, what string, cond func(container.InspectResponse) bool) container.InspectResponse {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var last container.InspectResponse
	for {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		cancel()
		if err != nil {
			t.Fatalf("dockertest: waiting for %s to be %s: %v", id, what, err)
		}
		last = res.Container
		if cond(last) {
			return last
		}
		if time.Now().After(deadline) {
			state := "unknown"
			if last.State != nil {
				state = fmt.Sprintf("%+v", *last.State)
			}
			t.Fatalf("dockertest: %s not %s after %v; last state %s", id, what, Timeout, state)
		}
		<-tick.C
	}
}

// Logs returns the container's stdout and stderr so far.
func Logs(t testing.TB, cli *client.Client, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	rc, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatalf("dockertest: logs of %s: %v", id, err)
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("dockertest: read logs of %s: %v", id, err)
	}
	return out.String()
}

// WaitLog waits until the container's output contains substr and returns the output.
func WaitLog(t testing.TB, cli *client.Client, id, substr string) string {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		out := Logs(t, cli, id)
		if strings.Contains(out, substr) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("dockertest: %s did not print %q within %v; output so far:\n%s", id, substr, Timeout, out)
		}
		<-tick.C
	}
}
