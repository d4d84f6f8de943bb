package redistest

import "syscall"

// sysProcAttr asks the kernel to kill a server when the test binary dies
// without running its cleanups (a timeout panic, a kill -9).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
