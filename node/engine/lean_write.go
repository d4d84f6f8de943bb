package engine

import (
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// The write side of a lean connection. Frames are queued under the
// connection's lock and written by whoever owns the queue (flushing): a
// writer-pool goroutine normally, so what is queued while a write is under
// way leaves in the next single writev. A socket whose buffer is full hands
// the queue to a goroutine that writes with a deadline (a reader that never
// reads is closed with "write timeout"); the queue is bounded (closed with
// "write queue full").

const (
	readBufSize  = 16 << 10
	maxOutFrames = 8192
	maxOutBytes  = 16 << 20
	maxIovecs    = 512 // below IOV_MAX (1024)
	headCap      = 32  // ws header (<= 10) + "42" + an ack id
)

var (
	readBufPool = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}
	encBufPool  = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}
	outqPool    = sync.Pool{New: func() any { return &outq{frames: make([]outFrame, 0, 8)} }}
	iovPool     = sync.Pool{New: func() any { v := make([]iovec, 0, maxIovecs); return &v }}
)

func getReadBuf() *[]byte  { return readBufPool.Get().(*[]byte) }
func putReadBuf(b *[]byte) { readBufPool.Put(b) }

// getEncBuf lends a buffer for encoding one packet; it goes back to the pool
// once the frame is written (or dropped).
func getEncBuf() *[]byte { return encBufPool.Get().(*[]byte) }

func putEncBuf(b *[]byte) {
	if cap(*b) > 64<<10 {
		return // let the odd huge one go
	}
	*b = (*b)[:0]
	encBufPool.Put(b)
}

// outFrame is one WebSocket frame: header plus a short prefix inline, then
// a body that is either the frame's own pooled buffer or shared, immutable
// bytes (a prepared event sent to many connections).
type outFrame struct {
	head [headCap]byte
	hn   uint8
	body []byte
	pool *[]byte // returned to encBufPool once written
}

type outq struct {
	frames []outFrame
	off    int // bytes of frames[0] already written
}

func (q *outq) release() {
	if q == nil {
		return
	}
	for i := range q.frames {
		if p := q.frames[i].pool; p != nil {
			putEncBuf(p)
		}
		q.frames[i] = outFrame{}
	}
	q.frames, q.off = q.frames[:0], 0
	if cap(q.frames) <= 256 {
		outqPool.Put(q)
	}
}

type enqueued uint8

const (
	enqDone     enqueued = iota // queued; a flusher is already on it
	enqFlush                    // queued; the caller must schedule a flush
	enqDropped                  // the connection is closed or closing
	enqOverflow                 // the queue is full: close the connection
)

// enqueueLocked queues one frame of op whose payload is prefix+body; prefix
// must fit the inline head. Called with c.mu held.
func (c *wconn) enqueueLocked(op ws.OpCode, prefix, body []byte, pool *[]byte) enqueued {
	if c.closed || c.closing {
		if pool != nil {
			putEncBuf(pool)
		}
		return enqDropped
	}
	total := len(prefix) + len(body)
	if c.out == nil {
		c.out = outqPool.Get().(*outq)
	}
	if len(c.out.frames) >= maxOutFrames || c.outBytes+total > maxOutBytes {
		if pool != nil {
			putEncBuf(pool)
		}
		return enqOverflow
	}
	c.out.frames = append(c.out.frames, outFrame{body: body, pool: pool})
	f := &c.out.frames[len(c.out.frames)-1]
	f.head[0] = 0x80 | byte(op)
	switch {
	case total < 126:
		f.head[1], f.hn = byte(total), 2
	case total < 1<<16:
		f.head[1], f.head[2], f.head[3], f.hn = 126, byte(total>>8), byte(total), 4
	default:
		f.head[1], f.hn = 127, 10
		for i := range 8 {
			f.head[2+i] = byte(uint64(total) >> (56 - 8*i))
		}
	}
	f.hn += uint8(copy(f.head[f.hn:], prefix))
	c.outBytes += int(f.hn) + len(body)
	if !c.flushing {
		c.flushing = true
		return enqFlush
	}
	return enqDone
}

// after acts on what enqueueLocked said, once c.mu is released.
func (c *wconn) after(r enqueued) {
	switch r {
	case enqFlush:
		c.core.schedule(c)
	case enqOverflow:
		c.core.log.Warn("client does not read, closing", "sid", c.sid, "queued_bytes", maxOutBytes)
		c.close(reasonQueueFull, ws.StatusPolicyViolation)
	}
}

// queueFrame queues one frame whose payload the connection now owns.
func (c *wconn) queueFrame(op ws.OpCode, payload []byte) {
	c.mu.Lock()
	r := c.enqueueLocked(op, nil, payload, nil)
	c.mu.Unlock()
	c.after(r)
}

// takeLocked returns the frames to write, or false when the flusher is done
// (queue empty or connection closed); then ownership is given up. Called
// with c.mu held; it unlocks when done.
func (c *wconn) takeLocked() ([]outFrame, int, bool) {
	q := c.out
	if c.closed || q == nil || len(q.frames) == 0 {
		c.out, c.outBytes, c.flushing = nil, 0, false
		closing, closed := c.closing, c.closed
		c.mu.Unlock()
		q.release()
		if closing && !closed {
			c.close("", ws.StatusNormalClosure)
		}
		return nil, 0, false
	}
	return q.frames, q.off, true
}

// advanceLocked drops n written bytes from the queue. Called with c.mu held.
func (c *wconn) advanceLocked(n int) {
	q := c.out
	if q == nil {
		return
	}
	c.outBytes -= n
	k, off := 0, q.off
	for k < len(q.frames) && n > 0 {
		f := &q.frames[k]
		rem := int(f.hn) + len(f.body) - off
		if n < rem {
			off += n
			break
		}
		n -= rem
		off = 0
		if f.pool != nil {
			putEncBuf(f.pool)
		}
		*f = outFrame{}
		k++
	}
	if k > 0 {
		m := copy(q.frames, q.frames[k:])
		clear(q.frames[m:])
		q.frames = q.frames[:m]
	}
	q.off = off
}

// pieces calls fn with every unwritten byte range of frames, in order.
func pieces(frames []outFrame, off int, fn func([]byte) bool) {
	for i := range frames {
		head, body := frames[i].head[:frames[i].hn], frames[i].body
		if i == 0 && off > 0 {
			if off < len(head) {
				head = head[off:]
			} else {
				body, head = body[off-len(head):], nil
			}
		}
		if len(head) > 0 && !fn(head) {
			return
		}
		if len(body) > 0 && !fn(body) {
			return
		}
	}
}

// flush writes the queue with non-blocking writevs until it is empty.
func (c *wconn) flush() {
	if c.rc == nil || runtime.GOOS != "linux" {
		c.flushBlocking()
		return
	}
	iovp := iovPool.Get().(*[]iovec)
	defer iovPool.Put(iovp)
	rio := rawIOPool.Get().(*rawIO)
	defer rawIOPool.Put(rio)
	for {
		c.mu.Lock()
		frames, off, ok := c.takeLocked()
		if !ok {
			return
		}
		c.mu.Unlock()
		iov := (*iovp)[:0]
		pieces(frames, off, func(b []byte) bool {
			iov = append(iov, iovec{})
			setIovec(&iov[len(iov)-1], b)
			return len(iov) < maxIovecs
		})
		n, err := writevNonblock(c.rc, rio, iov)
		c.core.sys.writev.Add(1)
		clear(iov) // no stale pointers kept alive by the pool
		runtime.KeepAlive(frames)
		c.mu.Lock()
		c.advanceLocked(n)
		c.mu.Unlock()
		switch {
		case err == errWouldBlock:
			// The peer reads slower than we write: wait on Go's netpoller,
			// under a deadline, on a goroutine that ends with the backlog.
			go c.flushBlocking()
			return
		case err != nil:
			c.close(reasonTransportError, 0)
		}
	}
}

// flushBlocking writes the queue with blocking writes, each under
// cfg.WriteTimeout.
func (c *wconn) flushBlocking() {
	for {
		c.mu.Lock()
		frames, off, ok := c.takeLocked()
		if !ok {
			return
		}
		var bufs net.Buffers
		pieces(frames, off, func(b []byte) bool { bufs = append(bufs, b); return true })
		c.mu.Unlock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.core.cfg.WriteTimeout))
		n, err := bufs.WriteTo(c.nc)
		c.mu.Lock()
		c.advanceLocked(int(n))
		c.mu.Unlock()
		if err != nil {
			reason := reasonTransportError
			if errors.Is(err, os.ErrDeadlineExceeded) {
				reason = reasonWriteTimeout
				c.core.log.Warn("client stopped reading, closing", "sid", c.sid, "after", c.core.cfg.WriteTimeout)
			}
			c.close(reason, 0)
		}
	}
}
