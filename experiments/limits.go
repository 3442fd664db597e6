package experiments

import (
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Limits on what the loader reads. An experiment is a few kilobytes written by a
// person; a file far beyond these is the wrong file or an attack, and the HCL parser
// would spend minutes or overflow its stack on it. Each is checked before the bytes
// reach the parser, and each has a message saying how to proceed.
const (
	// MaxFileBytes bounds an experiment file and a --var-file.
	MaxFileBytes = 1 << 20
	// MaxNesting bounds how deeply brackets, parentheses, braces, strings, template
	// interpolations and directives, and runs of unary operators may nest.
	MaxNesting = 64
	// MaxOperators bounds the binary operators of one expression (between brackets).
	MaxOperators = 500
	// MaxDiagnostics bounds the diagnostics of one load: the first ones are kept, and
	// one more says how many were left out.
	MaxDiagnostics = 100
)

// readLimited reads path with os.ReadFile's errors, but never more than
// MaxFileBytes+1 bytes, so that a huge file is refused without being read whole.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxFileBytes {
		return nil, &tooLargeError{path: path, size: fi.Size()}
	}
	return io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
}

type tooLargeError struct {
	path string
	size int64
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("%s is %s", e.path, humanBytes(e.size))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// tooLarge is the diagnostic of a file beyond MaxFileBytes; what names it ("experiment
// file", "variables file").
func tooLarge(filename, what string, size int64) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("%s too large", capitalize(what)),
		Detail: fmt.Sprintf("%s is %s; %s may be at most %s. Check that it is the right file; "+
			"a real experiment is a few kilobytes: split a large one into several experiments, and keep data out of it.",
			filename, humanBytes(size), withArticle(what), humanBytes(MaxFileBytes)),
		Subject: startOf(filename).Ptr(),
	}
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

func withArticle(noun string) string {
	if noun != "" && strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}

func startOf(filename string) hcl.Range {
	return hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos}
}

// CheckSource refuses, before parsing, what the HCL parser cannot take: a file beyond
// MaxFileBytes, a file that is not UTF-8 text, and nesting beyond MaxNesting (the
// parser recurses once per level and overflows the stack of the whole process). Its
// diagnostics say the line and column themselves: the file is not parsed, so there is
// no snippet (and a snippet of such a file would be one huge line, or binary). what
// names the file in messages ("experiment file"); any HCL file read from outside
// should pass it before hclparse sees it.
func CheckSource(filename, what string, src []byte) hcl.Diagnostics {
	if len(src) > MaxFileBytes {
		return hcl.Diagnostics{tooLarge(filename, what, int64(len(src)))}
	}
	if off, ok := firstNonText(src); !ok {
		pos := positionAt(src, off)
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Not a text file",
			Detail: fmt.Sprintf("%s holds a byte that is not UTF-8 text at line %d, column %d (byte %d): %s is HCL text. Check that it is the right file, and save it as UTF-8.",
				filename, pos.Line, pos.Column, off, withArticle(what)),
			Subject: &hcl.Range{Filename: filename, Start: pos, End: pos},
		}}
	}
	tokens, _ := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	if d := checkNesting(tokens); d != nil {
		return hcl.Diagnostics{d}
	}
	return nil
}

// checkExpressionNesting is CheckSource's nesting check for an expression given on the
// command line (--var 'name=[...]').
func checkExpressionNesting(src []byte, filename string) hcl.Diagnostics {
	if len(src) > MaxFileBytes {
		return hcl.Diagnostics{tooLarge(filename, "value", int64(len(src)))}
	}
	tokens, _ := hclsyntax.LexExpression(src, filename, hcl.InitialPos)
	if d := checkNesting(tokens); d != nil {
		return hcl.Diagnostics{d}
	}
	return nil
}

// firstNonText returns the offset of the first NUL byte or invalid UTF-8 sequence.
func firstNonText(src []byte) (int, bool) {
	for i := 0; i < len(src); {
		c := src[i]
		if c == 0 {
			return i, false
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size <= 1 {
			return i, false
		}
		i += size
	}
	return 0, true
}

// positionAt is the line and column of a byte offset.
func positionAt(src []byte, off int) hcl.Pos {
	pos := hcl.Pos{Line: 1, Column: 1, Byte: off}
	for i := 0; i < off && i < len(src); i++ {
		if src[i] == '\n' {
			pos.Line++
			pos.Column = 1
		} else if src[i] < utf8.RuneSelf || utf8.RuneStart(src[i]) {
			pos.Column++
		}
	}
	return pos
}

// checkNesting walks the tokens with a counter: opening tokens nest one level deeper,
// closing ones one level out, template directives if/for until their end, and each
// unary operator in a row one more: the depth the parser recurses to. It also counts
// the binary operators of each expression, within one level of brackets: HCL
// evaluates a chain of them recursively, one stack frame per operator.
func checkNesting(tokens hclsyntax.Tokens) *hcl.Diagnostic {
	depth, unary := 0, 0
	// ops counts the operators of the expression being read at each bracket level;
	// braces holds whether that level is a block or object body, where a newline
	// ends an expression.
	ops := []int{0}
	braces := []bool{true}
	// ifs counts the open %{ if } and %{ for } directives of the template at each level.
	ifs := []int{0}
	afterControl := false
	open := func(brace bool) {
		depth++
		unary = 0
		ops = append(ops, 0)
		braces = append(braces, brace)
		ifs = append(ifs, 0)
	}
	for _, tok := range tokens {
		control := afterControl
		afterControl = false
		top := len(ops) - 1
		switch tok.Type {
		case hclsyntax.TokenOBrace:
			open(true)
		case hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenOQuote,
			hclsyntax.TokenOHeredoc, hclsyntax.TokenTemplateInterp:
			open(false)
		case hclsyntax.TokenTemplateControl:
			open(false)
			afterControl = true
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen,
			hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			depth = max(depth-1-ifs[top], 0)
			unary = 0
			if top > 0 {
				ops, braces, ifs = ops[:top], braces[:top], ifs[:top]
			}
		case hclsyntax.TokenBang:
			unary++
		case hclsyntax.TokenMinus:
			unary++
			ops[top]++
		case hclsyntax.TokenPlus, hclsyntax.TokenStar, hclsyntax.TokenSlash, hclsyntax.TokenPercent,
			hclsyntax.TokenEqualOp, hclsyntax.TokenNotEqual, hclsyntax.TokenLessThan, hclsyntax.TokenLessThanEq,
			hclsyntax.TokenGreaterThan, hclsyntax.TokenGreaterThanEq, hclsyntax.TokenAnd, hclsyntax.TokenOr,
			hclsyntax.TokenQuestion:
			unary = 0
			ops[top]++
		case hclsyntax.TokenComma, hclsyntax.TokenEqual:
			unary = 0
			ops[top] = 0
		case hclsyntax.TokenNewline:
			if braces[top] {
				ops[top] = 0
			}
		case hclsyntax.TokenComment:
			if braces[top] && len(tok.Bytes) > 0 && tok.Bytes[len(tok.Bytes)-1] == '\n' {
				ops[top] = 0 // a line comment takes its newline
			}
		case hclsyntax.TokenIdent:
			unary = 0
			if control && top > 0 {
				// %{ if } and %{ for } open a level of their template (below the
				// directive's own) that %{ endif } and %{ endfor } close.
				switch string(tok.Bytes) {
				case "if", "for":
					ifs[top-1]++
					depth++
				case "endif", "endfor":
					if ifs[top-1] > 0 {
						ifs[top-1]--
						depth--
					}
				}
			}
		default:
			unary = 0
		}
		if depth+unary > MaxNesting {
			return &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Nesting too deep",
				Detail: fmt.Sprintf("At line %d, column %d, brackets, strings, templates or operators nest more than %d levels deep, the most faultline reads. "+
					"Flatten the expression: compute its parts in locals and combine them.", tok.Range.Start.Line, tok.Range.Start.Column, MaxNesting),
				Subject: tok.Range.Ptr(),
			}
		}
		if ops[len(ops)-1] > MaxOperators {
			return &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Expression too long",
				Detail: fmt.Sprintf("At line %d, column %d, an expression chains more than %d operators, the most faultline reads in one expression. "+
					"Split it: compute its parts in locals and combine them.", tok.Range.Start.Line, tok.Range.Start.Column, MaxOperators),
				Subject: tok.Range.Ptr(),
			}
		}
	}
	return nil
}

// limitDiagnostics keeps the first MaxDiagnostics diagnostics and replaces the rest by
// one that counts them; it is an error when any left out is.
func limitDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	if len(diags) <= MaxDiagnostics {
		return diags
	}
	errs, warns := 0, 0
	for _, d := range diags[MaxDiagnostics:] {
		if d.Severity == hcl.DiagError {
			errs++
		} else {
			warns++
		}
	}
	sev := hcl.DiagWarning
	if errs > 0 {
		sev = hcl.DiagError
	}
	out := append(hcl.Diagnostics{}, diags[:MaxDiagnostics]...)
	return append(out, &hcl.Diagnostic{
		Severity: sev,
		Summary:  "Too many diagnostics",
		Detail: fmt.Sprintf("%s and %s more are not shown. Fix the ones above and validate again; "+
			"so many often come from one mistake early in the file, or from a file that is not an experiment.",
			plural(errs, "error"), plural(warns, "warning")),
	})
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
