package experiments

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/faultline/faultline/faults"
	"github.com/hashicorp/hcl/v2"
)

var update = flag.Bool("update", false, "rewrite the generated sections of docs/language.md")

const (
	docsPath      = "../docs/language.md"
	kindsBegin    = "<!-- BEGIN GENERATED FAULT KINDS: go test ./experiments -run TestLanguageDocs -update -->"
	kindsEnd      = "<!-- END GENERATED FAULT KINDS -->"
	functionBegin = "<!-- BEGIN GENERATED FUNCTIONS -->"
	functionEnd   = "<!-- END GENERATED FUNCTIONS -->"
)

// faultKindsMarkdown is the reference of every fault kind, from the registry.
func faultKindsMarkdown() string {
	var b strings.Builder
	for _, k := range faults.Kinds() {
		fmt.Fprintf(&b, "\n### %s\n\n%s\n\n", k.Name, k.Summary)
		fmt.Fprintf(&b, "Category: %s.", k.Category)
		if k.Instant {
			b.WriteString(" Instant: it takes no `duration`.")
		}
		if durationOptional(k) {
			b.WriteString(" `duration` is optional: without it the fault is a single event.")
		}
		if len(k.AtLeastOne) > 0 {
			fmt.Fprintf(&b, " Needs at least one of `%s`.", strings.Join(k.AtLeastOne, "`, `"))
		}
		b.WriteString("\n\n")
		if len(k.Params) == 0 {
			b.WriteString("No parameters besides the common ones.\n")
			continue
		}
		b.WriteString("| parameter | type | default | bounds | description |\n|---|---|---|---|---|\n")
		for _, p := range k.Params {
			def := FormatDefault(p)
			switch {
			case p.Required:
				def = "required"
			case def == "":
				def = "none"
			default:
				def = "`" + def + "`"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", p.Name, p.Type, def,
				strings.ReplaceAll(FormatBounds(p), "|", `\|`), strings.ReplaceAll(p.Doc, "|", `\|`))
		}
	}
	return b.String()
}

func functionsMarkdown() string {
	names := FunctionNames()
	for i, n := range names {
		names[i] = "`" + n + "`"
	}
	return "\n" + strings.Join(names, ", ") + "\n"
}

// replaceBetween swaps the text between two marker lines.
func replaceBetween(doc, begin, end, body string) (string, error) {
	i := strings.Index(doc, begin)
	j := strings.Index(doc, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("markers %q and %q not found in order", begin, end)
	}
	return doc[:i+len(begin)] + "\n" + body + "\n" + doc[j:], nil
}

// TestLanguageDocs keeps docs/language.md and the registry from drifting apart: the
// fault kinds section is generated (-update rewrites it) and must match, and every
// block attribute the loader accepts is documented.
func TestLanguageDocs(t *testing.T) {
	src, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src)
	want, err := replaceBetween(doc, kindsBegin, kindsEnd, faultKindsMarkdown())
	if err != nil {
		t.Fatal(err)
	}
	if want, err = replaceBetween(want, functionBegin, functionEnd, functionsMarkdown()); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(docsPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		doc = want
	}
	if doc != want {
		t.Errorf("the generated sections of %s are out of date with the registry; run: go test ./experiments -run TestLanguageDocs -update", docsPath)
	}
	for _, k := range faults.Kinds() {
		for _, p := range k.Params {
			if !strings.Contains(doc, "`"+p.Name+"`") {
				t.Errorf("parameter %s of %s is not in %s", p.Name, k.Name, docsPath)
			}
		}
	}
	schemas := map[string][]string{
		"variable": attrNames(variableSchema.Attributes), "experiment": attrNames(experimentSchema.Attributes),
		"prometheus": attrNames(prometheusSchema.Attributes), "basic_auth": attrNames(basicAuthSchema.Attributes),
		"tls": attrNames(tlsSchema.Attributes), "target": attrNames(targetSchema.Attributes),
		"fault": CommonFaultAttributes, "metric": attrNames(metricSchema.Attributes),
		"check": attrNames(checkSchema.Attributes), "abort": attrNames(abortSchema.Attributes),
		"scrape": attrNames(scrapeSchema.Attributes), "probe": append(attrNames(httpProbeSchema.Attributes),
			append(attrNames(tcpProbeSchema.Attributes), attrNames(probeTLSSchema.Attributes)...)...),
	}
	for block, attrs := range schemas {
		if !strings.Contains(doc, "## "+block) && !strings.Contains(doc, "### "+block) {
			t.Errorf("block %s has no section in %s", block, docsPath)
		}
		for _, a := range attrs {
			if !strings.Contains(doc, "`"+a+"`") {
				t.Errorf("attribute %s of %s is not in %s", a, block, docsPath)
			}
		}
	}
}

func attrNames(attrs []hcl.AttributeSchema) []string {
	out := make([]string, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a.Name)
	}
	return out
}

// TestREADMEExample keeps the README's experiment loadable.
func TestREADMEExample(t *testing.T) {
	src, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := 0
	for i, part := range strings.Split(string(src), "```hcl\n")[1:] {
		body, _, ok := strings.Cut(part, "\n```")
		if !ok {
			t.Fatalf("README.md: HCL block %d is not closed", i+1)
		}
		blocks++
		if _, _, diags := LoadSource(fmt.Sprintf("README.md block %d", i+1), []byte(body), LoadOptions{}); diags.HasErrors() {
			t.Errorf("README.md block %d: %s", i+1, diags.Error())
		}
	}
	if blocks == 0 {
		t.Error("README.md holds no HCL example")
	}
	// The "your own Prometheus" snippet, added to the experiment, loads with the
	// --var options of the command beside it.
	experiment, _, _ := strings.Cut(strings.Split(string(src), "```hcl\n")[1], "\n```")
	varOpt := regexp.MustCompile("--var ([a-z_]+=[^\\s\"'`]+)")
	parts := strings.Split(string(src), "```terraform\n")
	for i, part := range parts[1:] {
		body, _, _ := strings.Cut(part, "\n```")
		// The command is in the sh block just before the snippet.
		before := parts[i]
		if j := strings.LastIndex(before, "```sh\n"); j >= 0 {
			before = before[j:]
		}
		opts := LoadOptions{}
		for _, v := range varOpt.FindAllStringSubmatch(before, -1) {
			opts.Vars = append(opts.Vars, v[1])
		}
		if len(opts.Vars) == 0 {
			t.Errorf("README.md snippet %d: no command with --var before it", i+1)
		}
		if _, _, diags := LoadSource(fmt.Sprintf("README.md snippet %d with the experiment", i+1), []byte(experiment+"\n"+body), opts); diags.HasErrors() {
			t.Errorf("README.md snippet %d added to the experiment: %s", i+1, diags.Error())
		}
	}
}
