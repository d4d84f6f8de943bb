package trpc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	trpcpb "trpc.group/trpc/trpc-protocol/pb/go/trpc"
)

// result is what the reader hands a waiting call.
type result struct {
	rsp  *trpcpb.ResponseProtocol
	body []byte
	err  error
}

// clientConn is one long-lived connection to a backend, multiplexing calls
// by request id: callers write whole frames under wmu, one reader goroutine
// dispatches answers to the waiting callers. Safe for concurrent use.
type clientConn struct {
	nc         net.Conn
	maxFrame   int
	maxPending int
	log        *slog.Logger
	onClose    func(*clientConn) // tells the owner to forget this conn

	nextID   atomic.Uint32
	lastUsed atomic.Int64 // unix nanos of the last call's start or end

	wmu sync.Mutex // one frame on the wire at a time

	mu      sync.Mutex
	pending map[uint32]chan result
	err     error // set once the conn is dead
	done    chan struct{}
}

func newClientConn(nc net.Conn, maxFrame, maxPending int, log *slog.Logger, onClose func(*clientConn)) *clientConn {
	c := &clientConn{
		nc: nc, maxFrame: maxFrame, maxPending: maxPending, log: log, onClose: onClose,
		pending: make(map[uint32]chan result),
		done:    make(chan struct{}),
	}
	c.lastUsed.Store(time.Now().UnixNano())
	go c.readLoop()
	return c
}

// load is the number of calls in flight, or -1 when the conn is dead.
func (c *clientConn) load() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return -1
	}
	return len(c.pending)
}

// register reserves a request id and the channel its answer will come on.
func (c *clientConn) register() (uint32, chan result, error) {
	ch := make(chan result, 1) // the reader never blocks on a caller
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, nil, c.err
	}
	if len(c.pending) >= c.maxPending {
		return 0, nil, ErrOverloaded
	}
	id := c.nextID.Add(1)
	for id == 0 || c.pending[id] != nil { // 0 is skipped; wrap-around must not collide
		id = c.nextID.Add(1)
	}
	c.pending[id] = ch
	c.lastUsed.Store(time.Now().UnixNano())
	return id, ch, nil
}

// forget drops a call that gave up; a late answer is then discarded.
func (c *clientConn) forget(id uint32) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
	c.lastUsed.Store(time.Now().UnixNano())
}

// write sends one whole frame. A failed or partial write breaks the framing
// of the stream, so it kills the conn.
func (c *clientConn) write(frame []byte, deadline time.Time) error {
	c.wmu.Lock()
	_ = c.nc.SetWriteDeadline(deadline)
	_, err := c.nc.Write(frame)
	c.wmu.Unlock()
	if err != nil {
		c.fail(fmt.Errorf("%w: write: %v", ErrUnavailable, err))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("%w: write: %v", ErrTimeout, err)
		}
		return fmt.Errorf("%w: write: %v", ErrUnavailable, err)
	}
	return nil
}

func (c *clientConn) readLoop() {
	fr := NewFrameReader(c.nc, c.maxFrame)
	for {
		_, frame, err := fr.ReadFrame()
		if err != nil {
			if errors.Is(err, ErrStreamFrame) {
				continue // not ours to answer; the stream is still in step
			}
			c.fail(fmt.Errorf("%w: read: %v", ErrUnavailable, err))
			return
		}
		_, rsp, body, err := DecodeResponse(frame)
		if err != nil {
			c.fail(fmt.Errorf("%w: %v", ErrUnavailable, err))
			return
		}
		c.mu.Lock()
		ch := c.pending[rsp.RequestId]
		delete(c.pending, rsp.RequestId)
		c.mu.Unlock()
		c.lastUsed.Store(time.Now().UnixNano())
		if ch == nil {
			c.log.Debug("answer to a call that gave up", "request_id", rsp.RequestId)
			continue
		}
		ch <- result{rsp: rsp, body: body}
	}
}

// fail kills the conn once: every call in flight gets err.
func (c *clientConn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	pending := c.pending
	c.pending = nil
	close(c.done)
	c.mu.Unlock()
	_ = c.nc.Close()
	for _, ch := range pending {
		ch <- result{err: err}
	}
	if c.onClose != nil {
		c.onClose(c)
	}
}
