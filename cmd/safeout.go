package cmd

import (
	"io"

	"github.com/faultline/faultline/report"
	"github.com/faultline/faultline/result"
)

// redactWriter replaces the values of sensitive variables in everything written through
// it (log lines, the live view, errors): each Write is one line or one record.
type redactWriter struct {
	w       io.Writer
	secrets []string
}

func (r redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, result.RedactText(string(p), r.secrets)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// safeWriter passes everything written through report.SafeText: what a command prints
// of an experiment, a container or a server's answer cannot drive the terminal.
type safeWriter struct{ w io.Writer }

func (s safeWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(s.w, report.SafeText(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
