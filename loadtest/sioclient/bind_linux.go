//go:build linux

package sioclient

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindNoPort has the kernel pick a socket's source port when it connects,
// by the whole 4-tuple, instead of when it is bound to its source address.
// There each bind searches that address's ports for one no socket holds,
// TIME_WAIT ones of earlier runs included: with thousands of connections
// per address that search was 91% of the tester's CPU (2.4 ms a bind).
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}); cerr != nil {
		return cerr
	}
	return err
}
