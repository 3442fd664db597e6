package cmd

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X github.com/faultline/faultline/cmd.Version=v1.2.3".
var Version = "dev"

// BuildVersion is the version recorded in results: Version, or the module version
// when installed with go install.
func BuildVersion() string {
	if Version != "dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return Version
}

func newVersionCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print faultline's version",
		Args:    cobra.NoArgs,
		Example: "  faultline version",
		RunE: func(c *cobra.Command, _ []string) error {
			fmt.Fprintf(env.Stdout, "faultline %s (%s, %s/%s)\n", BuildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
