package cmd

import (
	"fmt"
	"os"

	"github.com/faultline/faultline/serve/gameday"
)

// isGameDay says whether path holds a game-day file rather than an experiment.
func isGameDay(path string) bool {
	src, err := os.ReadFile(path)
	return err == nil && gameday.LooksLikeGameDay(src, path)
}

// validateGameDay validates a game-day file and the experiments its schedules name.
func validateGameDay(env *Env, opts *validateOptions, path string, results *[]validateFileResult) bool {
	f, files, diags := gameday.Load(path, gameday.Options{CheckExperiments: true, Getenv: env.Getenv})
	r := validateFileResult{File: path, Valid: !diags.HasErrors(), Diagnostics: toJSONDiagnostics(files, diags)}
	for _, d := range r.Diagnostics {
		if d.Severity == "error" {
			r.Errors++
		} else {
			r.Warnings++
		}
	}
	*results = append(*results, r)
	if opts.JSON {
		return r.Valid
	}
	if len(diags) > 0 {
		printDiagnostics(env.Stderr, env.StderrTTY, files, diags)
	}
	if r.Valid {
		fmt.Fprintf(env.Stdout, "%s: valid: game day, %s, %s, times in %s%s\n", path,
			count(len(f.Schedules), "schedule"), count(len(f.Notifiers), "notifier"), f.Server.Location, warningNote(r.Warnings))
	} else {
		fmt.Fprintf(env.Stdout, "%s: invalid: %s%s\n", path, count(r.Errors, "error"), warningNote(r.Warnings))
	}
	return r.Valid
}
