package cmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/metrics/local"
	"github.com/faultline/faultline/metrics/probe"
	"github.com/faultline/faultline/result"
)

// The embedded store of one run: what it scrapes, where its TSDB goes, its probes.

// Labels of the common scrape convention that scrape_labelled reads on containers.
const (
	scrapeLabel = "prometheus.io/scrape"
	portLabel   = "prometheus.io/port"
	pathLabel   = "prometheus.io/path"
)

// tsdbDirName is the embedded store's directory inside the run's output directory.
const tsdbDirName = "tsdb"

// scrapeWaitSlack is added to three scrape intervals for the first scrape of every
// target in preflight: a container that just started, on a loaded machine.
const scrapeWaitSlack = 15 * time.Second

// observation is the embedded Prometheus of one run and the probes that write to it.
type observation struct {
	store  *local.Store
	probes []*probe.Probe
	// temporary is set when the TSDB is not kept (no output directory: serve).
	temporary bool
	wait      time.Duration
	// warnings are for the result: what the scrape setup found that may not be meant.
	warnings []string

	stopProbes context.CancelFunc
	probesDone chan struct{}
}

// scrapeJobs turns the experiment's scrape blocks, and with scrape_labelled the
// labelled containers among the resolved targets, into the store's jobs.
func scrapeJobs(exp *experiments.Experiment, resolved map[string][]faults.Target) ([]local.Job, error) {
	var jobs []local.Job
	var errs []error
	names := map[string]bool{}
	for _, s := range exp.Scrapes {
		job := local.Job{Name: s.Job, Path: s.Path, Interval: s.Interval, Timeout: s.ScrapeTimeout(), Targets: s.Addresses}
		if s.Target != "" {
			for _, c := range resolved[s.Target] {
				ip, err := addressOn(c, s.Network)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: scrape %q: %w", s.DeclRange, s.Job, err))
					continue
				}
				job.Targets = append(job.Targets, net.JoinHostPort(ip, strconv.Itoa(s.Port)))
			}
			job.Targets = slices.Compact(slices.Sorted(slices.Values(job.Targets)))
			if len(job.Targets) == 0 && len(resolved[s.Target]) == 0 {
				continue // an empty target that allows it: nothing to scrape
			}
		}
		names[s.Job] = true
		jobs = append(jobs, job)
	}
	if exp.ScrapeLabelled {
		for _, t := range exp.Targets {
			job := local.Job{Name: t.Name, Interval: exp.Step, Path: local.DefaultMetricsPath}
			paths := map[string]bool{}
			for _, c := range resolved[t.Name] {
				if on, _ := strconv.ParseBool(c.Labels[scrapeLabel]); !on {
					continue
				}
				port, err := strconv.Atoi(c.Labels[portLabel])
				if err != nil || port < 1 || port > 65535 {
					errs = append(errs, fmt.Errorf("container %s (target.%s) is labelled %s=true but its %s label %q is not a port: label it with the port its metrics are served on",
						c.Name, t.Name, scrapeLabel, portLabel, c.Labels[portLabel]))
					continue
				}
				ip, err := addressOn(c, "")
				if err != nil {
					errs = append(errs, fmt.Errorf("target.%s: %w", t.Name, err))
					continue
				}
				job.Targets = append(job.Targets, net.JoinHostPort(ip, strconv.Itoa(port)))
				paths[cmp.Or(c.Labels[pathLabel], local.DefaultMetricsPath)] = true
			}
			if len(job.Targets) == 0 {
				continue
			}
			if names[t.Name] {
				errs = append(errs, fmt.Errorf("target.%s has containers labelled %s=true, scraped as job %q, and a scrape block has that job name too: rename the scrape block", t.Name, scrapeLabel, t.Name))
				continue
			}
			if len(paths) > 1 {
				errs = append(errs, fmt.Errorf("the labelled containers of target.%s serve their metrics at different %s (%s): a job has one path; split the target block", t.Name, pathLabel, strings.Join(slices.Sorted(func(yield func(string) bool) {
					for p := range paths {
						if !yield(p) {
							return
						}
					}
				}), ", ")))
				continue
			}
			for p := range paths {
				job.Path = p
			}
			job.Targets = slices.Compact(slices.Sorted(slices.Values(job.Targets)))
			names[t.Name] = true
			jobs = append(jobs, job)
		}
	}
	return jobs, errors.Join(errs...)
}

// labelledWarning says when scrape_labelled finds no container labelled to be
// scraped among the targets: nothing then comes from the labels, which is more often
// a missing label than the intent.
func labelledWarning(exp *experiments.Experiment, resolved map[string][]faults.Target) string {
	if !exp.ScrapeLabelled {
		return ""
	}
	n := 0
	for _, t := range exp.Targets {
		for _, c := range resolved[t.Name] {
			n++
			if on, _ := strconv.ParseBool(c.Labels[scrapeLabel]); on {
				return ""
			}
		}
	}
	return fmt.Sprintf("scrape_labelled = true, but none of the %d target container(s) is labelled %s=true: nothing is scraped from labels (label the containers, with %s, or drop scrape_labelled)", n, scrapeLabel, portLabel)
}

// addressOn is the container's IP on the named network, or on its first network
// with an address.
func addressOn(c faults.Target, network string) (string, error) {
	var have []string
	for _, n := range c.Networks {
		have = append(have, n.Name)
		if n.IP == nil || n.IP.IsUnspecified() {
			continue
		}
		if network == "" || n.Name == network {
			return n.IP.String(), nil
		}
	}
	if network != "" {
		return "", fmt.Errorf("container %s has no address on network %q (its networks: %s): fix network, or drop it to use the first", c.Name, network, strings.Join(have, ", "))
	}
	return "", fmt.Errorf("container %s has no address on any Docker network (network mode host or none?): scrape it with targets = [\"HOST:PORT\"]", c.Name)
}

// openObservation opens the run's embedded store, when the experiment needs one:
// scraping starts now, before the baseline. outDir "" keeps nothing (a temporary
// directory, removed at close).
func openObservation(exp *experiments.Experiment, resolved map[string][]faults.Target, outDir string, log *slog.Logger) (*observation, error) {
	if !exp.UsesLocal() && len(exp.Scrapes) == 0 {
		return nil, nil
	}
	jobs, err := scrapeJobs(exp, resolved)
	if err != nil {
		return nil, withExitCode(err, result.ExitInvalid)
	}
	o := &observation{}
	if w := labelledWarning(exp, resolved); w != "" {
		o.warnings = append(o.warnings, w)
	}
	for _, p := range exp.Probes {
		built, err := p.Build()
		if err != nil {
			return nil, exitf(result.ExitInvalid, "%s: %w", p.DeclRange, err)
		}
		o.probes = append(o.probes, built)
	}
	dir := filepath.Join(outDir, tsdbDirName)
	if outDir == "" {
		if dir, err = os.MkdirTemp("", "faultline-tsdb-"); err != nil {
			return nil, exitf(result.ExitPreflight, "preflight: embedded prometheus: %w", err)
		}
		o.temporary = true
	} else if _, err := os.Stat(dir); err == nil {
		return nil, exitf(result.ExitInvalid, "--out %s already holds a TSDB (%s) of an earlier run: give each run its own --out", outDir, dir)
	}
	longest := time.Duration(0)
	for _, j := range jobs {
		longest = max(longest, j.Interval)
	}
	o.wait = 3*longest + scrapeWaitSlack
	if log != nil {
		log = log.With("component", "embedded prometheus")
	}
	o.store, err = local.Open(local.Options{Dir: dir, Jobs: jobs, Interval: exp.Step, Logger: log})
	if err != nil {
		if o.temporary {
			os.RemoveAll(dir)
		}
		return nil, exitf(result.ExitPreflight, "preflight: %w", err)
	}
	return o, nil
}

// preflight waits for two scrapes of every target (naming one that does not answer;
// see local.Store.WaitScraped), then evaluates every local metric once.
func (o *observation) preflight(ms []metrics.Query) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		wctx, cancel := context.WithTimeout(ctx, o.wait)
		defer cancel()
		if err := o.store.WaitScraped(wctx); err != nil {
			return err
		}
		return o.store.Preflight(ctx, ms)
	}
}

// startProbes runs the probes until stop; they survive an interrupt of ctx, so that
// the recovery after it is still probed.
func (o *observation) startProbes(ctx context.Context, log *slog.Logger) {
	if len(o.probes) == 0 {
		return
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	o.stopProbes, o.probesDone = cancel, make(chan struct{})
	go func() {
		defer close(o.probesDone)
		probe.Run(pctx, o.store, o.probes, func(out probe.Outcome, err error) {
			if err != nil && log != nil {
				log.Warn("probe", "probe", out.Probe, "err", err)
			}
		})
	}()
}

// close stops the probes and closes the store, writing its block; the directory is
// kept unless it was temporary. Idempotent.
func (o *observation) close() error {
	if o == nil {
		return nil
	}
	if o.stopProbes != nil {
		o.stopProbes()
		<-o.probesDone
		o.stopProbes = nil
	}
	err := o.store.Close()
	if o.temporary {
		os.RemoveAll(o.store.Dir())
	}
	return err
}
