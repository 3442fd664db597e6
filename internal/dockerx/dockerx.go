// Package dockerx builds the Docker Engine client faultline uses, from the same
// environment the docker CLI reads (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH,
// DOCKER_API_VERSION, DOCKER_CONTEXT and the CLI's current context), and checks before a
// run that the engine answers, with an error that says what to do when it does not.
//
// The client negotiates the API version down to the engine's on the first request, so
// an engine older than the client library works (down to API 1.40).
package dockerx

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// ErrUnreachable marks every preflight failure: the engine cannot be used at all.
var ErrUnreachable = errors.New("docker engine unreachable")

// DefaultHost is where the engine listens when nothing says otherwise.
const DefaultHost = "unix:///var/run/docker.sock"

// Config is what the environment says about how to reach the engine.
type Config struct {
	Host       string // "unix:///var/run/docker.sock", "tcp://host:2376", ...
	CertPath   string // directory of ca.pem, cert.pem, key.pem; "" for no TLS
	TLSVerify  bool
	APIVersion string // fixed API version; "" negotiates
	// Source says where Host came from, for error messages ("DOCKER_HOST", "context prod", "default").
	Source string
}

// ConfigFromEnv reads the docker CLI's environment through getenv (os.Getenv in
// production; tests pass their own). DOCKER_HOST wins over a context, as in the CLI.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		Host:       getenv("DOCKER_HOST"),
		CertPath:   getenv("DOCKER_CERT_PATH"),
		TLSVerify:  getenv("DOCKER_TLS_VERIFY") != "",
		APIVersion: getenv("DOCKER_API_VERSION"),
		Source:     "DOCKER_HOST",
	}
	if cfg.TLSVerify && cfg.CertPath == "" {
		if home := getenv("HOME"); home != "" {
			cfg.CertPath = filepath.Join(home, ".docker")
		}
	}
	if cfg.Host != "" {
		return cfg, nil
	}
	host, name, err := contextHost(getenv)
	if err != nil {
		return cfg, err
	}
	if host != "" {
		cfg.Host, cfg.Source = host, "docker context "+name
		return cfg, nil
	}
	cfg.Host, cfg.Source = DefaultHost, "default"
	return cfg, nil
}

// contextHost returns the engine address of the docker CLI context in use, if any
// other than "default": DOCKER_CONTEXT, else currentContext in the CLI's config.json.
func contextHost(getenv func(string) string) (host, name string, err error) {
	dir := getenv("DOCKER_CONFIG")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return "", "", nil
		}
		dir = filepath.Join(home, ".docker")
	}
	name = getenv("DOCKER_CONTEXT")
	if name == "" {
		raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			return "", "", nil // no CLI configuration: the default context
		}
		var conf struct {
			CurrentContext string `json:"currentContext"`
		}
		if err := json.Unmarshal(raw, &conf); err != nil {
			return "", "", fmt.Errorf("read docker CLI configuration %s: %w (fix the file or set DOCKER_HOST)", filepath.Join(dir, "config.json"), err)
		}
		name = conf.CurrentContext
	}
	if name == "" || name == "default" {
		return "", "", nil
	}
	sum := sha256.Sum256([]byte(name))
	metaPath := filepath.Join(dir, "contexts", "meta", hex.EncodeToString(sum[:]), "meta.json")
	raw, err := os.ReadFile(metaPath)
	if err != nil {
		return "", "", fmt.Errorf("docker context %q: %w (list contexts with `docker context ls`, or set DOCKER_HOST)", name, err)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host string `json:"Host"`
		} `json:"Endpoints"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return "", "", fmt.Errorf("docker context %q: read %s: %w", name, metaPath, err)
	}
	host = meta.Endpoints["docker"].Host
	if host == "" {
		return "", "", fmt.Errorf("docker context %q has no docker endpoint (set DOCKER_HOST instead)", name)
	}
	return host, name, nil
}

// New builds a client from the environment read through getenv.
func New(getenv func(string) string) (*client.Client, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return NewFromConfig(cfg)
}

// NewFromConfig builds a client for cfg.
func NewFromConfig(cfg Config) (*client.Client, error) {
	// Faults hit many containers at once: keep enough idle connections that a parallel
	// burst does not reconnect for every request.
	tr := &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second}
	if cfg.CertPath != "" && !cfg.TLSVerify {
		pair, err := tls.LoadX509KeyPair(filepath.Join(cfg.CertPath, "cert.pem"), filepath.Join(cfg.CertPath, "key.pem"))
		if err != nil {
			return nil, fmt.Errorf("%w: load client certificate from DOCKER_CERT_PATH=%s: %w", ErrUnreachable, cfg.CertPath, err)
		}
		// Without DOCKER_TLS_VERIFY the CLI talks TLS but does not verify the server; do the same.
		tr.TLSClientConfig = &tls.Config{
			Certificates:       []tls.Certificate{pair},
			InsecureSkipVerify: true, //nolint:gosec // the user asked for it by leaving DOCKER_TLS_VERIFY unset
			MinVersion:         tls.VersionTLS12,
		}
	}
	opts := []client.Opt{
		client.WithHTTPClient(&http.Client{Transport: tr, CheckRedirect: client.CheckRedirect}),
		client.WithHost(cfg.Host),
	}
	// The client guesses the scheme from the transport it was given, and guesses wrong
	// for a transport of our own: say it.
	if cfg.CertPath != "" {
		opts = append(opts, client.WithScheme("https"))
	} else {
		opts = append(opts, client.WithScheme("http"))
	}
	if cfg.CertPath != "" && cfg.TLSVerify {
		opts = append(opts, client.WithTLSClientConfig(
			filepath.Join(cfg.CertPath, "ca.pem"), filepath.Join(cfg.CertPath, "cert.pem"), filepath.Join(cfg.CertPath, "key.pem")))
	}
	if cfg.APIVersion != "" {
		opts = append(opts, client.WithAPIVersion(cfg.APIVersion))
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: docker client for %s (from %s): %w", ErrUnreachable, cfg.Host, cfg.Source, err)
	}
	return cli, nil
}

// Pinger is the part of the client Preflight needs.
type Pinger interface {
	Ping(ctx context.Context, options client.PingOptions) (client.PingResult, error)
	DaemonHost() string
}

// PingTimeout bounds the preflight ping: an engine (or anything else listening on its
// socket) that does not answer in this time is unreachable.
const PingTimeout = 10 * time.Second

// Preflight pings the engine (negotiating the API version), within PingTimeout
// whatever ctx allows, and explains a failure: socket missing, permission denied,
// engine down, no answer in time, or something else. Every error wraps ErrUnreachable.
func Preflight(ctx context.Context, cli Pinger) error {
	ctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	_, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err == nil {
		return nil
	}
	return explain(cli.DaemonHost(), err)
}

// dialCause learns why a unix socket refuses us: the client's own error hides the errno.
func dialCause(socket string) error {
	conn, err := net.DialTimeout("unix", socket, 2*time.Second)
	if err != nil {
		return err
	}
	_ = conn.Close()
	return nil
}

func explain(host string, err error) error {
	socket := ""
	if u, perr := url.Parse(host); perr == nil && u.Scheme == "unix" {
		socket = u.Path
	}
	if socket != "" && client.IsErrConnectionFailed(err) {
		if cause := dialCause(socket); cause != nil {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
	}
	switch {
	case socket != "" && errors.Is(err, syscall.ENOENT), socket != "" && isMissing(socket):
		return fmt.Errorf("%w: socket %s does not exist: start the Docker Engine (systemctl start docker) or point DOCKER_HOST at a running one: %w",
			ErrUnreachable, socket, err)
	case errors.Is(err, syscall.EACCES), errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: permission denied on %s: run as root or as a member of the docker group (usermod -aG docker $USER, then log in again): %w",
			ErrUnreachable, host, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: nothing listens on %s: the Docker Engine is down; start it (systemctl start docker) or fix DOCKER_HOST: %w",
			ErrUnreachable, host, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %s did not answer within %s: check that the engine is healthy (docker info) and that DOCKER_HOST points at it: %w", ErrUnreachable, host, PingTimeout, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "permission denied") {
		return fmt.Errorf("%w: permission denied on %s: run as root or as a member of the docker group: %w", ErrUnreachable, host, err)
	}
	return fmt.Errorf("%w: %s: %w (check DOCKER_HOST and that `docker info` works)", ErrUnreachable, host, err)
}

func isMissing(path string) bool {
	_, err := os.Stat(path)
	return errors.Is(err, os.ErrNotExist)
}
