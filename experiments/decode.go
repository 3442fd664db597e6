package experiments

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Defaults of the experiment block.
const (
	DefaultBaseline  = 30 * time.Second
	DefaultRecovery  = 30 * time.Second
	DefaultStep      = 5 * time.Second
	DefaultTimeout   = 10 * time.Second
	DefaultLossGrace = 30 * time.Second
	// MinStep is the finest sampling interval: Prometheus itself rarely scrapes faster.
	MinStep = time.Second
)

// decodeBody decodes every block after variables and locals, then checks the
// experiment as a whole.
func (l *loader) decodeBody(exp *Experiment, byType map[string][]*hcl.Block, file *hcl.File) hcl.Diagnostics {
	var diags hcl.Diagnostics
	l.targetNames = l.declaredNames("target", byType["target"], &diags)
	l.metricNames = l.declaredNames("metric", byType["metric"], &diags)

	switch blocks := byType["experiment"]; len(blocks) {
	case 0:
		r := file.Body.MissingItemRange()
		diags = append(diags, rangeError(r, "Missing experiment block",
			"An experiment file needs one experiment \"NAME\" { ... } block with its baseline, recovery and step."))
		exp.Baseline, exp.Recovery, exp.Step = DefaultBaseline, DefaultRecovery, DefaultStep
	default:
		diags = append(diags, l.decodeExperimentBlock(exp, blocks[0])...)
		for _, b := range blocks[1:] {
			diags = append(diags, rangeError(b.DefRange, "Duplicate experiment block",
				fmt.Sprintf("A file holds exactly one experiment; the first is at %s. Put each experiment in its own file.", blocks[0].DefRange)))
		}
	}

	if blocks := byType["prometheus"]; len(blocks) > 0 {
		p, d := l.decodePrometheusBlock(blocks[0])
		exp.Prometheus, diags = p, append(diags, d...)
		for _, b := range blocks[1:] {
			diags = append(diags, rangeError(b.DefRange, "Duplicate prometheus block",
				fmt.Sprintf("An experiment watches one Prometheus server, declared at %s.", blocks[0].DefRange)))
		}
	}

	// Targets and metrics are referenced by name, so a name that is no identifier was
	// reported by declaredNames and its block is skipped here.
	exp.Targets = decodeUnique(&diags, byType["target"], "target", 0, true, l.decodeTargetBlock)
	exp.Faults = decodeUnique(&diags, byType["fault"], "fault", 1, false, func(b *hcl.Block) (*FaultSpec, hcl.Diagnostics) {
		return l.decodeFaultBlock(b, exp)
	})
	exp.Metrics = decodeUnique(&diags, byType["metric"], "metric", 0, true, l.decodeMetricBlock)
	exp.Checks = decodeUnique(&diags, byType["check"], "check", 0, false, func(b *hcl.Block) (*Check, hcl.Diagnostics) {
		return l.decodeCheckBlock(b, exp)
	})
	exp.Aborts = decodeUnique(&diags, byType["abort"], "abort", 0, false, l.decodeAbortBlock)

	diags = append(diags, validateExperiment(exp, byType, file)...)
	if !diags.HasErrors() && len(exp.Faults) > 0 {
		// Only a sound timeline can be checked for faults that collide on it.
		diags = append(diags, overlappingHolds(NewPlan(exp))...)
	}
	return diags
}

// decodeUnique decodes the blocks of one type in order, each named by its label at
// index label; a second block of a name is reported, not decoded.
func decodeUnique[T any](diags *hcl.Diagnostics, blocks []*hcl.Block, kind string, label int, identifier bool,
	decode func(*hcl.Block) (*T, hcl.Diagnostics)) []*T {
	var out []*T
	seen := map[string]hcl.Range{}
	for _, b := range blocks {
		name := b.Labels[label]
		if identifier && !hclsyntax.ValidIdentifier(name) {
			continue
		}
		if prev, dup := seen[name]; dup {
			*diags = append(*diags, duplicateBlock(kind, name, b.LabelRanges[label], prev))
			continue
		}
		seen[name] = b.DefRange
		v, d := decode(b)
		*diags = append(*diags, d...)
		if v != nil {
			out = append(out, v)
		}
	}
	return out
}

func (l *loader) declaredNames(kind string, blocks []*hcl.Block, diags *hcl.Diagnostics) map[string]hcl.Range {
	names := map[string]hcl.Range{}
	for _, b := range blocks {
		name := b.Labels[0]
		if !hclsyntax.ValidIdentifier(name) {
			*diags = append(*diags, invalidName(kind, name, b.LabelRanges[0]))
			continue
		}
		if _, dup := names[name]; !dup {
			names[name] = b.DefRange
		}
	}
	return names
}

var experimentSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "description"}, {Name: "labels"},
		{Name: "baseline"}, {Name: "recovery"}, {Name: "step"},
		{Name: "max_targets"},
	},
}

func (l *loader) decodeExperimentBlock(exp *Experiment, b *hcl.Block) hcl.Diagnostics {
	content, diags := b.Body.Content(experimentSchema)
	exp.Name = b.Labels[0]
	exp.DeclRange = b.DefRange
	exp.Baseline, exp.Recovery, exp.Step = DefaultBaseline, DefaultRecovery, DefaultStep
	if strings.TrimSpace(exp.Name) == "" {
		diags = append(diags, rangeError(b.LabelRanges[0], "Empty experiment name",
			"The experiment's name labels its reports and history; give it one, such as \"checkout-survives-slow-db\"."))
	}
	a := content.Attributes
	if attr, ok := a["description"]; ok {
		exp.Description = l.strInto(&diags, attr)
	}
	if attr, ok := a["labels"]; ok {
		exp.Labels, _, diags = l.stringMapInto(diags, attr)
	}
	if attr, ok := a["baseline"]; ok {
		if d, ok, more := l.duration(attr); ok {
			exp.Baseline = d
		} else {
			diags = append(diags, more...)
		}
	}
	if attr, ok := a["recovery"]; ok {
		if d, ok, more := l.duration(attr); ok {
			exp.Recovery = d
		} else {
			diags = append(diags, more...)
		}
	}
	if attr, ok := a["step"]; ok {
		if d, ok, more := l.duration(attr); ok {
			exp.Step = d
			if d < MinStep {
				diags = append(diags, attrError(attr, "Step too small",
					fmt.Sprintf("step is the sampling interval and must be at least %s; Prometheus cannot answer finer than it scrapes.", MinStep)))
			}
		} else {
			diags = append(diags, more...)
		}
	}
	if attr, ok := a["max_targets"]; ok {
		if n, ok, more := l.integer(attr); ok {
			if n < 0 || n > math.MaxInt32 {
				diags = append(diags, attrError(attr, "Invalid value for max_targets",
					"max_targets caps how many containers the experiment may touch: 0 (no cap) or a positive number."))
			} else {
				exp.MaxTargets = int(n)
			}
		} else {
			diags = append(diags, more...)
		}
	}
	return diags
}

// strInto reads a string attribute, adding its diagnostics to diags.
func (l *loader) strInto(diags *hcl.Diagnostics, attr *hcl.Attribute) string {
	s, _, d := l.str(attr)
	*diags = append(*diags, d...)
	return s
}

func (l *loader) stringMapInto(diags hcl.Diagnostics, attr *hcl.Attribute) (map[string]string, bool, hcl.Diagnostics) {
	m, ok, d := l.stringMap(attr)
	return m, ok, append(diags, d...)
}

var prometheusSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "url", Required: true},
		{Name: "bearer_token_file"}, {Name: "bearer_token_env"},
		{Name: "headers"}, {Name: "timeout"}, {Name: "loss_grace"},
		// Secrets in plain text, listed to explain why they are refused.
		{Name: "bearer_token"}, {Name: "password"}, {Name: "token"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "basic_auth"}, {Type: "tls"}},
}

var basicAuthSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "username", Required: true}, {Name: "password_file", Required: true},
		{Name: "password"},
	},
}

var tlsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "ca_file"}, {Name: "cert_file"}, {Name: "key_file"},
		{Name: "server_name"}, {Name: "insecure_skip_verify"},
	},
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func plainSecret(attr *hcl.Attribute, instead string) *hcl.Diagnostic {
	return rangeError(attr.NameRange, "Secret in plain text",
		fmt.Sprintf("%s is not accepted: an experiment file is shared and versioned, and a secret in it leaks. %s", attr.Name, instead))
}

func (l *loader) decodePrometheusBlock(b *hcl.Block) (*Prometheus, hcl.Diagnostics) {
	content, diags := b.Body.Content(prometheusSchema)
	p := &Prometheus{Timeout: DefaultTimeout, LossGrace: DefaultLossGrace, DeclRange: b.DefRange}
	a := content.Attributes
	for _, name := range []string{"bearer_token", "token"} {
		if attr, ok := a[name]; ok {
			diags = append(diags, plainSecret(attr, "Put the token in a file and set bearer_token_file, or in an environment variable and set bearer_token_env to its name."))
		}
	}
	if attr, ok := a["password"]; ok {
		diags = append(diags, plainSecret(attr, "Use a basic_auth { username = \"...\", password_file = \"...\" } block with the password in a file."))
	}
	if attr, ok := a["url"]; ok {
		if s, ok, d := l.str(attr); ok {
			u, err := url.Parse(s)
			switch {
			case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
				diags = append(diags, attrError(attr, "Invalid Prometheus URL",
					fmt.Sprintf("%q is not an http or https URL; write the server's base URL, such as \"http://127.0.0.1:9090\".", s)))
			case u.User != nil:
				diags = append(diags, attrError(attr, "Secret in plain text",
					"The URL holds a user name or password; use a basic_auth block with password_file instead."))
			default:
				p.URL = strings.TrimRight(s, "/")
			}
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["bearer_token_file"]; ok {
		p.BearerTokenFile = l.strInto(&diags, attr)
	}
	if attr, ok := a["bearer_token_env"]; ok {
		if s, ok, d := l.str(attr); ok {
			if !envName.MatchString(s) {
				diags = append(diags, attrError(attr, "Invalid environment variable name",
					fmt.Sprintf("bearer_token_env names the environment variable that holds the token, such as \"PROM_TOKEN\"; %q is not a name.", s)))
			} else {
				p.BearerTokenEnv = s
			}
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["headers"]; ok {
		var headers map[string]string
		headers, _, diags = l.stringMapInto(diags, attr)
		for k := range headers {
			if strings.EqualFold(k, "Authorization") {
				diags = append(diags, attrError(attr, "Secret in plain text",
					"An Authorization header holds a credential; use bearer_token_file, bearer_token_env or basic_auth instead."))
				delete(headers, k)
			}
		}
		p.Headers = headers
	}
	if attr, ok := a["timeout"]; ok {
		if d, ok, more := l.duration(attr); ok {
			if d == 0 {
				diags = append(diags, attrError(attr, "Invalid timeout", "timeout bounds each query and must be greater than 0, such as \"10s\"."))
			}
			p.Timeout = d
		} else {
			diags = append(diags, more...)
		}
	}
	if attr, ok := a["loss_grace"]; ok {
		if d, ok, more := l.duration(attr); ok {
			p.LossGrace = d
		} else {
			diags = append(diags, more...)
		}
	}
	var authBlock *hcl.Block
	for _, blk := range content.Blocks {
		switch blk.Type {
		case "basic_auth":
			if p.BasicAuth != nil {
				diags = append(diags, rangeError(blk.DefRange, "Duplicate basic_auth block", "Give one basic_auth block."))
				continue
			}
			authBlock = blk
			ba, d := l.decodeBasicAuthBlock(blk)
			p.BasicAuth, diags = ba, append(diags, d...)
		case "tls":
			if p.TLS != nil {
				diags = append(diags, rangeError(blk.DefRange, "Duplicate tls block", "Give one tls block."))
				continue
			}
			t, d := l.decodeTLSBlock(blk)
			p.TLS, diags = t, append(diags, d...)
		}
	}
	methods := 0
	for _, set := range []bool{p.BearerTokenFile != "", p.BearerTokenEnv != "", authBlock != nil} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		diags = append(diags, rangeError(b.DefRange, "Conflicting Prometheus credentials",
			"Set one of bearer_token_file, bearer_token_env or a basic_auth block, not several: only one Authorization header is sent."))
	}
	return p, diags
}

func (l *loader) decodeBasicAuthBlock(b *hcl.Block) (*BasicAuth, hcl.Diagnostics) {
	content, diags := b.Body.Content(basicAuthSchema)
	ba := &BasicAuth{}
	if attr, ok := content.Attributes["password"]; ok {
		diags = append(diags, plainSecret(attr, "Put the password in a file and set password_file to its path."))
	}
	if attr, ok := content.Attributes["username"]; ok {
		ba.Username = l.strInto(&diags, attr)
	}
	if attr, ok := content.Attributes["password_file"]; ok {
		ba.PasswordFile = l.strInto(&diags, attr)
	}
	return ba, diags
}

func (l *loader) decodeTLSBlock(b *hcl.Block) (*TLS, hcl.Diagnostics) {
	content, diags := b.Body.Content(tlsSchema)
	t := &TLS{}
	a := content.Attributes
	for name, dst := range map[string]*string{"ca_file": &t.CAFile, "cert_file": &t.CertFile, "key_file": &t.KeyFile, "server_name": &t.ServerName} {
		if attr, ok := a[name]; ok {
			*dst = l.strInto(&diags, attr)
		}
	}
	if attr, ok := a["insecure_skip_verify"]; ok {
		v, _, d := l.boolean(attr)
		t.InsecureSkipVerify, diags = v, append(diags, d...)
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		diags = append(diags, rangeError(b.DefRange, "Incomplete client certificate",
			"A client certificate needs both cert_file and key_file."))
	}
	return t, diags
}

var targetSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "name"}, {Name: "labels"}, {Name: "image"},
		{Name: "compose_project"}, {Name: "compose_service"},
		{Name: "state"}, {Name: "pick"}, {Name: "allow_empty"},
	},
}

// ContainerStates are the states a target may select, as Docker names them.
var ContainerStates = []string{"created", "running", "paused", "restarting", "exited", "dead"}

func (l *loader) decodeTargetBlock(b *hcl.Block) (*Target, hcl.Diagnostics) {
	content, diags := b.Body.Content(targetSchema)
	t := &Target{Name: b.Labels[0], State: "running", Pick: PickAll, DeclRange: b.DefRange}
	a := content.Attributes
	if attr, ok := a["name"]; ok {
		if s, ok, d := l.str(attr); ok {
			if _, err := regexp.Compile(s); err != nil {
				diags = append(diags, attrError(attr, "Invalid name pattern",
					fmt.Sprintf("name is a regular expression on container names: %v. Escape special characters, such as \"shop\\\\.db\".", err)))
			} else if s == "" {
				diags = append(diags, attrError(attr, "Empty name pattern", "An empty pattern matches every container; write one such as \"^shop-db-[0-9]+$\"."))
			} else {
				t.NameRegex = s
			}
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["labels"]; ok {
		t.Labels, _, diags = l.stringMapInto(diags, attr)
	}
	for name, dst := range map[string]*string{"image": &t.Image, "compose_project": &t.ComposeProject, "compose_service": &t.ComposeService} {
		if attr, ok := a[name]; ok {
			*dst = l.strInto(&diags, attr)
		}
	}
	if attr, ok := a["state"]; ok {
		if s, ok, d := l.str(attr); ok {
			if !contains(ContainerStates, s) {
				diags = append(diags, attrError(attr, "Invalid container state",
					fmt.Sprintf("state %q is not a Docker container state%s; use one of %s.", s, suggestion(s, ContainerStates), strings.Join(ContainerStates, ", "))))
			} else {
				t.State = s
			}
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["pick"]; ok {
		diags = append(diags, l.decodePick(attr, t)...)
	}
	if attr, ok := a["allow_empty"]; ok {
		v, _, d := l.boolean(attr)
		t.AllowEmpty, diags = v, append(diags, d...)
	}
	if len(diags) == 0 && t.NameRegex == "" && len(t.Labels) == 0 && t.Image == "" && t.ComposeProject == "" && t.ComposeService == "" {
		diags = append(diags, rangeError(b.DefRange, "Target without selector",
			"A target needs at least one of name, labels, image, compose_project or compose_service; without one it would select every container on the host."))
	}
	return t, diags
}

var percentPick = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$`)

func (l *loader) decodePick(attr *hcl.Attribute, t *Target) hcl.Diagnostics {
	val, ok, diags := l.value(attr)
	if !ok {
		return diags
	}
	bad := attrError(attr, "Invalid pick",
		"pick is \"all\", \"one\", a count such as 2, or a share such as \"30%\".")
	var s string
	switch val.Type() {
	case cty.Number:
		s = val.AsBigFloat().Text('f', -1)
	case cty.String:
		s = strings.TrimSpace(val.AsString())
	default:
		return append(diags, bad)
	}
	switch {
	case s == PickAll || s == PickOne:
		t.Pick = s
	case percentPick.MatchString(s):
		v, _ := strconv.ParseFloat(percentPick.FindStringSubmatch(s)[1], 64)
		if v <= 0 || v > 100 {
			return append(diags, attrError(attr, "Invalid pick", fmt.Sprintf("A share of targets is more than 0%% and at most 100%%, not %s.", s)))
		}
		t.Pick, t.Percent = PickPercent, v
	default:
		n, err := strconv.Atoi(s)
		if err != nil {
			return append(diags, bad)
		}
		if n < 1 {
			return append(diags, attrError(attr, "Invalid pick", fmt.Sprintf("A count of targets is at least 1, not %d.", n)))
		}
		t.Pick, t.Count = PickCount, n
	}
	return diags
}

var metricSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "query", Required: true}, {Name: "unit"}, {Name: "description"}, {Name: "tolerance"},
	},
}

func (l *loader) decodeMetricBlock(b *hcl.Block) (*Metric, hcl.Diagnostics) {
	content, diags := b.Body.Content(metricSchema)
	m := &Metric{Name: b.Labels[0], DeclRange: b.DefRange}
	if attr, ok := content.Attributes["query"]; ok {
		m.QueryRange = attr.Expr.Range()
		if s, ok, d := l.str(attr); ok {
			if strings.TrimSpace(s) == "" {
				diags = append(diags, attrError(attr, "Empty query", "query is a PromQL expression, such as \"sum(rate(http_requests_total[1m]))\"."))
			} else if d := checkPromQL(attr, s); d != nil {
				diags = append(diags, d)
			}
			m.Query = s
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := content.Attributes["unit"]; ok {
		m.Unit = l.strInto(&diags, attr)
	}
	if attr, ok := content.Attributes["description"]; ok {
		m.Description = l.strInto(&diags, attr)
	}
	if attr, ok := content.Attributes["tolerance"]; ok {
		l.decodeTolerance(&diags, attr, m)
	}
	return m, diags
}

// decodeTolerance reads a metric's tolerance: a number in the metric's unit, or a
// percentage of the baseline mean such as "20%".
func (l *loader) decodeTolerance(diags *hcl.Diagnostics, attr *hcl.Attribute, m *Metric) {
	val, ok, d := l.value(attr)
	*diags = append(*diags, d...)
	if !ok {
		return
	}
	const how = `tolerance is how far from the baseline mean a value may stray before it counts as a change: a number in the metric's unit (0.05) or a share of the baseline mean ("20%").`
	switch val.Type() {
	case cty.Number:
		v, _ := val.AsBigFloat().Float64()
		if v <= 0 || math.IsInf(v, 0) {
			*diags = append(*diags, attrError(attr, "Invalid value for tolerance", fmt.Sprintf("%g is not more than 0; %s", v, how)))
			return
		}
		m.ToleranceAbs = v
	case cty.String:
		s := val.AsString()
		pct, err := parsePercent(s)
		if err != nil || !strings.HasSuffix(strings.TrimSpace(s), "%") || pct <= 0 || math.IsInf(pct, 0) || math.IsNaN(pct) {
			*diags = append(*diags, attrError(attr, "Invalid value for tolerance", fmt.Sprintf("%q is not a percentage more than 0%%; %s", s, how)))
			return
		}
		m.ToleranceRel = pct / 100
	default:
		*diags = append(*diags, attrError(attr, "Invalid value for tolerance", how))
	}
}

// Aggregates a check may compare.
var Aggregates = []string{"all", "mean", "min", "max", "p50", "p95", "p99"}

var checkSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "metric", Required: true},
		{Name: "below"}, {Name: "above"}, {Name: "within"}, {Name: "max_change"},
		{Name: "aggregate"}, {Name: "during"}, {Name: "recover_within"},
		{Name: "for"},
	},
}

func (l *loader) decodeCheckBlock(b *hcl.Block, exp *Experiment) (*Check, hcl.Diagnostics) {
	content, diags := b.Body.Content(checkSchema)
	c := &Check{Name: b.Labels[0], Aggregate: "all", During: []string{PhaseFault, PhaseRecovery}, DeclRange: b.DefRange}
	a := content.Attributes
	if attr, ok := a["for"]; ok {
		diags = append(diags, rangeError(attr.NameRange, "Unsupported argument",
			"for belongs to abort blocks; a check looks at whole phases (during) and can require recovery in time (recover_within)."))
	}
	if attr, ok := a["metric"]; ok {
		c.Metric, _, diags = l.referenceInto(diags, attr, "metric", l.metricNames)
	}
	if attr, ok := a["below"]; ok {
		if v, ok, d := l.number(attr); ok {
			c.Below = &v
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["above"]; ok {
		if v, ok, d := l.number(attr); ok {
			c.Above = &v
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["within"]; ok {
		v, ok, d := l.typed(attr, cty.Tuple([]cty.Type{cty.Number, cty.Number}), "a band of two numbers, [low, high]")
		diags = append(diags, d...)
		if ok {
			lo, _ := v.Index(cty.NumberIntVal(0)).AsBigFloat().Float64()
			hi, _ := v.Index(cty.NumberIntVal(1)).AsBigFloat().Float64()
			switch {
			case math.IsInf(lo, 0) || math.IsInf(hi, 0):
				diags = append(diags, attrError(attr, "Invalid value for within", "within is a band of two finite numbers, [low, high]."))
			case lo > hi:
				diags = append(diags, attrError(attr, "Empty band",
					fmt.Sprintf("within = [%g, %g] has its low bound above its high bound; write [%g, %g].", lo, hi, hi, lo)))
			default:
				c.Within = &[2]float64{lo, hi}
			}
		}
	}
	if attr, ok := a["max_change"]; ok {
		val, ok, d := l.value(attr)
		diags = append(diags, d...)
		if ok {
			var pct float64
			var err error
			switch val.Type() {
			case cty.String:
				pct, err = parsePercent(val.AsString())
			case cty.Number:
				pct, _ = val.AsBigFloat().Float64()
			default:
				err = fmt.Errorf("not a percentage")
			}
			switch {
			case err != nil:
				diags = append(diags, attrError(attr, "Invalid value for max_change",
					"max_change is the largest change allowed against the baseline mean, as a percentage such as \"50%\"."))
			case pct <= 0 || math.IsInf(pct, 0) || math.IsNaN(pct):
				diags = append(diags, attrError(attr, "Invalid value for max_change",
					fmt.Sprintf("max_change must be more than 0%%, such as \"50%%\"; %g%% would fail on any noise.", pct)))
			default:
				frac := pct / 100
				c.MaxChange = &frac
			}
		}
	}
	if attr, ok := a["aggregate"]; ok {
		if s, ok, d := l.str(attr); ok {
			if !contains(Aggregates, s) {
				diags = append(diags, attrError(attr, "Invalid aggregate",
					fmt.Sprintf("aggregate %q is unknown%s; use one of %s.", s, suggestion(s, Aggregates), strings.Join(Aggregates, ", "))))
			} else {
				c.Aggregate = s
			}
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["during"]; ok {
		if phases, ok, d := l.stringList(attr); ok {
			c.During = nil
			seen := map[string]bool{}
			for _, ph := range phases {
				switch {
				case !contains(Phases, ph):
					diags = append(diags, attrError(attr, "Unknown phase",
						fmt.Sprintf("%q is not a phase%s; the phases are %s.", ph, suggestion(ph, Phases), strings.Join(Phases, ", "))))
				case seen[ph]:
					diags = append(diags, attrError(attr, "Duplicate phase", fmt.Sprintf("%q is listed twice in during.", ph)))
				default:
					seen[ph] = true
					c.During = append(c.During, ph)
				}
			}
			if len(phases) == 0 {
				diags = append(diags, attrError(attr, "No phase", "during lists the phases the check looks at, such as [\"fault\", \"recovery\"]; an empty list checks nothing."))
			}
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["recover_within"]; ok {
		if d, ok, more := l.duration(attr); ok {
			if d == 0 {
				diags = append(diags, attrError(attr, "Invalid recover_within", "recover_within must be greater than 0; leave it out to not check recovery time."))
			}
			c.RecoverWithin = d
		} else {
			diags = append(diags, more...)
		}
	}

	// Meaning: the operators must say something, and not contradict each other.
	if c.Below == nil && c.Above == nil && c.Within == nil && c.MaxChange == nil && !hasAny(a, "below", "above", "within", "max_change") {
		diags = append(diags, rangeError(b.DefRange, "Check without condition",
			"A check needs at least one of below, above, within or max_change to decide pass or fail."))
	}
	if c.Within != nil && (c.Below != nil || c.Above != nil) {
		diags = append(diags, rangeError(a["within"].NameRange, "Conflicting conditions",
			"within already sets both bounds; use either within or below/above."))
	}
	if c.Below != nil && c.Above != nil && *c.Below <= *c.Above {
		diags = append(diags, rangeError(a["below"].NameRange, "Contradicting conditions",
			fmt.Sprintf("No value is below %g and above %g at once, so the check could never pass. Did you mean within = [%g, %g]?", *c.Below, *c.Above, *c.Below, *c.Above)))
	}
	if c.MaxChange != nil && contains(c.During, PhaseBaseline) {
		diags = append(diags, rangeError(a["max_change"].NameRange, "max_change during the baseline",
			"max_change compares against the baseline mean, so it cannot also look at the baseline; remove \"baseline\" from during."))
	}
	if c.RecoverWithin > 0 && !contains(c.During, PhaseRecovery) {
		diags = append(diags, rangeError(a["recover_within"].NameRange, "recover_within without the recovery phase",
			"recover_within is judged in the recovery phase; add \"recovery\" to during."))
	}
	if c.RecoverWithin > 0 && exp.Recovery > 0 && c.RecoverWithin > exp.Recovery {
		diags = append(diags, rangeError(a["recover_within"].Expr.Range(), "recover_within longer than the recovery phase",
			fmt.Sprintf("recover_within is %s but the recovery phase lasts only %s, so recovery could never be seen; lengthen the experiment's recovery.", c.RecoverWithin, exp.Recovery)))
	}
	return c, diags
}

func (l *loader) referenceInto(diags hcl.Diagnostics, attr *hcl.Attribute, kind string, declared map[string]hcl.Range) (string, bool, hcl.Diagnostics) {
	s, ok, d := l.reference(attr, kind, declared)
	return s, ok, append(diags, d...)
}

var abortSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "metric", Required: true}, {Name: "above"}, {Name: "below"}, {Name: "for"},
		{Name: "within"}, {Name: "max_change"},
	},
}

func (l *loader) decodeAbortBlock(b *hcl.Block) (*Abort, hcl.Diagnostics) {
	content, diags := b.Body.Content(abortSchema)
	ab := &Abort{Name: b.Labels[0], DeclRange: b.DefRange}
	a := content.Attributes
	for _, name := range []string{"within", "max_change"} {
		if attr, ok := a[name]; ok {
			diags = append(diags, rangeError(attr.NameRange, "Unsupported argument",
				fmt.Sprintf("An abort guard fires on a plain bound: use above or below; %s belongs to check blocks.", name)))
		}
	}
	if attr, ok := a["metric"]; ok {
		ab.Metric, _, diags = l.referenceInto(diags, attr, "metric", l.metricNames)
	}
	if attr, ok := a["above"]; ok {
		if v, ok, d := l.number(attr); ok {
			ab.Above = &v
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["below"]; ok {
		if v, ok, d := l.number(attr); ok {
			ab.Below = &v
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["for"]; ok {
		if d, ok, more := l.duration(attr); ok {
			ab.For = d
		} else {
			diags = append(diags, more...)
		}
	}
	if !hasAny(a, "above", "below") {
		diags = append(diags, rangeError(b.DefRange, "Abort without condition",
			"An abort guard needs above or below: the bound beyond which the run stops harming."))
	}
	if ab.Above != nil && ab.Below != nil && *ab.Below >= *ab.Above {
		diags = append(diags, rangeError(a["below"].NameRange, "Contradicting conditions",
			fmt.Sprintf("Every value is above %g or below %g, so this guard would abort every run at once.", *ab.Above, *ab.Below)))
	}
	return ab, diags
}

func hasAny(attrs hcl.Attributes, names ...string) bool {
	for _, n := range names {
		if _, ok := attrs[n]; ok {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
