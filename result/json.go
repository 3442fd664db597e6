package result

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// WriteJSON writes r as indented JSON, the stored form of a result.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	return nil
}

// ReadFile reads a stored result. A file that is not a result, or one written by a
// newer faultline, is an error that says so.
func ReadFile(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s is not a faultline result (JSON written by `faultline run`): %w", path, err)
	}
	if r.SchemaVersion == 0 {
		return nil, fmt.Errorf("%s is not a faultline result: it has no schema_version", path)
	}
	if r.SchemaVersion > SchemaVersion {
		return nil, fmt.Errorf("%s has result schema version %d, newer than this faultline understands (%d): upgrade faultline", path, r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}
