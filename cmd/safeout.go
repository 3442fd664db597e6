package cmd

import (
	"io"

	"github.com/faultline/faultline/report"
)

// safeWriter passes everything written through report.SafeText: what a command prints
// of an experiment, a container or a server's answer cannot drive the terminal.
type safeWriter struct{ w io.Writer }

func (s safeWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(s.w, report.SafeText(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
