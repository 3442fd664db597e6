package cmd

import (
	"bytes"
	"encoding/json"
	"io"
	"unicode/utf8"

	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/report"
	"github.com/hashicorp/hcl/v2"
)

// diagnosticWidth is where diagnostic text wraps on a terminal.
const diagnosticWidth = 100

// printDiagnostics writes diagnostics with their source snippets; colour only on a
// terminal, and no wrapping when the output goes to a file or a pipe.
//
// HCL's text writer reads the whole file for each snippet (a 1 MiB file with 100
// mistakes took 7 s of CPU), and prints what it finds as it is (escape sequences
// from a file drove the terminal). So each diagnostic is written against a window of
// its file: the lines of the snippet, control characters escaped (\x1b), behind as
// many empty lines as came before, so that line numbers stay; its ranges are moved
// onto the window. Escaping is report.SafeText's, as for everything else printed.
func printDiagnostics(w io.Writer, tty bool, files experiments.Sources, diags hcl.Diagnostics) {
	width := uint(0)
	if tty {
		width = diagnosticWidth
	}
	for _, d := range diags {
		safe, window := diagnosticWindow(files, d)
		windows := map[string]*hcl.File{}
		if window != nil {
			windows[d.Subject.Filename] = window
		}
		_ = hcl.NewDiagnosticTextWriter(w, windows, width, tty).WriteDiagnostic(safe)
	}
}

// diagnosticWindow returns a copy of d to print, messages escaped, and the window
// of its file that its Subject and Context are moved onto (nil without a source).
func diagnosticWindow(files experiments.Sources, d *hcl.Diagnostic) (*hcl.Diagnostic, *hcl.File) {
	c := *d
	c.Summary, c.Detail = report.SafeText(d.Summary), report.SafeText(d.Detail)
	if d.Subject == nil {
		return &c, nil
	}
	f := files[d.Subject.Filename]
	if f == nil || f.Bytes == nil {
		return &c, nil
	}
	src := f.Bytes
	clamp := func(b int) int { return min(max(b, 0), len(src)) }
	from, to := clamp(d.Subject.Start.Byte), clamp(d.Subject.End.Byte)
	if d.Context != nil && d.Context.Filename == d.Subject.Filename {
		from, to = min(from, clamp(d.Context.Start.Byte)), max(to, clamp(d.Context.End.Byte))
	}
	to = max(to, from)
	// Whole lines, and one more byte: an empty range is shown as one character.
	for from > 0 && src[from-1] != '\n' {
		from--
	}
	to = min(to+1, len(src))
	for to < len(src) && src[to-1] != '\n' {
		to++
	}
	lines := bytes.Count(src[:from], []byte{'\n'})

	// newOf maps each offset of the window's source to its offset in the window.
	out := bytes.Repeat([]byte{'\n'}, lines)
	newOf := make([]int, to-from+1)
	for i := from; i < to; {
		_, size := utf8.DecodeRune(src[i:])
		size = min(size, to-i)
		for j := 0; j < size; j++ {
			newOf[i+j-from] = len(out)
		}
		if src[i] == '\r' && i+1 < len(src) && src[i+1] == '\n' {
			out = append(out, '\r') // a CR before LF ends a line
		} else {
			out = append(out, report.SafeText(string(src[i:i+size]))...)
		}
		i += size
	}
	newOf[to-from] = len(out)
	move := func(r *hcl.Range) *hcl.Range {
		if r == nil || r.Filename != d.Subject.Filename {
			return r
		}
		m := *r
		m.Start.Byte = newOf[clamp(r.Start.Byte)-from]
		m.End.Byte = newOf[min(max(clamp(r.End.Byte), from), to)-from]
		return &m
	}
	c.Subject, c.Context = move(d.Subject), move(d.Context)
	window := &hcl.File{Body: f.Body, Bytes: out, Nav: blockContext(report.SafeText(contextOf(f, d.Subject.Start.Byte)))}
	return &c, window
}

// contextOf names the block an offset is in, as the text writer would.
func contextOf(f *hcl.File, offset int) string {
	if c, ok := f.Nav.(interface{ ContextString(int) string }); ok {
		return c.ContextString(offset)
	}
	return ""
}

// blockContext answers the text writer's "which block is this in" for a window: it
// was asked of the whole file beforehand.
type blockContext string

func (b blockContext) ContextString(int) string { return string(b) }

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

// writeJSON prints v as indented JSON, with every rune that could act on a terminal
// escaped (report.SafeJSON).
func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(report.SafeJSON(buf.Bytes()))
	return err
}
