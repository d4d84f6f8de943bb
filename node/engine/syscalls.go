package engine

import "sync/atomic"

// Syscalls counts the lean engine's system calls on its connections since
// it started: what a delivered message costs the kernel, one atomic add per
// call (a few ns beside a call's microseconds). The node exports them as
// courier_engine_syscalls_total{op}; the load tester divides them by the
// messages delivered.
type Syscalls struct {
	Read      uint64 // reads of client bytes
	Writev    uint64 // writes of queued frames (one writev each)
	EpollWait uint64 // epoll_wait returns
	EpollCtl  uint64 // registrations, re-arms and removals
}

type syscallCounts struct {
	read, writev, epollWait, epollCtl atomic.Uint64
}

func (c *syscallCounts) snapshot() Syscalls {
	return Syscalls{Read: c.read.Load(), Writev: c.writev.Load(), EpollWait: c.epollWait.Load(), EpollCtl: c.epollCtl.Load()}
}

// Syscalls reads the lean engine's counts (zero when it is off).
func (s *SocketIO) Syscalls() Syscalls {
	if s.lean == nil {
		return Syscalls{}
	}
	return s.lean.core.sys.snapshot()
}
