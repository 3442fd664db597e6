package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultline/faultline/result"
)

// DiffLimits say which changes between two results are regressions. A check that
// passed and now fails is always one.
type DiffLimits struct {
	// MaxScoreDrop is the largest allowed drop of the score in points; negative: any
	// drop is allowed.
	MaxScoreDrop float64
	// MaxRecoveryIncrease is the largest allowed growth of a series' time to recover;
	// negative: not checked. A series that recovered before and no longer does exceeds
	// any limit.
	MaxRecoveryIncrease time.Duration
}

// NoLimits allows any score drop and any recovery growth; only checks that broke count.
var NoLimits = DiffLimits{MaxScoreDrop: -1, MaxRecoveryIncrease: -1}

// DiffResult is the comparison of a result against a baseline result.
type DiffResult struct {
	Experiment string `json:"experiment"`
	// Warnings note comparisons that may mislead (different experiments, files, schema).
	Warnings []string `json:"warnings,omitempty"`
	Base     DiffSide `json:"base"`
	Current  DiffSide `json:"current"`
	// ScoreDelta is current minus base score; null when either has no score.
	ScoreDelta *float64      `json:"score_delta"`
	Checks     []CheckDiff   `json:"checks"`
	Series     []SeriesDiff  `json:"series"`
	Limits     DiffLimitsDoc `json:"limits"`
	// Regressions lists, in words, every change beyond the limits.
	Regressions []string `json:"regressions,omitempty"`
	Regressed   bool     `json:"regressed"`
}

// DiffLimitsDoc is DiffLimits as written in a DiffResult (nil: not checked).
type DiffLimitsDoc struct {
	MaxScoreDrop               *float64 `json:"max_score_drop,omitempty"`
	MaxRecoveryIncreaseSeconds *float64 `json:"max_recovery_increase_seconds,omitempty"`
}

// DiffSide summarises one of the two results.
type DiffSide struct {
	StartedAt time.Time     `json:"started_at"`
	Status    result.Status `json:"status"`
	// Score is null when that result has no score (ScoreReason says why).
	Score       *float64 `json:"score"`
	ScoreReason string   `json:"score_reason,omitempty"`
	Version     string   `json:"faultline_version"`
}

// CheckDiff compares one check.
type CheckDiff struct {
	Name string `json:"name"`
	// Base and Current are the verdicts; "" when the check is absent on that side.
	Base    string `json:"base"`
	Current string `json:"current"`
	// Worse and Better say which way it moved; Worse on a check is always a regression.
	Worse  bool `json:"worse"`
	Better bool `json:"better"`
	// CreditDelta is the change of the check's score credit.
	CreditDelta float64 `json:"credit_delta"`
}

// SeriesDiff compares one series of one metric, matched by its labels.
type SeriesDiff struct {
	Metric string `json:"metric"`
	Series string `json:"series"`
	// BaseRecoverSeconds and CurrentRecoverSeconds are the times to recover (nil: did
	// not recover or absent); RecoverDeltaSeconds their difference when both exist.
	BaseRecoverSeconds    *float64 `json:"base_time_to_recover_seconds,omitempty"`
	CurrentRecoverSeconds *float64 `json:"current_time_to_recover_seconds,omitempty"`
	RecoverDeltaSeconds   *float64 `json:"time_to_recover_delta_seconds,omitempty"`
	BaseRecovered         bool     `json:"base_recovered"`
	CurrentRecovered      bool     `json:"current_recovered"`
	// BaseImpact and CurrentImpact are the relative impacts (nil when unknown).
	BaseImpact    *float64 `json:"base_relative_impact,omitempty"`
	CurrentImpact *float64 `json:"current_relative_impact,omitempty"`
	// Worse says the series recovers later (beyond the limit) or no longer recovers.
	Worse bool   `json:"worse"`
	Note  string `json:"note,omitempty"`
}

// Diff compares cur against base.
func Diff(base, cur *result.Result, limits DiffLimits) DiffResult {
	d := DiffResult{
		Experiment: cur.Experiment.Name,
		Base:       DiffSide{base.StartedAt, base.Status, base.Score.Value, base.Score.Reason, base.FaultlineVersion},
		Current:    DiffSide{cur.StartedAt, cur.Status, cur.Score.Value, cur.Score.Reason, cur.FaultlineVersion},
	}
	bs, baseScored := base.Score.Known()
	cs, curScored := cur.Score.Known()
	if baseScored && curScored {
		delta := math.Round(10*(cs-bs)) / 10
		d.ScoreDelta = &delta
	}
	if base.Experiment.Name != cur.Experiment.Name {
		d.Warnings = append(d.Warnings, fmt.Sprintf("comparing different experiments: %q against %q", cur.Experiment.Name, base.Experiment.Name))
	}
	if limits.MaxScoreDrop >= 0 {
		v := limits.MaxScoreDrop
		d.Limits.MaxScoreDrop = &v
		switch {
		case !curScored:
			// A gate on the score cannot pass on a result that has none.
			d.Regressions = append(d.Regressions, fmt.Sprintf("the new result has no score (%s), so it cannot show the score held within %s points",
				orNone(cur.Score.Reason), num(limits.MaxScoreDrop)))
		case !baseScored:
			d.Warnings = append(d.Warnings, fmt.Sprintf("the base result has no score (%s): the score is not compared", orNone(base.Score.Reason)))
		case -*d.ScoreDelta > limits.MaxScoreDrop:
			d.Regressions = append(d.Regressions, fmt.Sprintf("score dropped by %s points (%s → %s), more than the allowed %s",
				num(-*d.ScoreDelta), num(bs), num(cs), num(limits.MaxScoreDrop)))
		}
	}
	if limits.MaxRecoveryIncrease >= 0 {
		v := limits.MaxRecoveryIncrease.Seconds()
		d.Limits.MaxRecoveryIncreaseSeconds = &v
	}

	baseChecks := map[string]result.CheckResult{}
	for _, c := range base.Checks {
		baseChecks[c.Name] = c
	}
	seen := map[string]bool{}
	for _, c := range cur.Checks {
		seen[c.Name] = true
		cd := CheckDiff{Name: c.Name, Current: c.Verdict}
		if b, ok := baseChecks[c.Name]; ok {
			cd.Base = b.Verdict
			cd.CreditDelta = c.Credit - b.Credit
			cd.Worse = b.Passed && !c.Passed
			cd.Better = !b.Passed && c.Passed
		}
		if cd.Worse {
			d.Regressions = append(d.Regressions, fmt.Sprintf("check %q passed before and now is %s: %s", c.Name, c.Verdict, c.Reason))
		}
		d.Checks = append(d.Checks, cd)
	}
	for _, b := range base.Checks {
		if !seen[b.Name] {
			d.Checks = append(d.Checks, CheckDiff{Name: b.Name, Base: b.Verdict})
			d.Warnings = append(d.Warnings, fmt.Sprintf("check %q is in the base result only", b.Name))
		}
	}

	type key struct{ metric, series string }
	baseSeries := map[key]*result.Series{}
	for i := range base.Metrics {
		for j := range base.Metrics[i].Series {
			s := &base.Metrics[i].Series[j]
			baseSeries[key{base.Metrics[i].Name, result.LabelString(s.Labels)}] = s
		}
	}
	for _, m := range cur.Metrics {
		for j := range m.Series {
			s := &m.Series[j]
			id := result.LabelString(s.Labels)
			sd := SeriesDiff{Metric: m.Name, Series: seriesName(s.Labels), CurrentRecovered: s.Recovered}
			if s.Recovered {
				sd.CurrentRecoverSeconds = s.TimeToRecoverSeconds
			}
			if s.Impact != nil {
				sd.CurrentImpact = s.Impact.Relative
			}
			b, ok := baseSeries[key{m.Name, id}]
			if !ok {
				sd.Note = "new series"
				d.Series = append(d.Series, sd)
				continue
			}
			sd.BaseRecovered = b.Recovered
			if b.Recovered {
				sd.BaseRecoverSeconds = b.TimeToRecoverSeconds
			}
			if b.Impact != nil {
				sd.BaseImpact = b.Impact.Relative
			}
			switch {
			case sd.BaseRecoverSeconds != nil && sd.CurrentRecoverSeconds != nil:
				delta := *sd.CurrentRecoverSeconds - *sd.BaseRecoverSeconds
				sd.RecoverDeltaSeconds = &delta
				if limits.MaxRecoveryIncrease >= 0 && delta > limits.MaxRecoveryIncrease.Seconds() {
					sd.Worse = true
					sd.Note = fmt.Sprintf("recovers %s later", secs(delta))
				}
			case b.Recovered && !s.Recovered:
				sd.Note = "recovered before, does not now"
				sd.Worse = limits.MaxRecoveryIncrease >= 0
			case !b.Recovered && s.Recovered:
				sd.Note = "recovers now, did not before"
			}
			if sd.Worse {
				d.Regressions = append(d.Regressions, fmt.Sprintf("%s %s: %s (allowed increase %s)", m.Name, sd.Series, sd.Note, limits.MaxRecoveryIncrease))
			}
			d.Series = append(d.Series, sd)
		}
	}
	sort.SliceStable(d.Series, func(i, j int) bool {
		if d.Series[i].Metric != d.Series[j].Metric {
			return d.Series[i].Metric < d.Series[j].Metric
		}
		return d.Series[i].Series < d.Series[j].Series
	})
	d.Regressed = len(d.Regressions) > 0
	return d
}

// RenderDiff writes a comparison as text, md or json.
func RenderDiff(out io.Writer, format string, d DiffResult) error {
	switch format {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	case "text", "md", "markdown":
	default:
		return fmt.Errorf("%w %q for a diff: use text, md or json", ErrUnknownFormat, format)
	}
	mdown := format != "text"
	esc := oneLine
	if mdown {
		esc = md
	}
	w := &errWriter{w: out}
	verdict := "no regression"
	if d.Regressed {
		verdict = "REGRESSION"
	}
	if mdown {
		w.printf("## faultline diff: %s: %s\n\n", esc(d.Experiment), verdict)
	} else {
		w.printf("%s: %s\n", esc(d.Experiment), verdict)
	}
	delta := "not comparable"
	if d.ScoreDelta != nil {
		delta = signed(*d.ScoreDelta)
	}
	w.printf("score %s → %s (%s) · status %s → %s\n", sideScore(d.Base), sideScore(d.Current), delta, esc(string(d.Base.Status)), esc(string(d.Current.Status)))
	if mdown {
		w.printf("\n")
	}
	for _, x := range d.Warnings {
		w.printf("warning: %s\n", esc(x))
	}
	for _, x := range d.Regressions {
		if mdown {
			w.printf("- ❌ %s\n", esc(x))
		} else {
			w.printf("  regression: %s\n", esc(x))
		}
	}
	if mdown {
		w.printf("\n| check | base | current | change |\n|---|---|---|---|\n")
	} else {
		w.printf("\nChecks\n")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range d.Checks {
		change := ""
		switch {
		case c.Worse:
			change = "worse"
		case c.Better:
			change = "better"
		}
		if mdown {
			w.printf("| %s | %s | %s | %s |\n", esc(c.Name), orDash(c.Base), orDash(c.Current), change)
		} else {
			fmt.Fprintf(tw, "  %s\t%s\t→ %s\t%s\n", esc(c.Name), orDash(c.Base), orDash(c.Current), change)
		}
	}
	tw.Flush()
	if mdown {
		w.printf("\n| metric | series | time to recover | change | impact |\n|---|---|---|---|---|\n")
	} else {
		w.printf("\nRecovery\n")
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range d.Series {
		ttr := fmt.Sprintf("%s → %s", recText(s.BaseRecovered, s.BaseRecoverSeconds), recText(s.CurrentRecovered, s.CurrentRecoverSeconds))
		delta := ""
		if s.RecoverDeltaSeconds != nil {
			delta = signedSecs(*s.RecoverDeltaSeconds)
		}
		if s.Note != "" {
			delta = strings.TrimSpace(delta + " " + s.Note)
		}
		imp := fmt.Sprintf("%s → %s", optPct(s.BaseImpact), optPct(s.CurrentImpact))
		if mdown {
			w.printf("| %s | %s | %s | %s | %s |\n", esc(s.Metric), esc(s.Series), ttr, esc(delta), imp)
		} else {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\timpact %s\n", esc(s.Metric), esc(s.Series), ttr, esc(delta), imp)
		}
	}
	tw.Flush()
	return w.err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func recText(recovered bool, s *float64) string {
	if !recovered {
		return "not recovered"
	}
	return optSecs(s, "?")
}

func optPct(v *float64) string {
	if v == nil {
		return "-"
	}
	return pct(*v)
}

func signedSecs(s float64) string {
	if s >= 0 {
		return "+" + secs(s)
	}
	return "-" + secs(-s)
}

// sideScore is one side's score, or "none".
func sideScore(s DiffSide) string {
	if s.Score == nil {
		return "none"
	}
	return num(*s.Score)
}

func orNone(reason string) string {
	if reason == "" {
		return "no reason given"
	}
	return reason
}
