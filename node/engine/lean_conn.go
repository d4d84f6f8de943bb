package engine

import (
	"sync"

	"github.com/gobwas/ws"
)

// lconn is one client on one namespace of the lean engine; it implements
// Conn with the same rules as the zishang520 conn (sio_conn.go): events
// handed over one at a time by a goroutine that lives only while there are
// some, acks bounded and never run after close.
type lconn struct {
	ls  *leanSession
	nsp string
	id  string

	connCore[leanEvent]
}

// leanEvent is a client event waiting for the handler, or its DISCONNECT.
type leanEvent struct {
	args []any // event name first
	id   int64 // -1: no ack asked
	bye  bool
}

var _ Conn = (*lconn)(nil)

func newLconn(ls *leanSession, nsp string) *lconn {
	return &lconn{ls: ls, nsp: nsp, id: newSID()}
}

func (c *lconn) ID() string { return c.id }

// ackID registers ack and returns its id (-1 for none), or false when closed.
func (c *lconn) ackID(ack func([]any)) (int64, bool) {
	if ack == nil {
		return -1, !c.isClosed()
	}
	id, ok := c.addAck(ack, 0)
	return int64(id), ok
}

func (c *lconn) Emit(event string, args []any, ack func(args []any)) error {
	id, ok := c.ackID(ack)
	if !ok {
		return ErrClosed
	}
	data := make([]any, 0, len(args)+1)
	data = append(data, event)
	data = append(data, args...)
	return c.ls.writePacket(pkEvent, c.nsp, id, data)
}

// EmitPreparedToken sends an event encoded once for every receiver: only
// the head with this connection's ack id is written per connection; the
// JSON body is shared. The acknowledgement goes to the OnAckToken handler
// with token: nothing is allocated per message.
func (c *lconn) EmitPreparedToken(p *Prepared, token uint64) error {
	body, ok := p.body()
	if !ok || c.nsp != "/" {
		return c.Emit(p.Event, p.Args, c.tokenAck(token))
	}
	id, ok := c.addAck(nil, token)
	if !ok {
		return ErrClosed
	}
	c.writePrepared(body, int64(id))
	return nil
}

func (c *lconn) writePrepared(body []byte, id int64) {
	var head [24]byte
	prefix := appendHead(head[:0], pkEvent, "/", 0, id)
	w := c.ls.c
	w.mu.Lock()
	r := w.enqueueLocked(ws.OpText, prefix, body, nil)
	w.mu.Unlock()
	w.after(r)
}

// Disconnect sends DISCONNECT; the last namespace of a connection also
// closes the transport once the packet is on the wire.
func (c *lconn) Disconnect() {
	c.closeWith("server namespace disconnect")
	c.ls.writeControl(pkDisconnect, c.nsp, nil)
	if c.ls.empty() {
		c.ls.c.closeAfterFlush("server namespace disconnect")
	}
}

// CloseTransport closes once everything emitted before is on the wire (or
// after closeFlushGrace for a client that stopped reading).
func (c *lconn) CloseTransport() { c.ls.c.closeAfterFlush(reasonForced) }

func (c *lconn) enqueue(ev leanEvent) {
	start, overflow := c.push(ev)
	if overflow {
		c.ls.s.core.log.Warn("client outran its event handler, closing transport", "id", c.id, "queued", maxQueued)
		c.CloseTransport()
		return
	}
	if start {
		go c.drain()
	}
}

// start releases the events queued before Handler.Connected returned.
func (c *lconn) start() {
	if c.release() {
		go c.drain()
	}
}

func (c *lconn) drain() {
	for {
		ev, fn, ok := c.next()
		if !ok {
			return
		}
		if ev.bye {
			c.closeWith("client namespace disconnect")
			continue
		}
		c.deliver(ev, fn)
	}
}

func (c *lconn) deliver(ev leanEvent, fn func(string, []any, func(...any))) {
	event, ok := ev.args[0].(string)
	if !ok || fn == nil {
		return
	}
	var ack func(args ...any)
	if ev.id >= 0 {
		id := ev.id
		var once sync.Once
		ack = func(args ...any) {
			once.Do(func() { c.sendAck(id, args) })
		}
	}
	fn(event, ev.args[1:], ack)
}

func (c *lconn) sendAck(id int64, args []any) {
	if c.isClosed() {
		return
	}
	if args == nil {
		args = []any{}
	}
	_ = c.ls.writePacket(pkAck, c.nsp, id, args)
}

// onAck runs the callback of an Emit the client acknowledged, on the read
// path: callbacks must be quick.
func (c *lconn) onAck(id int64, args []any) {
	c.runAck(uint64(id), args)
}

// closeWith closes the Conn once: queued events and pending acks are dropped
// and OnClose runs with reason.
func (c *lconn) closeWith(reason string) {
	if closed, ok := c.markClosed(reason); ok {
		c.ls.unregister(c)
		closed()
	}
}
