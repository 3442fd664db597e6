//go:build !linux

package container

import "context"

// signalDirect needs pidfds (Linux): elsewhere the engine always sends the signal.
func signalDirect(ctx context.Context, pid int, containerID, sig string, waitExit bool) (bool, error) {
	return false, nil
}
