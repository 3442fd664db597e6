package experiments

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

var scrapeSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "targets"}, {Name: "target"}, {Name: "port"}, {Name: "network"},
		{Name: "path"}, {Name: "interval"}, {Name: "timeout"},
	},
}

// Defaults of a scrape block.
const (
	DefaultScrapePath = "/metrics"
	// maxScrapeTimeout caps the default scrape timeout (the interval), as Prometheus's
	// own default of 10s does.
	maxScrapeTimeout = 10 * time.Second
)

// decodeScrapeBlock reads one scrape "JOB" block. exp's step is known: the
// experiment block is decoded first.
func (l *loader) decodeScrapeBlock(b *hcl.Block, exp *Experiment) (*Scrape, hcl.Diagnostics) {
	content, diags := b.Body.Content(scrapeSchema)
	s := &Scrape{Job: b.Labels[0], Path: DefaultScrapePath, Interval: exp.Step, DeclRange: b.DefRange}
	if strings.TrimSpace(s.Job) == "" {
		diags = append(diags, rangeError(b.LabelRanges[0], "Empty scrape job name",
			"The label is the job label of every scraped series; give it one, such as \"shop\"."))
	}
	a := content.Attributes
	list, ref := a["targets"], a["target"]
	switch {
	case list == nil && ref == nil:
		diags = append(diags, rangeError(b.DefRange, "Scrape without targets",
			"A scrape block needs targets = [\"127.0.0.1:9100\"] (addresses) or target = target.NAME with a port (the containers of a target block)."))
	case list != nil && ref != nil:
		diags = append(diags, rangeError(ref.NameRange, "Conflicting scrape targets",
			"Give either targets (addresses) or target (a target block), not both: write a second scrape block for the other."))
	case list != nil:
		if addrs, ok, d := l.stringList(list); ok {
			if len(addrs) == 0 {
				diags = append(diags, attrError(list, "Empty scrape targets", "List at least one host:port address, such as \"127.0.0.1:9100\"."))
			}
			seen := map[string]bool{}
			for _, addr := range addrs {
				if err := checkHostPort(addr); err != nil {
					diags = append(diags, attrError(list, "Invalid scrape target", fmt.Sprintf("%q %v.", addr, err)))
				} else if seen[addr] {
					diags = append(diags, attrError(list, "Duplicate scrape target", fmt.Sprintf("%q is listed twice; list each address once.", addr)))
				}
				seen[addr] = true
			}
			s.Addresses = addrs
		} else {
			diags = append(diags, d...)
		}
		for _, name := range []string{"port", "network"} {
			if attr, ok := a[name]; ok {
				diags = append(diags, rangeError(attr.NameRange, "Unsupported argument",
					fmt.Sprintf("%s goes with target = target.NAME; with targets, write the port into each address.", name)))
			}
		}
	default:
		s.Target, _, diags = l.referenceInto(diags, ref, "target", l.targetNames)
		if attr, ok := a["port"]; ok {
			if n, ok, d := l.integer(attr); ok {
				if n < 1 || n > 65535 {
					diags = append(diags, attrError(attr, "Invalid port", fmt.Sprintf("%d is not a port: use a number from 1 to 65535.", n)))
				}
				s.Port = int(n)
			} else {
				diags = append(diags, d...)
			}
		} else {
			diags = append(diags, rangeError(ref.NameRange, "Missing port",
				"Say at which port the containers serve their metrics, such as port = 9100."))
		}
		if attr, ok := a["network"]; ok {
			s.Network = l.strInto(&diags, attr)
		}
	}
	if attr, ok := a["path"]; ok {
		if p := l.strInto(&diags, attr); p != "" {
			if !strings.HasPrefix(p, "/") {
				diags = append(diags, attrError(attr, "Invalid scrape path", fmt.Sprintf("%q must start with /, such as \"/metrics\".", p)))
			}
			s.Path = p
		}
	}
	if attr, ok := a["interval"]; ok {
		if d, ok, more := l.duration(attr); ok {
			if d < time.Millisecond {
				diags = append(diags, attrError(attr, "Invalid interval", "interval is the time between scrapes and must be more than 0, such as \"1s\"."))
			}
			s.Interval = d
		} else {
			diags = append(diags, more...)
		}
	}
	if attr, ok := a["timeout"]; ok {
		if d, ok, more := l.duration(attr); ok {
			if d < time.Millisecond || d > s.Interval {
				diags = append(diags, attrError(attr, "Invalid timeout",
					fmt.Sprintf("timeout bounds one scrape: more than 0 and at most the interval (%s).", s.Interval)))
			}
			s.Timeout = d
		} else {
			diags = append(diags, more...)
		}
	}
	return s, diags
}

// ScrapeTimeout is the scrape's timeout, its default applied.
func (s *Scrape) ScrapeTimeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return min(s.Interval, maxScrapeTimeout)
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fmt.Errorf("is not host:port, such as \"127.0.0.1:9100\" (the path goes in path, the scheme is http)")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("has port %q, not a number from 1 to 65535", port)
	}
	return nil
}
