package serve

import (
	"fmt"
	"os"
	"strings"
)

// MinTokenLength is the shortest token serve accepts: 128 bits in hex.
const MinTokenLength = 32

// LoadToken reads the token file. It refuses a file that is missing, that group or
// others may read or write, or that holds a token too short to guess-proof; the
// messages never include the token.
func LoadToken(path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("the server block has no token_file: every change (run now, pause, HALT) is guarded by a token; create one with `openssl rand -hex 32 > FILE && chmod 600 FILE`")
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w; create it with `openssl rand -hex 32 > %s && chmod 600 %s`", err, path, path)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("token file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("token file %s has mode %04o: group or others may read or change it; run `chmod 600 %s`", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < MinTokenLength || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("token file %s must hold one token of at least %d characters on one line; create one with `openssl rand -hex 32 > %s`", path, MinTokenLength, path)
	}
	return tok, nil
}
