package experiments

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// LoadOptions are the inputs of a load besides the file: variable values from the
// command line and the environment.
type LoadOptions struct {
	// Vars are --var options, "name=value", applied in order after VarFiles.
	Vars []string
	// VarFiles are --var-file paths (HCL files of name = value), applied in order.
	VarFiles []string
	// Getenv looks up FAULTLINE_VAR_name; nil means no environment. An empty value
	// counts as unset.
	Getenv func(string) string
	// ReadFile reads the experiment and the var files; nil means os.ReadFile.
	ReadFile func(string) ([]byte, error)
}

// EnvVarPrefix is the prefix of environment variables that set experiment variables.
const EnvVarPrefix = "FAULTLINE_VAR_"

// Sources holds every file a load parsed, by name, for printing diagnostics with
// their source snippets (hcl.NewDiagnosticTextWriter).
type Sources map[string]*hcl.File

// Load reads, decodes and validates the experiment at path. The experiment is nil
// when the diagnostics hold an error; the sources are always returned.
func Load(path string, opts LoadOptions) (*Experiment, Sources, hcl.Diagnostics) {
	read := opts.ReadFile
	if read == nil {
		read = readLimited
	}
	src, err := read(path)
	if err != nil {
		var big *tooLargeError
		if errors.As(err, &big) {
			return nil, Sources{}, hcl.Diagnostics{tooLarge(path, "experiment file", big.size)}
		}
		return nil, Sources{}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read experiment file",
			Detail:   fmt.Sprintf("%v. Check the path and its permissions.", err),
		}}
	}
	return LoadSource(path, src, opts)
}

// LoadSource is Load for an experiment already in memory; filename names it in diagnostics.
// At most MaxDiagnostics diagnostics are returned, the last one counting the rest.
func LoadSource(filename string, src []byte, opts LoadOptions) (*Experiment, Sources, hcl.Diagnostics) {
	exp, files, diags := loadSource(filename, src, opts)
	return exp, files, limitDiagnostics(diags)
}

func loadSource(filename string, src []byte, opts LoadOptions) (*Experiment, Sources, hcl.Diagnostics) {
	if opts.ReadFile == nil {
		opts.ReadFile = readLimited
	}
	if diags := CheckSource(filename, "experiment file", src); diags.HasErrors() {
		return nil, Sources{}, diags
	}
	parser := hclparse.NewParser()
	file, diags := parser.ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, parser.Files(), diags
	}
	if diags = append(diags, checkNumberLiterals(file.Body)...); diags.HasErrors() {
		return nil, parser.Files(), diags
	}
	l := &loader{opts: opts, parser: parser, filename: filename}
	exp, more := l.load(file)
	diags = append(diags, more...)
	if diags.HasErrors() {
		exp = nil
	}
	return exp, parser.Files(), diags
}

// Block types of the language. Misplaced ones are in the schema only to give a better
// message than "unsupported block type".
var topSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "experiment", LabelNames: []string{"name"}},
		{Type: "prometheus"},
		{Type: "target", LabelNames: []string{"name"}},
		{Type: "fault", LabelNames: []string{"kind", "name"}},
		{Type: "metric", LabelNames: []string{"name"}},
		{Type: "check", LabelNames: []string{"name"}},
		{Type: "abort", LabelNames: []string{"name"}},
		{Type: "scrape", LabelNames: []string{"job"}},
		{Type: "probe", LabelNames: []string{"kind", "name"}},
		// Misplaced blocks, reported with a hint.
		{Type: "basic_auth"},
		{Type: "tls"},
	},
}

// loader holds the state of one load: the evaluation context grows from variables to
// locals before the other blocks are decoded.
type loader struct {
	opts     LoadOptions
	parser   *hclparse.Parser
	filename string
	ctx      *hcl.EvalContext

	// names of declared blocks, known before any block is decoded so that references
	// can be checked in any order.
	targetNames map[string]hcl.Range
	metricNames map[string]hcl.Range
	// sensitive holds the values of the variables marked sensitive.
	sensitive []string
}

func (l *loader) load(file *hcl.File) (*Experiment, hcl.Diagnostics) {
	content, diags := file.Body.Content(topSchema)
	byType := map[string][]*hcl.Block{}
	for _, b := range content.Blocks {
		byType[b.Type] = append(byType[b.Type], b)
	}
	for _, t := range []string{"basic_auth", "tls"} {
		for _, b := range byType[t] {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Misplaced %s block", t),
				Detail:   fmt.Sprintf("A %s block belongs inside the prometheus block%s.", t, map[string]string{"tls": " or an http probe"}[t]),
				Subject:  b.DefRange.Ptr(),
			})
		}
	}

	// Variables first: everything else may refer to them, and decoding the rest with
	// broken variables would only bury the real mistake under its consequences.
	vars, values, vdiags := l.decodeVariables(byType["variable"])
	diags = append(diags, vdiags...)
	if vdiags.HasErrors() {
		return nil, diags
	}
	l.ctx = &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(values)},
		Functions: functions(),
	}
	ldiags := l.decodeLocals(byType["locals"])
	diags = append(diags, ldiags...)
	if ldiags.HasErrors() {
		return nil, diags
	}

	exp := &Experiment{Filename: l.filename, Variables: vars, SensitiveValues: l.sensitive}
	diags = append(diags, l.decodeBody(exp, byType, file)...)
	return exp, diags
}

// checkNumberLiterals rejects numbers beyond float64's range, also when written in a
// string that HCL would convert ("1e99999999" * 1). HCL keeps numbers as
// arbitrary-precision floats, and turning such a number into text (in a template,
// or in a message) takes minutes and gigabytes.
func checkNumberLiterals(body hcl.Body) hcl.Diagnostics {
	syntaxBody, ok := body.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	return hclsyntax.VisitAll(syntaxBody, func(n hclsyntax.Node) hcl.Diagnostics {
		// A quoted string is a template whose parts are literals: visited too.
		if lit, ok := n.(*hclsyntax.LiteralValueExpr); ok && outOfRange(lit.Val) {
			return hcl.Diagnostics{numberOutOfRange(lit.SrcRange)}
		}
		return nil
	})
}

func numberOutOfRange(r hcl.Range) *hcl.Diagnostic {
	return rangeError(r, "Number out of range",
		"This number is beyond what faultline can use (about ±1e308); write a smaller one.")
}

var exponentNumber = regexp.MustCompile(`^\s*[-+]?[0-9]*\.?[0-9]*[eE][-+]?[0-9]+\s*$`)

// outOfRange reports whether v is a number, or a string holding one, beyond float64.
func outOfRange(v cty.Value) bool {
	if v.IsNull() || !v.IsKnown() {
		return false
	}
	var bf *big.Float
	switch v.Type() {
	case cty.Number:
		bf = v.AsBigFloat()
	case cty.String:
		s := v.AsString()
		if len(s) > 64 || !exponentNumber.MatchString(s) {
			return false
		}
		f, _, err := big.ParseFloat(strings.TrimSpace(s), 10, 64, big.ToNearestEven)
		if err != nil {
			return false
		}
		bf = f
	default:
		return false
	}
	if bf.Sign() == 0 || bf.IsInf() {
		return false
	}
	exp := bf.MantExp(nil)
	return exp > 1024 || exp < -1074
}

var (
	functionsOnce sync.Once
	functionTable map[string]function.Function
)

// functions is cty's standard library under the names Terraform users know.
func functions() map[string]function.Function {
	functionsOnce.Do(func() {
		functionTable = map[string]function.Function{
			"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "floor": stdlib.FloorFunc,
			"max": stdlib.MaxFunc, "min": stdlib.MinFunc, "pow": stdlib.PowFunc,
			"log": stdlib.LogFunc, "signum": stdlib.SignumFunc, "parseint": stdlib.ParseIntFunc,
			"upper": stdlib.UpperFunc, "lower": stdlib.LowerFunc, "title": stdlib.TitleFunc,
			"format": stdlib.FormatFunc, "formatlist": stdlib.FormatListFunc,
			"join": stdlib.JoinFunc, "split": stdlib.SplitFunc, "replace": stdlib.ReplaceFunc,
			"regex": stdlib.RegexFunc, "regexall": stdlib.RegexAllFunc, "regex_replace": stdlib.RegexReplaceFunc,
			"trim": stdlib.TrimFunc, "trimprefix": stdlib.TrimPrefixFunc, "trimsuffix": stdlib.TrimSuffixFunc,
			"trimspace": stdlib.TrimSpaceFunc, "chomp": stdlib.ChompFunc, "indent": stdlib.IndentFunc,
			"strrev": stdlib.ReverseFunc, "strlen": stdlib.StrlenFunc, "substr": stdlib.SubstrFunc,
			"concat": stdlib.ConcatFunc, "length": stdlib.LengthFunc, "element": stdlib.ElementFunc,
			"coalesce": stdlib.CoalesceFunc, "coalescelist": stdlib.CoalesceListFunc,
			"compact": stdlib.CompactFunc, "contains": stdlib.ContainsFunc, "distinct": stdlib.DistinctFunc,
			"chunklist": stdlib.ChunklistFunc, "flatten": stdlib.FlattenFunc, "keys": stdlib.KeysFunc,
			"values": stdlib.ValuesFunc, "lookup": stdlib.LookupFunc, "merge": stdlib.MergeFunc,
			"reverse": stdlib.ReverseListFunc, "slice": stdlib.SliceFunc, "sort": stdlib.SortFunc,
			"zipmap": stdlib.ZipmapFunc, "index": stdlib.IndexFunc,
			"jsonencode": stdlib.JSONEncodeFunc, "jsondecode": stdlib.JSONDecodeFunc,
			"csvdecode": stdlib.CSVDecodeFunc, "formatdate": stdlib.FormatDateFunc,
			"timeadd":  stdlib.TimeAddFunc,
			"tostring": stdlib.MakeToFunc(cty.String), "tonumber": stdlib.MakeToFunc(cty.Number),
			"tobool": stdlib.MakeToFunc(cty.Bool),
			"tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
			"tomap":  stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
			"toset":  stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		}
	})
	return functionTable
}

// FunctionNames lists the functions expressions may call, for the docs.
func FunctionNames() []string {
	names := make([]string, 0, len(functions()))
	for n := range functions() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
