package cmd

import (
	"encoding/json"
	"io"

	"github.com/faultline/faultline/experiments"
	"github.com/hashicorp/hcl/v2"
)

// diagnosticWidth is where diagnostic text wraps on a terminal.
const diagnosticWidth = 100

// printDiagnostics writes diagnostics with their source snippets; colour only on a
// terminal, and no wrapping when the output goes to a file or a pipe.
func printDiagnostics(w io.Writer, tty bool, files experiments.Sources, diags hcl.Diagnostics) {
	width := uint(0)
	if tty {
		width = diagnosticWidth
	}
	_ = hcl.NewDiagnosticTextWriter(w, files, width, tty).WriteDiagnostics(diags)
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
