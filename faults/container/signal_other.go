//go:build !linux

package container

import (
	"context"
	"errors"
)

// signalDirect needs pidfds (Linux): elsewhere the engine always sends the signal.
func signalDirect(ctx context.Context, pid int, containerID, sig string, waitExit bool) (bool, string, error) {
	return false, "direct signals need Linux pidfds", nil
}

var errSignalledAlive = errors.New("signalled but still alive")

// processAlive cannot look at processes here: the engine's word stands.
func processAlive(pid int, containerID string) bool { return false }
