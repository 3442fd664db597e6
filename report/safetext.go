package report

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SafeText makes text that came from outside (an experiment file, container names and
// labels, a server's error body) harmless on a terminal and in a text file: every
// control character but the newline and the tab, and every byte that is not UTF-8, is
// written as a visible Go escape (ESC becomes \x1b), so that it can neither move the
// cursor, retitle the window or clear the screen nor go unseen. The text renderer,
// diff, the live view and the command's error printing all use it.
func SafeText(s string) string {
	if isSafe(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case unsafeRune(r):
			if r < 0x80 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func isSafe(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || (r != '\n' && r != '\t' && unsafeRune(r)) {
			return false
		}
		i += size
	}
	return true
}

// unsafeRune is a control character (C0, DEL, C1) or a bidirectional override, which
// can make a terminal show text in another order than it is stored.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// SafeJSON rewrites the JSON document b so that it shows on a terminal as it is
// stored: encoding/json escapes C0 controls but leaves DEL, C1 controls and
// bidirectional overrides raw, and those are written here as \u escapes. The document
// means the same: such runes can only be inside its strings.
func SafeJSON(b []byte) []byte {
	s := string(b)
	if isSafe(s) {
		return b
	}
	var out strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r != '\n' && r != '\t' && unsafeRune(r) && !(r == utf8.RuneError && size == 1) {
			fmt.Fprintf(&out, `\u%04x`, r)
		} else {
			out.WriteString(s[i : i+size])
		}
		i += size
	}
	return []byte(out.String())
}
