//go:build !linux

package engine

import (
	"errors"
	"log/slog"
	"syscall"
)

// Elsewhere than Linux the lean engine reads each connection with its own
// goroutine (wconn.readLoop) and writes with blocking writes under a
// deadline: correct, only not as lean.

func newPoller(workers int, log *slog.Logger, _ *syscallCounts) (poller, error) {
	return nil, errors.New("epoll is Linux only")
}

type rawIO struct{}

func readNonblock(rc syscall.RawConn, io *rawIO, buf []byte) (int, error) { return 0, errWouldBlock }

type iovec struct{ b []byte }

func setIovec(v *iovec, b []byte) { v.b = b }

func writevNonblock(rc syscall.RawConn, io *rawIO, iov []iovec) (int, error) { return 0, errWouldBlock }
