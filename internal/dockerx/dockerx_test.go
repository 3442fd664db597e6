package dockerx

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testreal"
)

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	ctxName := "prod"
	sum := sha256.Sum256([]byte(ctxName))
	metaDir := filepath.Join(home, ".docker", "contexts", "meta", hex.EncodeToString(sum[:]))
	if err := os.MkdirAll(metaDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(metaDir, "meta.json"), []byte(`{"Name":"prod","Endpoints":{"docker":{"Host":"tcp://10.9.9.9:2376"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".docker", "config.json"), []byte(`{"currentContext":"prod"}`), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		env        map[string]string
		wantHost   string
		wantSource string
		wantCert   string
		wantErr    string
	}{
		{name: "nothing set", env: map[string]string{}, wantHost: DefaultHost, wantSource: "default"},
		{name: "DOCKER_HOST wins over the context", env: map[string]string{"DOCKER_HOST": "unix:///tmp/d.sock", "HOME": home},
			wantHost: "unix:///tmp/d.sock", wantSource: "DOCKER_HOST"},
		{name: "current context from config.json", env: map[string]string{"HOME": home},
			wantHost: "tcp://10.9.9.9:2376", wantSource: "docker context prod"},
		{name: "DOCKER_CONTEXT default", env: map[string]string{"HOME": home, "DOCKER_CONTEXT": "default"},
			wantHost: DefaultHost, wantSource: "default"},
		{name: "unknown context", env: map[string]string{"HOME": home, "DOCKER_CONTEXT": "nope"},
			wantErr: `docker context "nope"`},
		{name: "TLS verify without cert path uses ~/.docker", env: map[string]string{"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "HOME": "/home/u"},
			wantHost: "tcp://h:2376", wantSource: "DOCKER_HOST", wantCert: "/home/u/.docker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != tt.wantHost || cfg.Source != tt.wantSource || cfg.CertPath != tt.wantCert {
				t.Errorf("got host %q source %q cert %q, want %q %q %q", cfg.Host, cfg.Source, cfg.CertPath, tt.wantHost, tt.wantSource, tt.wantCert)
			}
		})
	}
}

// TestPreflightExplains checks the advice for engines that cannot be reached, with real
// sockets: a path where nothing exists, and a socket file nobody listens on.
func TestPreflightExplains(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	if err := os.WriteFile(stale, nil, 0o600); err != nil { // a file where a socket should be: connect is refused
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want string
	}{
		{"unix://" + filepath.Join(dir, "missing.sock"), "does not exist"},
		{"unix://" + stale, "is down"},
	}
	for _, tt := range tests {
		cli, err := New(func(k string) string {
			if k == "DOCKER_HOST" {
				return tt.host
			}
			return ""
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = Preflight(ctx, cli)
		cancel()
		_ = cli.Close()
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Preflight(%s) = %v, want ErrUnreachable saying %q", tt.host, err, tt.want)
		}
	}
}

func TestPreflightRealEngine(t *testing.T) {
	t.Parallel()
	cli, err := New(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Preflight(ctx, cli); err != nil {
		testreal.Missing(t, "no Docker Engine: %v", err)
	}
	if v := cli.ClientVersion(); v == "" || v > "1.56" {
		t.Errorf("negotiated API version %q", v)
	}
}
