package result

// Exit codes of faultline, as README.md defines them. A Result records the one its run
// ended with; the commands map errors to them.
const (
	ExitPassed       = 0 // all checks passed
	ExitCheckFailed  = 1 // a check failed (or diff found a regression)
	ExitInvalid      = 2 // invalid experiment or usage
	ExitAborted      = 3 // abort guard, signal, lost observation, failed injection
	ExitRevertFailed = 4 // a revert failed: the system may still be faulted
	ExitPreflight    = 5 // Docker, Prometheus, privileges or kernel support missing
	ExitInternal     = 6 // faultline itself failed (an I/O error, a bug): nothing is left faulted
)
