// Command faultline runs chaos experiments against containers and reports how the
// system held up. See README.md.
package main

import (
	"os"

	"github.com/faultline/faultline/cmd"
)

func main() {
	os.Exit(cmd.Main(cmd.NewEnv()))
}
