package engine

import (
	"errors"
	"sync"
	"time"

	"github.com/zishang520/engine.io/v2/transports"
	"github.com/zishang520/engine.io/v2/types"
	"github.com/zishang520/socket.io-go-parser/v2/parser"
	"github.com/zishang520/socket.io/v2/socket"
)

// ErrClosed is returned by Emit on a closed connection.
var ErrClosed = errors.New("engine: connection closed")

// maxQueued bounds the client events waiting for the handler; a client that
// outruns its handler this far loses its transport (and reconnects).
const maxQueued = 1024

// conn is one client on one namespace; it implements Conn.
type conn struct {
	l    *link
	sk   *socket.Socket
	nsp  string
	auth any // for Handler.Connected, then dropped

	connCore[*parser.Packet]
	bye []types.BufferInterface // the client's DISCONNECT, raw; under mu
}

var _ Conn = (*conn)(nil)

func newConn(l *link, sk *socket.Socket, nsp string, auth any) *conn {
	return &conn{l: l, sk: sk, nsp: nsp, auth: auth}
}

func (c *conn) ID() string { return string(c.sk.Id()) }

func (c *conn) Emit(event string, args []any, ack func(args []any)) error {
	data := make([]any, 0, len(args)+1)
	data = append(data, event)
	data = append(data, args...)
	pkt := &parser.Packet{Type: parser.EVENT, Nsp: c.nsp, Data: data}
	if ack != nil {
		id, ok := c.addAck(ack, 0)
		if !ok {
			return ErrClosed
		}
		pkt.Id = &id
	} else if c.isClosed() {
		return ErrClosed
	}
	c.write(pkt)
	return nil
}

// write queues pkt on the session. It goes through socket.io's client so the
// pieces of a binary packet are never interleaved with socket.io's own.
func (c *conn) write(pkt *parser.Packet) {
	bufs := c.l.s.sio.Encoder().Encode(pkt)
	c.sk.Client().WriteToEngine(bufs, &socket.WriteOptions{})
}

func (c *conn) Disconnect() {
	c.closeWith("server namespace disconnect")
	if !c.l.empty() {
		// another namespace still uses the session (conformance only)
		c.sk.Disconnect(false)
		return
	}
	// Last namespace: send DISCONNECT ourselves and end the session once it
	// is on the wire. The library's own close does not wait for a WebSocket
	// write in flight, so socket.Disconnect(true) can lose the DISCONNECT
	// and the client would reconnect.
	for _, b := range c.l.s.sio.Encoder().Encode(&parser.Packet{Type: parser.DISCONNECT, Nsp: c.nsp}) {
		c.l.sock.Write(b, nil, func(transports.Transport) { c.l.sock.Close(false) })
	}
}

// CloseTransport closes once everything emitted before is on the wire, so a
// last word (courier:disconnect) reaches the client. The library's own
// Close(false) only waits for its buffer to reach the transport, and a
// WebSocket write still in flight is cut off.
func (c *conn) CloseTransport() {
	sock := c.l.sock
	var once sync.Once
	closeWith := func(discard bool) { once.Do(func() { sock.Close(discard) }) }
	// A transport turns "ready" after each write; the socket's own "ready"
	// listener runs first and flushes its buffer, so writable here means
	// nothing is buffered or in flight.
	var whenIdle func(...any)
	whenIdle = func(...any) {
		t := sock.Transport()
		t.Once("ready", whenIdle)
		if t.Writable() {
			closeWith(false)
		}
	}
	whenIdle()
	// A client that stops reading never turns the transport ready again.
	time.AfterFunc(closeFlushGrace, func() { closeWith(true) })
}

// closeFlushGrace bounds how long CloseTransport waits for writes to drain.
const closeFlushGrace = 2 * time.Second

// enqueue adds a client event; events run one at a time, in arrival order.
func (c *conn) enqueue(pkt *parser.Packet) {
	start, overflow := c.push(pkt)
	if overflow {
		c.l.s.log.Warn("client outran its event handler, closing transport", "id", c.ID(), "queued", maxQueued)
		c.CloseTransport()
		return
	}
	if start {
		go c.drain()
	}
}

// enqueueDisconnect queues the client's DISCONNECT (its raw pieces) behind
// the events before it; drain hands it to socket.io.
func (c *conn) enqueueDisconnect(pieces []types.BufferInterface) {
	c.mu.Lock()
	c.bye = pieces
	c.mu.Unlock()
	c.enqueue(&parser.Packet{Type: parser.DISCONNECT, Nsp: c.nsp})
}

// start releases the events queued before Handler.Connected returned.
func (c *conn) start() {
	if c.release() {
		go c.drain()
	}
}

func (c *conn) drain() {
	for {
		pkt, fn, ok := c.next()
		if !ok {
			return
		}
		if pkt.Type == parser.DISCONNECT {
			c.mu.Lock()
			bye := c.bye
			c.mu.Unlock()
			c.l.passPieces(bye)
			continue
		}
		c.deliver(pkt, fn)
	}
}

func (c *conn) deliver(pkt *parser.Packet, fn func(string, []any, func(...any))) {
	data, _ := pkt.Data.([]any)
	if len(data) == 0 {
		return
	}
	event, ok := data[0].(string)
	if !ok {
		return
	}
	var ack func(args ...any)
	if pkt.Id != nil {
		id := *pkt.Id
		var once sync.Once
		ack = func(args ...any) {
			once.Do(func() { c.sendAck(id, args) })
		}
	}
	if fn != nil {
		fn(event, data[1:], ack)
	}
}

func (c *conn) sendAck(id uint64, args []any) {
	if c.isClosed() {
		return
	}
	if args == nil {
		args = []any{}
	}
	c.write(&parser.Packet{Type: parser.ACK, Nsp: c.nsp, Id: &id, Data: args})
}

// EmitPreparedToken: zishang520 encodes per connection anyway.
func (c *conn) EmitPreparedToken(p *Prepared, token uint64) error {
	return c.Emit(p.Event, p.Args, c.tokenAck(token))
}

// onAck runs the callback of an Emit the client acknowledged. It runs on the
// session's read path, so callbacks must be quick.
func (c *conn) onAck(pkt *parser.Packet) {
	if pkt.Id == nil {
		return
	}
	args, _ := pkt.Data.([]any)
	c.runAck(*pkt.Id, args)
}

// closeWith closes the Conn once: queued events and pending acks are dropped
// and OnClose runs with reason.
func (c *conn) closeWith(reason string) {
	if closed, ok := c.markClosed(reason); ok {
		c.l.unregister(c.nsp, c)
		closed()
	}
}
