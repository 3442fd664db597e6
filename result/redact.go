package result

import "strings"

// Redacted replaces a sensitive value wherever it would appear.
const Redacted = "(sensitive)"

// Redact replaces every occurrence of each secret (the values of sensitive variables)
// in every text of r by Redacted: a query, a reason, an error or a label that took the
// value in shows where it was, never what it was.
func (r *Result) Redact(secrets []string) {
	var pairs []string
	for _, s := range secrets {
		if s != "" {
			pairs = append(pairs, s, Redacted)
		}
	}
	if len(pairs) == 0 {
		return
	}
	rp := strings.NewReplacer(pairs...)
	str := func(p *string) { *p = rp.Replace(*p) }
	strs := func(m map[string]string) map[string]string {
		if m == nil {
			return nil
		}
		out := make(map[string]string, len(m))
		for k, v := range m {
			out[rp.Replace(k)] = rp.Replace(v)
		}
		return out
	}
	gaps := func(g []Gap) {
		for i := range g {
			str(&g[i].Reason)
		}
	}
	e := &r.Experiment
	str(&e.Description)
	e.Labels, e.Variables = strs(e.Labels), strs(e.Variables)
	str(&r.Reason)
	verification := func(v *Verification) {
		if v == nil {
			return
		}
		for i := range v.Checks {
			str(&v.Checks[i].What)
			str(&v.Checks[i].Want)
			str(&v.Checks[i].Found)
		}
	}
	for i := range r.Events {
		str(&r.Events[i].Error)
		verification(r.Events[i].Verification)
	}
	for i := range r.LostFaults {
		l := &r.LostFaults[i]
		str(&l.Found)
		str(&l.ReapplyError)
		verification(l.Verification)
	}
	for i := range r.Metrics {
		m := &r.Metrics[i]
		str(&m.Query)
		str(&m.Description)
		gaps(m.Gaps)
		for j := range m.Series {
			m.Series[j].Labels = strs(m.Series[j].Labels)
			gaps(m.Series[j].Gaps)
		}
	}
	for i := range r.Checks {
		c := &r.Checks[i]
		str(&c.Condition)
		str(&c.Reason)
		for j := range c.Evidence {
			str(&c.Evidence[j].Series)
			str(&c.Evidence[j].Note)
		}
	}
	for i := range r.Warnings {
		str(&r.Warnings[i])
	}
	str(&r.Score.Reason)
}

// RedactText is Redact for one text, such as a log line or an error message.
func RedactText(s string, secrets []string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, Redacted)
		}
	}
	return s
}
