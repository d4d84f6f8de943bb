//go:build !linux

package sioclient

import "syscall"

// bindNoPort does nothing where the kernel has no IP_BIND_ADDRESS_NO_PORT.
func bindNoPort(_, _ string, _ syscall.RawConn) error { return nil }
