//go:build linux

package engine

import (
	"errors"
	"log/slog"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// epoller tells a few worker goroutines which lean connections have bytes
// to read, so an idle connection parks no goroutine and holds no buffer.
//
// One epoll instance, edge-triggered: an arrival is reported once, and the
// connection stays armed, so no epoll_ctl is made per read (with
// EPOLLONESHOT every wake cost a re-arm, one syscall per acknowledgement a
// client sends). A worker reads until a read comes back short: the socket
// is then drained, and the next arrival is a new edge. Two workers may get
// edges of one connection at once; wconn.reading lets the first read and
// has the second only ask it to read once more (serve). A worker reads at
// most maxReadsPerEdge full buffers from one connection, then asks epoll
// to report it again (EPOLL_CTL_MOD re-evaluates readiness), so one busy
// client cannot starve the others, and nothing is lost between reads.
//
// File descriptors: the fd stays owned by the net.Conn (no dup). Every
// epoll_ctl and read runs inside syscall.RawConn.Control/Read, which hold a
// reference on the fd, so a concurrent Close cannot let the number be reused
// under us; Close removes the registration first, and the net.Conn closes the
// fd exactly once. epoll events carry a connection id, never the fd number.
type epoller struct {
	log    *slog.Logger
	sys    *syscallCounts
	epfd   int
	wakefd int // eventfd: readable once close was asked

	mu     sync.RWMutex // conns: read by the workers for every event, written by add and remove
	conns  map[uint64]*wconn
	nextID uint64
	wg     sync.WaitGroup
}

const wakeID = 0

func newPoller(workers int, log *slog.Logger, sys *syscallCounts) (poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setEventID(&ev, wakeID)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wfd)
		return nil, err
	}
	p := &epoller{log: log, sys: sys, epfd: epfd, wakefd: wfd, conns: make(map[uint64]*wconn), nextID: 1}
	for range max(workers, 1) {
		p.wg.Add(1)
		go p.work()
	}
	return p, nil
}

func setEventID(ev *unix.EpollEvent, id uint64) {
	ev.Fd = int32(uint32(id))
	ev.Pad = int32(uint32(id >> 32))
}

func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET

// wconn.reading states.
const (
	readIdle uint32 = iota
	readBusy
	readAgain
)

// add starts watching c; an error means c must be read by a goroutine.
func (p *epoller) add(c *wconn) error {
	if c.rc == nil {
		return errors.New("no raw fd")
	}
	p.mu.Lock()
	id := p.nextID
	p.nextID++
	p.conns[id] = c
	c.pollID = id
	p.mu.Unlock()
	var cerr error
	err := c.rc.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: pollEvents}
		setEventID(&ev, id)
		cerr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
		p.sys.epollCtl.Add(1)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		p.mu.Lock()
		delete(p.conns, id)
		p.mu.Unlock()
	}
	return err
}

// rearm asks epoll to report c again if it is readable now (an edge-
// triggered registration reports only new arrivals otherwise).
func (p *epoller) rearm(c *wconn) {
	_ = c.rc.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: pollEvents}
		setEventID(&ev, c.pollID)
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
		p.sys.epollCtl.Add(1)
	})
}

// remove stops watching c; call it before closing c's net.Conn.
func (p *epoller) remove(c *wconn) {
	p.mu.Lock()
	delete(p.conns, c.pollID)
	p.mu.Unlock()
	// the fd is still ours until Close: DEL cannot hit a reused number
	_ = c.rc.Control(func(fd uintptr) {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
		p.sys.epollCtl.Add(1)
	})
}

func (p *epoller) work() {
	defer p.wg.Done()
	events := make([]unix.EpollEvent, 64)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		p.sys.epollWait.Add(1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			p.log.Error("epoll_wait failed, lean engine stops reading", "err", err)
			return
		}
		for i := range n {
			id := eventID(&events[i])
			if id == wakeID {
				return // level-triggered: every worker sees it
			}
			p.mu.RLock()
			c := p.conns[id]
			p.mu.RUnlock()
			if c != nil {
				p.serve(c)
			}
		}
	}
}

// serve reads c for one readiness edge, unless another worker is reading
// it: that one is told to read again instead, so no edge is lost and no
// two workers read one connection.
func (p *epoller) serve(c *wconn) {
	for !c.reading.CompareAndSwap(readIdle, readBusy) {
		if c.reading.CompareAndSwap(readBusy, readAgain) || c.reading.Load() == readAgain {
			return // the reader reads once more before it lets go
		}
		// it let go between the two loads: try to take it again
	}
	for {
		more, open := c.readEdge()
		if !open {
			return // closed: it stays busy, nothing reads it again
		}
		if more {
			c.reading.Store(readIdle)
			p.rearm(c) // the rest is reported as a new edge, to any worker
			return
		}
		if c.reading.CompareAndSwap(readBusy, readIdle) {
			return
		}
		c.reading.Store(readBusy) // readAgain: an edge came while reading
	}
}

func (p *epoller) close() {
	var one [8]byte
	one[0] = 1
	_, _ = unix.Write(p.wakefd, one[:])
	p.wg.Wait()
	unix.Close(p.wakefd)
	unix.Close(p.epfd)
}

// rawIO holds non-blocking read and write calls. The closures handed to
// syscall.RawConn escape, so they are made once per rawIO (on first use)
// instead of once per call; rawIOs are pooled (rawIOPool), one user at a
// time.
//
// They run under RawConn.Control, which holds a reference on the fd (a
// concurrent Close cannot let the number be reused) and nothing more:
// RawConn.Read and Write would also take the fd's read or write lock and
// reset Go's poll state (and check deadlines) for every call, work that
// only matters to a caller that waits on Go's netpoller, which these never
// do: a read finds nothing (EAGAIN) and the caller leaves it to epoll; a
// write that would block goes to flushBlocking, on the netpoller.
type rawIO struct {
	rbuf []byte
	rn   int
	rerr error
	rfn  func(fd uintptr)
	wiov []unix.Iovec
	wn   uintptr
	werr syscall.Errno
	wfn  func(fd uintptr)
}

// readNonblock reads what is there without waiting; (0, nil) means nothing
// to read yet, io.EOF the peer's end.
func readNonblock(rc syscall.RawConn, io *rawIO, buf []byte) (int, error) {
	if io.rfn == nil {
		io.rfn = func(fd uintptr) {
			io.rn, io.rerr = unix.Read(int(fd), io.rbuf)
		}
	}
	io.rbuf = buf
	err := rc.Control(io.rfn)
	io.rbuf = nil
	n, rerr := io.rn, io.rerr
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		if rerr == unix.EAGAIN || rerr == unix.EINTR {
			return 0, nil
		}
		return 0, rerr
	}
	if n == 0 {
		return 0, errEOF
	}
	return n, nil
}

// writevNonblock writes iov with one writev, without waiting; errWouldBlock
// when the socket buffer is full.
func writevNonblock(rc syscall.RawConn, io *rawIO, iov []unix.Iovec) (int, error) {
	if io.wfn == nil {
		io.wfn = func(fd uintptr) {
			io.wn, _, io.werr = unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&io.wiov[0])), uintptr(len(io.wiov)))
		}
	}
	io.wiov = iov
	err := rc.Control(io.wfn)
	io.wiov = nil
	if err != nil {
		return 0, err
	}
	switch io.werr {
	case 0:
		return int(io.wn), nil
	case unix.EAGAIN, unix.EINTR:
		return 0, errWouldBlock
	default:
		return 0, io.werr
	}
}

type iovec = unix.Iovec

func setIovec(v *iovec, b []byte) {
	v.Base = &b[0]
	v.SetLen(len(b))
}
