package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/faultline/faultline/experiments"
	"github.com/hashicorp/hcl/v2"
)

// diagnosticWidth is where diagnostic text wraps on a terminal.
const diagnosticWidth = 100

// printDiagnostics writes diagnostics with their source snippets; colour only on a
// terminal, and no wrapping when the output goes to a file or a pipe. Control
// characters of the file and of the messages are written as escapes (\x1b), so that
// a file cannot drive the terminal that shows its diagnostics.
func printDiagnostics(w io.Writer, tty bool, files experiments.Sources, diags hcl.Diagnostics) {
	width := uint(0)
	if tty {
		width = diagnosticWidth
	}
	safeFiles, safeDiags := escapeDiagnostics(files, diags)
	_ = hcl.NewDiagnosticTextWriter(w, safeFiles, width, tty).WriteDiagnostics(safeDiags)
}

// unsafeRune reports a character that must not reach a terminal as it is: C0 and C1
// controls and DEL (escape sequences, carriage returns that overwrite a line), and
// the bidirectional overrides that make text read differently than it is. Tabs and
// newlines are layout.
func unsafeRune(r rune) bool {
	switch {
	case r == '\t' || r == '\n':
		return false
	case r < 0x20 || (r >= 0x7f && r < 0xa0):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

func escapeRune(r rune) string {
	if r < 0x80 {
		return fmt.Sprintf(`\x%02x`, r)
	}
	return fmt.Sprintf(`\u%04x`, r)
}

// escapeText writes unsafe characters of a message as escapes.
func escapeText(s string) string {
	if strings.IndexFunc(s, unsafeRune) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unsafeRune(r) {
			b.WriteString(escapeRune(r))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// escapedFile is a source file with its unsafe characters escaped. newOf maps each
// byte offset of the original to the offset of the same byte in the escaped copy.
type escapedFile struct {
	file  *hcl.File
	newOf []int
}

// escapeSource escapes a file's unsafe characters; a CR before LF stays, it ends a
// line. It returns nil when there is nothing to escape.
func escapeSource(f *hcl.File) *escapedFile {
	src := f.Bytes
	unsafe := func(i int) (int, bool) {
		r, size := utf8.DecodeRune(src[i:])
		if r == '\r' && i+1 < len(src) && src[i+1] == '\n' {
			return size, false
		}
		return size, unsafeRune(r)
	}
	found := false
	for i := 0; i < len(src) && !found; {
		size, bad := unsafe(i)
		found = bad
		i += size
	}
	if !found {
		return nil
	}
	out := make([]byte, 0, len(src)+64)
	newOf := make([]int, len(src)+1)
	for i := 0; i < len(src); {
		size, bad := unsafe(i)
		for j := 0; j < size; j++ {
			newOf[i+j] = len(out)
		}
		if bad {
			r, _ := utf8.DecodeRune(src[i:])
			out = append(out, escapeRune(r)...)
		} else {
			out = append(out, src[i:i+size]...)
		}
		i += size
	}
	newOf[len(src)] = len(out)
	e := &escapedFile{newOf: newOf}
	e.file = &hcl.File{Body: f.Body, Bytes: out, Nav: shiftedNav{nav: f.Nav, e: e}}
	return e
}

// oldOf maps an offset of the escaped copy back to the original.
func (e *escapedFile) oldOf(n int) int {
	return max(sort.SearchInts(e.newOf, n+1)-1, 0)
}

// shift moves a range of the original onto the escaped copy. Lines do not change;
// columns are left as they are (the text writer shows lines and slices bytes).
func (e *escapedFile) shift(r *hcl.Range) *hcl.Range {
	if r == nil {
		return nil
	}
	out := *r
	at := func(b int) int { return e.newOf[min(max(b, 0), len(e.newOf)-1)] }
	out.Start.Byte, out.End.Byte = at(r.Start.Byte), at(r.End.Byte)
	return &out
}

// shiftedNav answers the text writer's question "which block is this offset in" for
// an escaped copy, by asking the original's navigation with the original offset.
type shiftedNav struct {
	nav any
	e   *escapedFile
}

func (n shiftedNav) ContextString(offset int) string {
	if c, ok := n.nav.(interface{ ContextString(int) string }); ok {
		return escapeText(c.ContextString(n.e.oldOf(offset)))
	}
	return ""
}

// escapeDiagnostics returns copies of the files and diagnostics to print: unsafe
// characters escaped, ranges moved onto the escaped files.
func escapeDiagnostics(files experiments.Sources, diags hcl.Diagnostics) (map[string]*hcl.File, hcl.Diagnostics) {
	escaped := map[string]*escapedFile{}
	safeFiles := make(map[string]*hcl.File, len(files))
	for name, f := range files {
		safeFiles[name] = f
		if f == nil {
			continue
		}
		if e := escapeSource(f); e != nil {
			escaped[name] = e
			safeFiles[name] = e.file
		}
	}
	out := make(hcl.Diagnostics, len(diags))
	for i, d := range diags {
		c := *d
		c.Summary, c.Detail = escapeText(d.Summary), escapeText(d.Detail)
		if d.Subject != nil {
			if e := escaped[d.Subject.Filename]; e != nil {
				c.Subject = e.shift(d.Subject)
			}
		}
		if d.Context != nil {
			if e := escaped[d.Context.Filename]; e != nil {
				c.Context = e.shift(d.Context)
			}
		}
		out[i] = &c
	}
	return safeFiles, out
}

// jsonDiagnostic is a diagnostic for editors and CI: positions are 1-based lines and
// columns, bytes are 0-based offsets.
type jsonDiagnostic struct {
	Severity string     `json:"severity"` // "error" or "warning"
	Summary  string     `json:"summary"`
	Detail   string     `json:"detail,omitempty"`
	Range    *jsonRange `json:"range,omitempty"`
	Snippet  string     `json:"snippet,omitempty"` // the source line(s) of the range
}

type jsonRange struct {
	Filename string  `json:"filename"`
	Start    jsonPos `json:"start"`
	End      jsonPos `json:"end"`
}

type jsonPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

func toJSONDiagnostics(files experiments.Sources, diags hcl.Diagnostics) []jsonDiagnostic {
	out := make([]jsonDiagnostic, 0, len(diags))
	for _, d := range diags {
		jd := jsonDiagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
		}
		if s := d.Subject; s != nil {
			jd.Range = &jsonRange{
				Filename: s.Filename,
				Start:    jsonPos{Line: s.Start.Line, Column: s.Start.Column, Byte: s.Start.Byte},
				End:      jsonPos{Line: s.End.Line, Column: s.End.Column, Byte: s.End.Byte},
			}
			jd.Snippet = snippet(files[s.Filename], *s)
		}
		out = append(out, jd)
	}
	return out
}

// snippet returns the whole source lines a range covers.
func snippet(f *hcl.File, r hcl.Range) string {
	if f == nil || r.Start.Byte < 0 || r.End.Byte > len(f.Bytes) || r.Start.Byte > r.End.Byte {
		return ""
	}
	src := f.Bytes
	start, end := r.Start.Byte, r.End.Byte
	for start > 0 && src[start-1] != '\n' {
		start--
	}
	for end < len(src) && src[end] != '\n' {
		end++
	}
	return string(src[start:end])
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
