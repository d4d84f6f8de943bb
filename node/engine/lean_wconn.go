package engine

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

var (
	errEOF        = io.EOF
	errWouldBlock = errors.New("engine: write would block")
)

// poller reports readable lean connections (lean_poll_linux.go).
type poller interface {
	add(c *wconn) error
	rearm(c *wconn)
	remove(c *wconn)
	close()
}

// upper is what rides on a lean Engine.IO connection: socket.io (leanSession)
// or a raw Engine.IO consumer (leanRaw).
type upper interface {
	// onMessage gets one Engine.IO message; data is valid only during the
	// call. Calls come one at a time, in arrival order.
	onMessage(data []byte, binary bool)
	// onTimeout runs when the timer armed with wconn.armConnectTimeout fires.
	onTimeout()
	// onClose runs once, on its own goroutine, when the connection is gone.
	onClose(reason string)
}

// Timer kinds of a wconn.
const (
	kindHeartbeat uint8 = iota // ping due, pong overdue, or close grace over
	kindConnect                // socket.io CONNECT overdue
)

// Close reasons, as zishang520 and the Node server name them.
const (
	reasonTransportClose = "transport close"
	reasonTransportError = "transport error"
	reasonPingTimeout    = "ping timeout"
	reasonParseError     = "parse error"
	reasonForced         = "forced close"
	reasonShutdown       = "server shutting down"
	reasonWriteTimeout   = "write timeout"
	reasonQueueFull      = "write queue full"
)

// wconn is one WebSocket carrying one Engine.IO session on the lean engine.
// While idle it holds the net.Conn, this struct and two timer nodes: no
// goroutine (on Linux) and no buffer.
type wconn struct {
	core   *leanCore
	nc     net.Conn
	rc     syscall.RawConn // nil: no fd, read by a goroutine
	pollID uint64
	sid    string
	up     upper
	dead   atomic.Bool // mirrors closed for lock-free checks on the read path

	mu        sync.Mutex
	closed    bool
	closing   bool // close once the queue is written
	reason    string
	awaitPong bool
	flushing  bool // a flusher owns the queue
	polled    bool
	out       *outq
	outBytes  int

	// reading serializes the epoll workers on this connection (lean_poll_linux.go):
	// readIdle, readBusy, or readAgain (an edge came while a worker read).
	reading atomic.Uint32
	// read state: only the reader touches it (the one epoll worker that won
	// reading, or one goroutine). readMu is never contended, but the
	// ordering goes through an atomic the race detector sees only in part;
	// the lock makes it explicit.
	readMu sync.Mutex
	in     []byte // an incomplete frame; nil when idle
	frag   []byte // a fragmented message so far
	fragOp ws.OpCode

	hb  timerNode
	aux timerNode
}

func newWconn(core *leanCore, nc net.Conn) *wconn {
	c := &wconn{core: core, nc: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			c.rc = rc
		}
	}
	c.hb = timerNode{owner: c, kind: kindHeartbeat}
	c.aux = timerNode{owner: c, kind: kindConnect}
	return c
}

func (c *wconn) isClosed() bool { return c.dead.Load() }

// rawIOPool lends the syscall closures to whoever reads or writes: they
// name no connection (the fd is their argument), so an idle connection
// keeps none.
var rawIOPool = sync.Pool{New: func() any { return new(rawIO) }}

// maxReadsPerEdge bounds the full buffers one worker reads from a
// connection per readiness edge, so one flooding client cannot hold a
// worker; what is left is reported again (epoller.serve).
const maxReadsPerEdge = 4

// readEdge reads what the socket holds (epoll worker, edge-triggered): until
// a read comes back short (the socket is drained: the next arrival is a new
// edge), or maxReadsPerEdge full buffers. more says bytes may be left;
// open is false once the connection closed.
func (c *wconn) readEdge() (more, open bool) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	bp := getReadBuf()
	defer putReadBuf(bp)
	rio := rawIOPool.Get().(*rawIO)
	defer rawIOPool.Put(rio)
	for range maxReadsPerEdge {
		n, err := readNonblock(c.rc, rio, *bp)
		c.core.sys.read.Add(1)
		if n > 0 {
			c.consume((*bp)[:n])
		}
		if err != nil {
			c.close(closeReasonOf(err), 0)
			return false, false
		}
		if c.isClosed() {
			return false, false
		}
		if n < len(*bp) {
			return false, true
		}
	}
	return true, true
}

// readLoop is the portable reader: one goroutine per connection.
func (c *wconn) readLoop() {
	for !c.isClosed() {
		bp := getReadBuf()
		n, err := c.nc.Read(*bp)
		if n > 0 {
			c.consume((*bp)[:n])
		}
		putReadBuf(bp)
		if err != nil {
			c.close(closeReasonOf(err), 0)
			return
		}
	}
}

func closeReasonOf(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return reasonTransportClose
	}
	return reasonTransportError
}

// consume parses the frames in b (after any incomplete frame kept from the
// last read) and handles each complete one. The rest is kept in c.in, grown
// only as bytes arrive: never sized by a length the peer declared.
func (c *wconn) consume(b []byte) {
	data := b
	if len(c.in) > 0 {
		c.in = append(c.in, b...)
		data = c.in
	}
	for len(data) > 0 && !c.isClosed() {
		h, hlen, err := parseHeader(data, c.core.cfg.MaxPayload)
		if err != nil {
			c.protocolError(err)
			c.in = nil
			return
		}
		if hlen == 0 || int64(len(data)-hlen) < h.Length {
			break // incomplete
		}
		end := hlen + int(h.Length)
		payload := data[hlen:end]
		ws.Cipher(payload, h.Mask, 0)
		c.frame(h, payload)
		data = data[end:]
	}
	switch {
	case len(data) == 0 || c.isClosed():
		c.in = nil
	case len(c.in) > 0 && &data[0] == &c.in[len(c.in)-len(data)]:
		c.in = append(c.in[:0], data...) // shift down in place
	default:
		c.in = append([]byte(nil), data...)
	}
}

var (
	errFrameTooBig  = errors.New("frame larger than maxPayload")
	errFrameInvalid = errors.New("invalid frame")
)

// parseHeader reads a client frame header; hlen 0 means more bytes are needed.
func parseHeader(b []byte, maxPayload int64) (h ws.Header, hlen int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] >> 4) & 7
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	l := int64(b[1] & 0x7f)
	hlen = 2
	switch l {
	case 126:
		if len(b) < 4 {
			return h, 0, nil
		}
		l, hlen = int64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return h, 0, nil
		}
		u := binary.BigEndian.Uint64(b[2:])
		if u>>63 != 0 {
			// RFC 6455 5.2: the most significant bit must be 0
			return h, 0, errFrameInvalid
		}
		l, hlen = int64(u), 10
	}
	h.Length = l
	if h.Rsv != 0 || !h.Masked {
		return h, 0, errFrameInvalid
	}
	if h.OpCode.IsControl() {
		if !h.Fin || l > 125 || (h.OpCode != ws.OpClose && h.OpCode != ws.OpPing && h.OpCode != ws.OpPong) {
			return h, 0, errFrameInvalid
		}
	} else if h.OpCode > ws.OpBinary {
		return h, 0, errFrameInvalid
	}
	if l > maxPayload {
		return h, 0, errFrameTooBig
	}
	if len(b) < hlen+4 {
		return h, 0, nil
	}
	copy(h.Mask[:], b[hlen:hlen+4])
	return h, hlen + 4, nil
}

func (c *wconn) protocolError(err error) {
	if errors.Is(err, errFrameTooBig) {
		c.closeWithFrame(reasonTransportError, ws.StatusMessageTooBig)
		return
	}
	c.closeWithFrame(reasonTransportError, ws.StatusProtocolError)
}

func (c *wconn) frame(h ws.Header, payload []byte) {
	switch h.OpCode {
	case ws.OpPing:
		c.queueFrame(ws.OpPong, append([]byte(nil), payload...))
	case ws.OpPong:
	case ws.OpClose:
		c.close(reasonTransportClose, ws.StatusNormalClosure)
	case ws.OpText, ws.OpBinary:
		if c.frag != nil {
			c.protocolError(errFrameInvalid)
			return
		}
		if h.Fin {
			c.message(h.OpCode, payload)
			return
		}
		c.frag, c.fragOp = append([]byte(nil), payload...), h.OpCode
	case ws.OpContinuation:
		if c.frag == nil {
			c.protocolError(errFrameInvalid)
			return
		}
		if int64(len(c.frag)+len(payload)) > c.core.cfg.MaxPayload {
			c.protocolError(errFrameTooBig)
			return
		}
		c.frag = append(c.frag, payload...)
		if h.Fin {
			msg, op := c.frag, c.fragOp
			c.frag = nil
			c.message(op, msg)
		}
	}
}

// message handles one Engine.IO packet: binary frames are messages; text
// frames carry a packet type digit.
func (c *wconn) message(op ws.OpCode, data []byte) {
	if op == ws.OpBinary {
		c.up.onMessage(data, true)
		return
	}
	if len(data) == 0 {
		c.close(reasonParseError, ws.StatusProtocolError)
		return
	}
	if !utf8.Valid(data) {
		// RFC 6455 8.1: a text message that is not UTF-8 fails the
		// connection with 1007; handing it on would put invalid strings
		// into events, acks and backends' JSON.
		c.close(reasonParseError, ws.StatusInvalidFramePayloadData)
		return
	}
	switch data[0] {
	case '4':
		c.up.onMessage(data[1:], false)
	case '3':
		c.onPong()
	case '1':
		c.close(reasonTransportClose, ws.StatusNormalClosure)
	case '2', '5', '6':
		// ping (v3 habit), upgrade, noop: nothing to do on a direct WebSocket
	default:
		c.close(reasonParseError, ws.StatusProtocolError)
	}
}

func (c *wconn) onPong() {
	c.mu.Lock()
	if c.awaitPong && !c.closed && !c.closing {
		c.awaitPong = false
		c.core.wheel.set(&c.hb, c.core.cfg.PingInterval)
	}
	c.mu.Unlock()
}

var pingPacket = []byte("2")

func (c *wconn) onTimer(kind uint8) {
	if kind == kindConnect {
		if !c.isClosed() && !c.core.wheel.isArmed(&c.aux) {
			c.up.onTimeout()
		}
		return
	}
	c.mu.Lock()
	if c.closed || c.core.wheel.isArmed(&c.hb) {
		c.mu.Unlock()
		return
	}
	switch {
	case c.closing:
		// the graceful close waited long enough for a reader that stopped reading
		c.mu.Unlock()
		c.close(c.reason, 0)
	case c.awaitPong:
		c.mu.Unlock()
		c.close(reasonPingTimeout, ws.StatusGoingAway)
	default:
		// The timeout is armed before the PING can leave, so a PONG however
		// fast always finds it (zishang520 arms it after sending: a PONG
		// in between is lost and the client dropped as "ping timeout").
		c.awaitPong = true
		c.core.wheel.set(&c.hb, c.core.cfg.PingTimeout)
		r := c.enqueueLocked(ws.OpText, nil, pingPacket, nil)
		c.mu.Unlock()
		c.after(r)
	}
}

// armConnectTimeout makes up.onTimeout run after d unless disarmed.
func (c *wconn) armConnectTimeout(d time.Duration) { c.core.wheel.set(&c.aux, d) }
func (c *wconn) disarmConnectTimeout()             { c.core.wheel.cancel(&c.aux) }

// closeAfterFlush closes once everything queued is on the wire, or after
// closeFlushGrace for a client that stopped reading.
func (c *wconn) closeAfterFlush(reason string) {
	c.mu.Lock()
	if c.closed || c.closing {
		c.mu.Unlock()
		return
	}
	if c.out == nil && !c.flushing {
		c.mu.Unlock()
		c.close(reason, ws.StatusNormalClosure)
		return
	}
	c.closing, c.reason = true, reason
	c.core.wheel.set(&c.hb, closeFlushGrace)
	c.mu.Unlock()
}

// closeWithFrame is close with a status the client should see.
func (c *wconn) closeWithFrame(reason string, code ws.StatusCode) { c.close(reason, code) }

// close ends the connection at once: timers and poller registration go
// first, a close frame is attempted without waiting (code 0: none), the fd is
// closed once (by the net.Conn), and the upper layer hears it on a goroutine.
func (c *wconn) close(reason string, code ws.StatusCode) {
	if code != 0 {
		c.awaitFlusher()
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.closing && c.reason != "" {
		reason = c.reason
	}
	c.closed = true
	c.dead.Store(true)
	c.reason = reason
	var q *outq
	flushing := c.flushing
	if !flushing {
		q, c.out = c.out, nil
		c.outBytes = 0
	}
	polled := c.polled
	c.mu.Unlock()

	c.core.wheel.cancel(&c.hb)
	c.core.wheel.cancel(&c.aux)
	if polled {
		c.core.poll.remove(c)
	}
	if code != 0 && (q == nil || len(q.frames) == 0) && !flushing {
		// nothing else is writing and nothing waits to be written: the
		// close frame cannot interleave (a flushed queue stays attached, empty)
		c.writeCloseFrame(code)
	}
	_ = c.nc.Close()
	q.release()
	c.core.forget(c)
	go c.up.onClose(reason)
}

// writeCloseFrame tries once to send a close frame; a peer that does not
// read does not get to hold us.
// awaitFlusher gives a flush under way a moment to end, so the close frame
// that follows can go out (it must not interleave with a frame being
// written). A flush stuck on a reader that does not read is not waited for.
func (c *wconn) awaitFlusher() {
	for range 20 {
		c.mu.Lock()
		busy := c.flushing && !c.closed
		c.mu.Unlock()
		if !busy {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func (c *wconn) writeCloseFrame(code ws.StatusCode) {
	var b [4]byte
	b[0], b[1] = 0x80|byte(ws.OpClose), 2
	binary.BigEndian.PutUint16(b[2:], uint16(code))
	if c.rc != nil {
		var iov [1]iovec
		setIovec(&iov[0], b[:])
		rio := rawIOPool.Get().(*rawIO)
		_, err := writevNonblock(c.rc, rio, iov[:])
		rawIOPool.Put(rio)
		if err != errWouldBlock {
			return
		}
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
	_, _ = c.nc.Write(b[:])
}
