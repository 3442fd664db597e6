package main

import (
	"os"
	"testing"

	"github.com/faultline/faultline/cmd"
)

// TestMain lets this test binary be faultline's own watchdog: a run started in process
// (TestDemoEndToEnd) starts its watchdog from os.Executable(), which here is the test
// binary, as `BINARY watchdog ...`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "watchdog" {
		os.Exit(cmd.Main(cmd.NewEnv()))
	}
	os.Exit(m.Run())
}
