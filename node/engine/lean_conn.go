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
	ls   *leanSession
	nsp  string
	id   string
	hs   *Handshake
	auth any

	mu        sync.Mutex
	closed    bool
	reason    string
	ready     bool // Handler.Connected has returned
	running   bool // a goroutine is draining queue
	queue     []leanEvent
	onEvent   func(event string, args []any, ack func(args ...any))
	onClose   func(reason string)
	onGone    func()
	acks      map[int64]func(args []any)
	oldestAck int64
	nextAck   int64
}

// leanEvent is a client event waiting for the handler, or its DISCONNECT.
type leanEvent struct {
	args []any // event name first
	id   int64 // -1: no ack asked
	bye  bool
}

var (
	_ Conn            = (*lconn)(nil)
	_ PreparedEmitter = (*lconn)(nil)
)

func newLconn(ls *leanSession, nsp string) *lconn {
	return &lconn{ls: ls, nsp: nsp, id: newSID()}
}

func (c *lconn) ID() string            { return c.id }
func (c *lconn) Handshake() *Handshake { return c.hs }

// ackID registers ack and returns its id (-1 for none), or false when closed.
func (c *lconn) ackID(ack func([]any)) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, false
	}
	if ack == nil {
		return -1, true
	}
	id := c.nextAck
	c.nextAck++
	if c.acks == nil {
		c.acks = make(map[int64]func([]any))
	}
	c.acks[id] = ack
	// A client that never acknowledges must not grow the table without
	// bound: the oldest callbacks go first (ids rise by one per emit).
	for len(c.acks) > maxPendingAcks {
		delete(c.acks, c.oldestAck)
		c.oldestAck++
	}
	return id, true
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

// EmitPrepared sends an event encoded once for every receiver: only the
// head with this connection's ack id is written per connection; the JSON
// body is shared.
func (c *lconn) EmitPrepared(p *Prepared, ack func(args []any)) error {
	body, ok := p.body()
	if !ok || c.nsp != "/" {
		return c.Emit(p.Event, p.Args, ack)
	}
	id, ok := c.ackID(ack)
	if !ok {
		return ErrClosed
	}
	var head [24]byte
	prefix := appendHead(head[:0], pkEvent, "/", 0, id)
	w := c.ls.c
	w.mu.Lock()
	r := w.enqueueLocked(ws.OpText, prefix, body, nil)
	w.mu.Unlock()
	w.after(r)
	return nil
}

func (c *lconn) OnEvent(fn func(event string, args []any, ack func(args ...any))) {
	c.mu.Lock()
	c.onEvent = fn
	c.mu.Unlock()
}

func (c *lconn) OnClose(fn func(reason string)) {
	c.mu.Lock()
	if c.closed {
		r := c.reason
		c.mu.Unlock()
		fn(r)
		return
	}
	c.onClose = fn
	c.mu.Unlock()
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
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if len(c.queue) >= maxQueued {
		c.mu.Unlock()
		c.ls.s.core.log.Warn("client outran its event handler, closing transport", "id", c.id, "queued", maxQueued)
		c.CloseTransport()
		return
	}
	c.queue = append(c.queue, ev)
	start := c.ready && !c.running
	if start {
		c.running = true
	}
	c.mu.Unlock()
	if start {
		go c.drain()
	}
}

// start releases the events queued before Handler.Connected returned.
func (c *lconn) start() {
	c.mu.Lock()
	c.ready = true
	start := !c.closed && !c.running && len(c.queue) > 0
	if start {
		c.running = true
	}
	c.mu.Unlock()
	if start {
		go c.drain()
	}
}

func (c *lconn) drain() {
	for {
		c.mu.Lock()
		if c.closed || len(c.queue) == 0 {
			c.running = false
			c.queue = nil // an idle connection keeps no queue
			c.mu.Unlock()
			return
		}
		ev := c.queue[0]
		c.queue[0] = leanEvent{}
		c.queue = c.queue[1:]
		fn := c.onEvent
		c.mu.Unlock()
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
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
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
	c.mu.Lock()
	fn, ok := c.acks[id]
	if ok {
		delete(c.acks, id)
	}
	closed := c.closed
	c.mu.Unlock()
	if ok && !closed {
		fn(args)
	}
}

func (c *lconn) setGone(fn func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.onGone = fn
	return true
}

// closeWith closes the Conn once: queued events and pending acks are dropped
// and OnClose runs with reason.
func (c *lconn) closeWith(reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.reason = reason
	c.queue = nil
	c.acks = nil
	onClose, onGone := c.onClose, c.onGone
	c.onClose, c.onGone, c.onEvent = nil, nil, nil
	c.mu.Unlock()
	c.ls.unregister(c)
	if onGone != nil {
		onGone()
	}
	if onClose != nil {
		onClose(reason)
	}
}

// pendingAcks counts the acknowledgements waited for (tests).
func (c *lconn) pendingAcks() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.acks)
}
