//go:build !linux

package redistest

import "syscall"

// sysProcAttr: elsewhere the servers rely on t.Cleanup alone.
func sysProcAttr() *syscall.SysProcAttr { return nil }
