package cmd

import (
	"github.com/faultline/faultline/experiments"
	"github.com/faultline/faultline/result"
	"github.com/spf13/pflag"
)

// experimentFlags are the flags of every verb that loads an experiment (validate,
// plan, run): variable values, as Terraform users give them.
type experimentFlags struct {
	Vars     []string
	VarFiles []string
}

func (f *experimentFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.Vars, "var", nil, "set a variable: --var 'name=value' (repeatable; overrides --var-file and FAULTLINE_VAR_name)")
	fs.StringArrayVar(&f.VarFiles, "var-file", nil, "read variables from an HCL file of name = value lines (repeatable)")
}

// loadOptions turns the flags and the environment (FAULTLINE_VAR_name) into the
// loader's options.
func (f *experimentFlags) loadOptions(env *Env) experiments.LoadOptions {
	return experiments.LoadOptions{Vars: f.Vars, VarFiles: f.VarFiles, Getenv: env.Getenv}
}

// loadExperiment loads path, prints its diagnostics (warnings too) to stderr, and
// fails with exit code 2 when the experiment is invalid.
func loadExperiment(env *Env, path string, flags *experimentFlags) (*experiments.Experiment, error) {
	exp, files, diags := experiments.Load(path, flags.loadOptions(env))
	if len(diags) > 0 {
		printDiagnostics(env.Stderr, env.StderrTTY, files, diags)
	}
	if diags.HasErrors() {
		return nil, silentExit(result.ExitInvalid)
	}
	return exp, nil
}

// registerTargetFlags adds the flags that shape target resolution (plan, run).
func registerTargetFlags(fs *pflag.FlagSet, o *targetOptions) {
	fs.Int64Var(&o.Seed, "seed", 0, "seed of the random picks (pick = \"one\", a count or a share); 0 picks one and prints it, so a run can be replayed")
	fs.IntVar(&o.MaxTargets, "max-targets", 0, "cap the number of containers the experiment may touch; it only lowers the experiment's own max_targets (0: the experiment's)")
}
