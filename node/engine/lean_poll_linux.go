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
// One epoll instance, level-triggered with EPOLLONESHOT: a ready connection
// is handed to exactly one worker, which reads once (one pooled buffer),
// handles the complete frames, and re-arms it. Level-triggered means
// whatever is left is reported again at once, so one busy client cannot
// starve the others and nothing is lost between reads.
//
// File descriptors: the fd stays owned by the net.Conn (no dup). Every
// epoll_ctl and read runs inside syscall.RawConn.Control/Read, which hold a
// reference on the fd, so a concurrent Close cannot let the number be reused
// under us; Close removes the registration first, and the net.Conn closes the
// fd exactly once. epoll events carry a connection id, never the fd number.
type epoller struct {
	log    *slog.Logger
	epfd   int
	wakefd int // eventfd: readable once close was asked

	mu     sync.Mutex
	conns  map[uint64]*wconn
	nextID uint64
	wg     sync.WaitGroup
}

const wakeID = 0

func newPoller(workers int, log *slog.Logger) (poller, error) {
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
	p := &epoller{log: log, epfd: epfd, wakefd: wfd, conns: make(map[uint64]*wconn), nextID: 1}
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

const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

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

// rearm asks for the next readiness of c (EPOLLONESHOT disarmed it).
func (p *epoller) rearm(c *wconn) {
	_ = c.rc.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: pollEvents}
		setEventID(&ev, c.pollID)
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
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
	})
}

func (p *epoller) work() {
	defer p.wg.Done()
	events := make([]unix.EpollEvent, 64)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
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
			p.mu.Lock()
			c := p.conns[id]
			p.mu.Unlock()
			if c != nil && c.readReady() {
				p.rearm(c)
			}
		}
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
type rawIO struct {
	rbuf []byte
	rn   int
	rerr error
	rfn  func(fd uintptr) bool
	wiov []unix.Iovec
	wn   uintptr
	werr syscall.Errno
	wfn  func(fd uintptr) bool
}

// readNonblock reads what is there without waiting; (0, nil) means nothing
// to read yet, io.EOF the peer's end.
func readNonblock(rc syscall.RawConn, io *rawIO, buf []byte) (int, error) {
	if io.rfn == nil {
		io.rfn = func(fd uintptr) bool {
			io.rn, io.rerr = unix.Read(int(fd), io.rbuf)
			return true // never park on Go's netpoller
		}
	}
	io.rbuf = buf
	err := rc.Read(io.rfn)
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
		io.wfn = func(fd uintptr) bool {
			io.wn, _, io.werr = unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&io.wiov[0])), uintptr(len(io.wiov)))
			return true
		}
	}
	io.wiov = iov
	err := rc.Write(io.wfn)
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
