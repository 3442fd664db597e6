// Package gameday loads a game-day file: the server block of `faultline serve`, its
// schedules (which experiment, when, in which windows, with which variables) and its
// notifiers. Mistakes come back as hcl.Diagnostics with file, line and column, all of
// them at once, the way experiments load.
package gameday

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
	_ "time/tzdata" // time_zone works in a binary FROM scratch, with no zoneinfo on disk

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/serve/schedule"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// DefaultListen is where serve listens unless the file says otherwise: loopback only.
const DefaultListen = "127.0.0.1:7070"

// File is a loaded game-day file.
type File struct {
	// Path is the file as given.
	Path string
	// Server is the server block.
	Server Server
	// Schedules are the schedule blocks in file order.
	Schedules []*Schedule
	// Notifiers are the notify blocks in file order.
	Notifiers []*Notifier
}

// Server is the server block.
type Server struct {
	// Listen is the host:port of the web UI, the API and /metrics.
	Listen string
	// TokenFile holds the token that guards every change (resolved against the file's
	// directory).
	TokenFile string
	// DataDir holds the history (resolved against the file's directory).
	DataDir string
	// Location is time_zone; UTC when unset.
	Location *time.Location
	// PublicURL is where people reach the UI (public_url, "https://faultline.example"
	// behind a proxy); notifications link to runs under it. Empty: the links are paths.
	PublicURL string
	DeclRange hcl.Range
}

// Schedule is one schedule block.
type Schedule struct {
	Name string
	// Experiment is the experiment file (resolved against the game-day file's directory).
	Experiment string
	// ExperimentName is the name of the experiment block in that file when the file
	// was loaded, "" when it could not be read: runs are recorded under it.
	ExperimentName string
	// Spec is when it runs.
	Spec *schedule.Spec
	// Vars are the experiment variables it sets, as name=value (like --var).
	Vars map[string]string
	// MaxScoreDrop and MaxRecoveryIncrease are the schedule's regression limits
	// against its last passing run (max_score_drop, max_recovery_increase); nil: serve's
	// defaults.
	MaxScoreDrop        *float64
	MaxRecoveryIncrease *time.Duration
	DeclRange           hcl.Range
	// ExperimentRange points at the experiment attribute.
	ExperimentRange hcl.Range
}

// VarFlags returns the variables as --var values, sorted by name.
func (s *Schedule) VarFlags() []string {
	out := make([]string, 0, len(s.Vars))
	for k, v := range s.Vars {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Notifier is one notify block.
type Notifier struct {
	// Kind is the first label ("webhook"); Name the second.
	Kind, Name string
	// URLEnv and SecretEnv name the environment variables holding the URL and the
	// signing secret (never the values: they are secrets).
	URLEnv, SecretEnv string
	// On lists the events it is sent for.
	On        []string
	DeclRange hcl.Range
}

// Events a notifier can be sent for.
var Events = []string{"passed", "failed", "aborted", "interrupted", "error", "skipped", "regressed", "revert_failed"}

// DefaultEvents are the events of a notify block without on: every run that did not
// pass, also one stopped by HALT or found cut short after serve was killed
// (interrupted), except skipped starts.
var DefaultEvents = []string{"failed", "aborted", "interrupted", "error", "regressed", "revert_failed"}

// Sources holds every parsed file by name, for printing diagnostics with snippets.
type Sources = experiments.Sources

// Options are the inputs of a load besides the file.
type Options struct {
	// ReadFile reads files; nil means os.ReadFile.
	ReadFile func(string) ([]byte, error)
	// CheckExperiments also loads every schedule's experiment with its variables, so
	// that a broken experiment is found before the day it is due.
	CheckExperiments bool
	// Getenv is passed to the experiment loads (FAULTLINE_VAR_name).
	Getenv func(string) string
}

var topSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "server"},
		{Type: "schedule", LabelNames: []string{"name"}},
		{Type: "notify", LabelNames: []string{"kind", "name"}},
		// Experiment blocks, listed to say that they belong in their own file.
		{Type: "experiment", LabelNames: []string{"name"}},
	},
}

// LooksLikeGameDay says whether src is a game-day file rather than an experiment: it
// has a server or schedule block at the top and no experiment block.
func LooksLikeGameDay(src []byte, filename string) bool {
	if experiments.CheckSource(filename, "game-day file", src).HasErrors() {
		return false // too large, not text or nested too deep: the experiment loader says so
	}
	f, diags := hclparse.NewParser().ParseHCL(src, filename)
	if diags.HasErrors() || f == nil {
		return false
	}
	content, _, _ := f.Body.PartialContent(topSchema)
	if content == nil {
		return false
	}
	game := false
	for _, b := range content.Blocks {
		switch b.Type {
		case "experiment":
			return false
		case "server", "schedule":
			game = true
		}
	}
	return game
}

var experimentSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "experiment", LabelNames: []string{"name"}}}}

// ExperimentName is the name of the experiment block of an experiment file's source,
// read without loading the experiment (no variables, no functions), or "" when the
// source has no single experiment block.
func ExperimentName(src []byte, filename string) string {
	if experiments.CheckSource(filename, "experiment file", src).HasErrors() {
		return ""
	}
	f, diags := hclparse.NewParser().ParseHCL(src, filename)
	if diags.HasErrors() || f == nil {
		return ""
	}
	content, _, _ := f.Body.PartialContent(experimentSchema)
	if content == nil || len(content.Blocks) != 1 {
		return ""
	}
	return content.Blocks[0].Labels[0]
}

// Load reads and decodes the game-day file at path. The file is nil when the
// diagnostics hold an error; the sources are always returned.
func Load(path string, opts Options) (*File, Sources, hcl.Diagnostics) {
	read := opts.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	src, err := read(path)
	if err != nil {
		return nil, Sources{}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read game-day file",
			Detail:   fmt.Sprintf("%v. Check the path and its permissions.", err),
		}}
	}
	parser := hclparse.NewParser()
	// The experiment language's bounds on size, text and nesting, before HCL's parser
	// (which a deeply nested file overflows).
	if diags := experiments.CheckSource(path, "game-day file", src); diags.HasErrors() {
		return nil, parser.Files(), diags
	}
	file, diags := parser.ParseHCL(src, path)
	if diags.HasErrors() {
		return nil, parser.Files(), diags
	}
	l := &loader{dir: filepath.Dir(path), opts: opts, read: read}
	out, more := l.decode(path, file)
	diags = append(diags, more...)
	sources := parser.Files()
	if opts.CheckExperiments && !diags.HasErrors() {
		for _, s := range out.Schedules {
			_, files, ediags := experiments.Load(s.Experiment, experiments.LoadOptions{Vars: s.VarFlags(), Getenv: opts.Getenv, ReadFile: read})
			for name, f := range files {
				sources[name] = f
			}
			for _, d := range ediags {
				if d.Subject == nil {
					d.Subject = s.ExperimentRange.Ptr()
				}
				d.Detail = strings.TrimSpace(d.Detail + fmt.Sprintf(" (experiment of schedule %q)", s.Name))
			}
			diags = append(diags, ediags...)
		}
	}
	if diags.HasErrors() {
		return nil, sources, diags
	}
	return out, sources, diags
}

type loader struct {
	dir  string
	opts Options
	read func(string) ([]byte, error)
}

func (l *loader) decode(path string, file *hcl.File) (*File, hcl.Diagnostics) {
	content, diags := file.Body.Content(topSchema)
	out := &File{Path: path}
	var servers, schedules, notifies []*hcl.Block
	for _, b := range content.Blocks {
		switch b.Type {
		case "server":
			servers = append(servers, b)
		case "schedule":
			schedules = append(schedules, b)
		case "notify":
			notifies = append(notifies, b)
		case "experiment":
			diags = append(diags, rangeError(b.DefRange, "Experiment in a game-day file",
				"An experiment block belongs in its own file; a schedule names that file with experiment = \"checkout.hcl\"."))
		}
	}
	// The server block first: the schedules read its time zone.
	switch len(servers) {
	case 0:
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing server block",
			Detail:  "A game-day file needs a server block with at least token_file and data_dir:\n  server {\n    token_file = \"token\"\n    data_dir   = \"history\"\n  }",
			Subject: hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}.Ptr()})
		out.Server.Location = time.UTC
	default:
		for _, b := range servers[1:] {
			diags = append(diags, rangeError(b.DefRange, "Duplicate server block",
				fmt.Sprintf("A game-day file has one server block; the first is at %s.", servers[0].DefRange)))
		}
		srv, sdiags := l.decodeServerBlock(servers[0])
		diags = append(diags, sdiags...)
		out.Server = *srv
	}
	if len(schedules) == 0 && len(servers) > 0 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "No schedule",
			Detail:  "Nothing will run on its own; add a schedule block, or trigger runs from the UI or the API.",
			Subject: servers[0].DefRange.Ptr()})
	}
	seen := map[string]hcl.Range{}
	for _, b := range schedules {
		name := b.Labels[0]
		if prev, ok := seen[name]; ok {
			diags = append(diags, rangeError(b.LabelRanges[0], "Duplicate schedule block",
				fmt.Sprintf("A schedule named %q was already declared at %s; give each one its own name.", name, prev)))
			continue
		}
		seen[name] = b.DefRange
		s, sdiags := l.decodeScheduleBlock(b, out.Server.Location)
		diags = append(diags, sdiags...)
		if s != nil {
			out.Schedules = append(out.Schedules, s)
		}
	}
	seenNotify := map[string]hcl.Range{}
	for _, b := range notifies {
		key := b.Labels[0] + "." + b.Labels[1]
		if prev, ok := seenNotify[key]; ok {
			diags = append(diags, rangeError(b.LabelRanges[1], "Duplicate notify block",
				fmt.Sprintf("A notify %q %q was already declared at %s.", b.Labels[0], b.Labels[1], prev)))
			continue
		}
		seenNotify[key] = b.DefRange
		n, ndiags := decodeNotifyBlock(b)
		diags = append(diags, ndiags...)
		if n != nil {
			out.Notifiers = append(out.Notifiers, n)
		}
	}
	return out, diags
}

func rangeError(r hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: r.Ptr()}
}

func attrError(attr *hcl.Attribute, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail,
		Subject: attr.Expr.Range().Ptr(), Context: attr.Range.Ptr()}
}

// typed evaluates attr (literals only: the file has no variables) into want.
func typed(attr *hcl.Attribute, want cty.Type, what string) (cty.Value, hcl.Diagnostics) {
	val, diags := attr.Expr.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	conv, err := convert.Convert(val, want)
	if err != nil || conv.IsNull() || !conv.IsWhollyKnown() {
		detail := fmt.Sprintf("%s must be %s.", attr.Name, what)
		if err != nil {
			detail = fmt.Sprintf("%s must be %s: %s.", attr.Name, what, err)
		}
		return cty.NilVal, append(diags, attrError(attr, fmt.Sprintf("Invalid value for %s", attr.Name), detail))
	}
	return conv, diags
}

func str(diags *hcl.Diagnostics, attr *hcl.Attribute) (string, bool) {
	if attr == nil {
		return "", false
	}
	v, d := typed(attr, cty.String, "a string")
	*diags = append(*diags, d...)
	if d.HasErrors() {
		return "", false
	}
	return v.AsString(), true
}

func strList(diags *hcl.Diagnostics, attr *hcl.Attribute) ([]string, bool) {
	v, d := typed(attr, cty.List(cty.String), "a list of strings, such as [\"a\", \"b\"]")
	*diags = append(*diags, d...)
	if d.HasErrors() {
		return nil, false
	}
	var out []string
	for _, e := range v.AsValueSlice() {
		if e.IsNull() {
			*diags = append(*diags, attrError(attr, fmt.Sprintf("Invalid value for %s", attr.Name), attr.Name+" holds a null; every entry must be a string."))
			return nil, false
		}
		out = append(out, e.AsString())
	}
	return out, true
}

func (l *loader) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(l.dir, p)
}

var serverSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "listen"}, {Name: "token_file", Required: true}, {Name: "data_dir", Required: true}, {Name: "time_zone"}, {Name: "public_url"},
}}

func (l *loader) decodeServerBlock(b *hcl.Block) (*Server, hcl.Diagnostics) {
	content, diags := b.Body.Content(serverSchema)
	srv := &Server{Listen: DefaultListen, Location: time.UTC, DeclRange: b.DefRange}
	if attr := content.Attributes["listen"]; attr != nil {
		if v, ok := str(&diags, attr); ok {
			if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
				diags = append(diags, attrError(attr, "Invalid listen address",
					fmt.Sprintf("%q is not host:port; write one such as %q (loopback) or \"0.0.0.0:7070\" (every interface).", v, DefaultListen)))
			} else {
				srv.Listen = v
			}
		}
	}
	if v, ok := str(&diags, content.Attributes["token_file"]); ok {
		if strings.TrimSpace(v) == "" {
			diags = append(diags, attrError(content.Attributes["token_file"], "Empty token_file", "Name the file that holds the token, such as \"/etc/faultline/token\" (mode 0600)."))
		}
		srv.TokenFile = l.path(v)
	}
	if v, ok := str(&diags, content.Attributes["data_dir"]); ok {
		if strings.TrimSpace(v) == "" {
			diags = append(diags, attrError(content.Attributes["data_dir"], "Empty data_dir", "Name the directory for the history, such as \"/var/lib/faultline/serve\"."))
		}
		srv.DataDir = l.path(v)
	}
	if attr := content.Attributes["time_zone"]; attr != nil {
		if v, ok := str(&diags, attr); ok {
			loc, err := time.LoadLocation(v)
			if err != nil || v == "" || v == "Local" {
				diags = append(diags, attrError(attr, "Unknown time zone",
					fmt.Sprintf("%q is not an IANA time zone; write one such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\".", v)))
			} else {
				srv.Location = loc
			}
		}
	}
	if attr := content.Attributes["public_url"]; attr != nil {
		if v, ok := str(&diags, attr); ok {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
				diags = append(diags, attrError(attr, "Invalid public_url",
					fmt.Sprintf("%q is not an http or https URL of the UI; write one such as \"https://faultline.example\" or \"http://10.0.0.5:7070\".", v)))
			} else {
				srv.PublicURL = strings.TrimSuffix(v, "/")
			}
		}
	}
	return srv, diags
}

var scheduleSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "experiment", Required: true}, {Name: "cron", Required: true}, {Name: "jitter"},
		{Name: "max_score_drop"}, {Name: "max_recovery_increase"},
		{Name: "vars"}, {Name: "missed"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "only"}, {Type: "never"}},
}

var scheduleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func (l *loader) decodeScheduleBlock(b *hcl.Block, loc *time.Location) (*Schedule, hcl.Diagnostics) {
	content, diags := b.Body.Content(scheduleSchema)
	name := b.Labels[0]
	if !scheduleName.MatchString(name) || len(name) > 100 {
		diags = append(diags, rangeError(b.LabelRanges[0], "Invalid schedule name",
			fmt.Sprintf("The name %q appears in URLs and metric labels: use letters, digits, '.', '_' and '-', starting with a letter or digit.", name)))
	}
	s := &Schedule{Name: name, DeclRange: b.DefRange, Vars: map[string]string{},
		Spec: &schedule.Spec{Name: name, Location: loc, Missed: schedule.MissedSkip}}
	if attr := content.Attributes["experiment"]; attr != nil {
		s.ExperimentRange = attr.Expr.Range()
		if v, ok := str(&diags, attr); ok {
			s.Experiment = l.path(v)
			if src, err := l.read(s.Experiment); err != nil {
				diags = append(diags, attrError(attr, "Cannot read experiment file",
					fmt.Sprintf("%v. A relative path is read from the game-day file's directory (%s).", err, l.dir)))
			} else {
				s.ExperimentName = ExperimentName(src, s.Experiment)
			}
		}
	}
	if attr := content.Attributes["cron"]; attr != nil {
		if v, ok := str(&diags, attr); ok {
			c, err := schedule.ParseCron(v)
			if err != nil {
				diags = append(diags, attrError(attr, "Invalid cron expression", err.Error()+"."))
			} else {
				s.Spec.Cron, s.Spec.CronText = c, v
			}
		}
	}
	if attr := content.Attributes["jitter"]; attr != nil {
		if v, ok := str(&diags, attr); ok {
			d, err := experiments.ParseDuration(v)
			if err != nil {
				diags = append(diags, attrError(attr, "Invalid duration", err.Error()+"."))
			}
			s.Spec.Jitter = d
		}
	}
	if attr := content.Attributes["missed"]; attr != nil {
		if v, ok := str(&diags, attr); ok {
			m, err := schedule.ParseMissed(v)
			if err != nil {
				diags = append(diags, attrError(attr, "Invalid missed policy", err.Error()+"."))
			}
			s.Spec.Missed = m
		}
	}
	if attr := content.Attributes["max_score_drop"]; attr != nil {
		v, d := typed(attr, cty.Number, "a number of points, such as 5")
		diags = append(diags, d...)
		if !d.HasErrors() {
			f, _ := v.AsBigFloat().Float64()
			if f < 0 || f > 100 {
				diags = append(diags, attrError(attr, "Invalid max_score_drop", fmt.Sprintf("%g is not between 0 and 100: it is the drop of the score, in points, that a run may show against the last passing run before it counts as regressed.", f)))
			} else {
				s.MaxScoreDrop = &f
			}
		}
	}
	if attr := content.Attributes["max_recovery_increase"]; attr != nil {
		if v, ok := str(&diags, attr); ok {
			if d, err := experiments.ParseDuration(v); err != nil {
				diags = append(diags, attrError(attr, "Invalid duration", err.Error()+"."))
			} else {
				s.MaxRecoveryIncrease = &d
			}
		}
	}
	if attr := content.Attributes["vars"]; attr != nil {
		diags = append(diags, decodeVars(attr, s.Vars)...)
	}
	var onlyBlocks []*hcl.Block
	for _, blk := range content.Blocks {
		switch blk.Type {
		case "only":
			onlyBlocks = append(onlyBlocks, blk)
		case "never":
			bo, bdiags := decodeNeverBlock(blk, loc)
			diags = append(diags, bdiags...)
			if bo != nil {
				s.Spec.Never = append(s.Spec.Never, *bo)
			}
		}
	}
	for i, blk := range onlyBlocks {
		if i > 0 {
			diags = append(diags, rangeError(blk.DefRange, "Duplicate only block",
				"A schedule has one only block; list every day in its days and keep one range of hours."))
			continue
		}
		w, wdiags := decodeOnlyBlock(blk)
		diags = append(diags, wdiags...)
		s.Spec.Only = w
	}
	return s, diags
}

// decodeVars reads vars = { name = value }: values are strings, numbers or bools,
// passed to the experiment as --var name=value.
func decodeVars(attr *hcl.Attribute, into map[string]string) hcl.Diagnostics {
	val, diags := attr.Expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	if !val.Type().IsObjectType() && !val.Type().IsMapType() {
		return append(diags, attrError(attr, "Invalid value for vars", "vars must be a map of variable names to values, such as { prometheus_url = \"http://prom:9090\" }."))
	}
	for k, v := range val.AsValueMap() {
		sv, err := convert.Convert(v, cty.String)
		if err != nil || sv.IsNull() {
			diags = append(diags, attrError(attr, "Invalid value for vars",
				fmt.Sprintf("The variable %q must be a string, a number or a bool.", k)))
			continue
		}
		into[k] = sv.AsString()
	}
	return diags
}

var onlySchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "days"}, {Name: "hours"}}}

func decodeOnlyBlock(b *hcl.Block) (*schedule.Window, hcl.Diagnostics) {
	content, diags := b.Body.Content(onlySchema)
	w := &schedule.Window{}
	if attr := content.Attributes["days"]; attr != nil {
		if list, ok := strList(&diags, attr); ok {
			days, err := schedule.ParseDays(list)
			if err != nil {
				diags = append(diags, attrError(attr, "Invalid days", err.Error()+"."))
			}
			w.Days = days
		}
	}
	if attr := content.Attributes["hours"]; attr != nil {
		if v, ok := str(&diags, attr); ok {
			from, to, err := schedule.ParseHours(v)
			if err != nil {
				diags = append(diags, attrError(attr, "Invalid hours", err.Error()+"."))
			}
			w.From, w.To = from, to
		}
	}
	if content.Attributes["days"] == nil && content.Attributes["hours"] == nil {
		diags = append(diags, rangeError(b.DefRange, "Empty only block",
			"Say when runs may start: days = [\"mon-fri\"], hours = \"09:00-16:00\", or both."))
	}
	return w, diags
}

var neverSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "from", Required: true}, {Name: "to", Required: true}}}

func decodeNeverBlock(b *hcl.Block, loc *time.Location) (*schedule.Blackout, hcl.Diagnostics) {
	content, diags := b.Body.Content(neverSchema)
	from, ok1 := str(&diags, content.Attributes["from"])
	to, ok2 := str(&diags, content.Attributes["to"])
	if !ok1 || !ok2 {
		return nil, diags
	}
	bo, err := schedule.ParseBlackout(from, to, loc)
	if err != nil {
		return nil, append(diags, rangeError(b.DefRange, "Invalid blackout window", err.Error()+"."))
	}
	return &bo, diags
}

var notifySchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "url_env", Required: true}, {Name: "on"}, {Name: "secret_env"},
	// Listed to say that secrets are never written in the file.
	{Name: "url"}, {Name: "secret"},
}}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func decodeNotifyBlock(b *hcl.Block) (*Notifier, hcl.Diagnostics) {
	content, diags := b.Body.Content(notifySchema)
	n := &Notifier{Kind: b.Labels[0], Name: b.Labels[1], DeclRange: b.DefRange, On: append([]string(nil), DefaultEvents...)}
	if n.Kind != "webhook" {
		diags = append(diags, rangeError(b.LabelRanges[0], "Unknown notifier kind",
			fmt.Sprintf("%q is not a notifier; write notify \"webhook\" %q (a JSON POST that Slack, Mattermost and most chat tools accept).", n.Kind, n.Name)))
	}
	for _, secret := range []string{"url", "secret"} {
		if attr := content.Attributes[secret]; attr != nil {
			diags = append(diags, attrError(attr, "Secret in the file",
				fmt.Sprintf("A webhook %s is a secret: put it in an environment variable and name that with %s_env = \"ONCALL_WEBHOOK_%s\".", secret, secret, strings.ToUpper(secret))))
		}
	}
	for _, name := range []string{"url_env", "secret_env"} {
		attr := content.Attributes[name]
		v, ok := str(&diags, attr)
		if !ok {
			continue
		}
		if !envName.MatchString(v) {
			diags = append(diags, attrError(attr, "Invalid environment variable name",
				fmt.Sprintf("%q is not an environment variable name; write one such as \"ONCALL_WEBHOOK_URL\".", v)))
		}
		if name == "url_env" {
			n.URLEnv = v
		} else {
			n.SecretEnv = v
		}
	}
	if attr := content.Attributes["on"]; attr != nil {
		if list, ok := strList(&diags, attr); ok {
			for _, e := range list {
				found := false
				for _, known := range Events {
					found = found || e == known
				}
				if !found {
					diags = append(diags, attrError(attr, "Unknown event",
						fmt.Sprintf("%q is not an event; use any of %s.", e, strings.Join(Events, ", "))))
				}
			}
			n.On = list
		}
	}
	return n, diags
}
