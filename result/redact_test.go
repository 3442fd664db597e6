package result

import (
	"strings"
	"testing"
)

// TestRedactReachesReadBacks: a sensitive value that reached a read-back (a CIDR or a
// container name taken from a variable) is redacted in the events' and the lost
// faults' read-backs too.
func TestRedactReachesReadBacks(t *testing.T) {
	const secret = "10.66.6.0/24"
	v := func() *Verification {
		return &Verification{Checks: []Check{{What: "blackhole route to " + secret, Want: "present", Found: "absent"}}}
	}
	r := &Result{
		Events:     []Event{{Error: "route " + secret, Verification: v()}},
		LostFaults: []LostFault{{Found: "route to " + secret + " absent", ReapplyError: "prepare " + secret, Verification: v()}},
	}
	r.Redact([]string{secret})
	texts := []string{r.Events[0].Error, r.Events[0].Verification.Checks[0].What, r.LostFaults[0].Found,
		r.LostFaults[0].ReapplyError, r.LostFaults[0].Verification.Checks[0].What}
	for _, s := range texts {
		if strings.Contains(s, secret) || !strings.Contains(s, Redacted) {
			t.Errorf("%q: want the secret replaced by %q", s, Redacted)
		}
	}
}
