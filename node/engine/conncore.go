package engine

import "sync"

// connCore is what both engines' Conns share: the handler callbacks, the
// table of acknowledgements waited for (bounded), and the queue that hands
// client events over one at a time on a goroutine that lives only while
// there are some. E is the engine's queued event. The owner embeds it and
// uses its mu for its own fields too.
type connCore[E any] struct {
	mu       sync.Mutex
	closed   bool
	reason   string
	ready    bool // Handler.Connected has returned
	running  bool // a goroutine is draining queue
	queue    []E
	onEvent  func(event string, args []any, ack func(args ...any))
	onClose  func(reason string)
	onGone   func()
	onAckTok func(token uint64)
	acks     ackRing
	nextAck  uint64
}

// maxPendingAcks bounds the acknowledgements one connection waits for.
const maxPendingAcks = 4096

func (c *connCore[E]) OnEvent(fn func(event string, args []any, ack func(args ...any))) {
	c.mu.Lock()
	c.onEvent = fn
	c.mu.Unlock()
}

func (c *connCore[E]) OnClose(fn func(reason string)) {
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

func (c *connCore[E]) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// OnAckToken sets the handler of acknowledgements asked for with
// EmitPreparedToken (Conn).
func (c *connCore[E]) OnAckToken(fn func(token uint64)) {
	c.mu.Lock()
	c.onAckTok = fn
	c.mu.Unlock()
}

// addAck registers what runs on the acknowledgement and returns its id;
// false when closed. A client that never acknowledges must not grow the
// table without bound: beyond maxPendingAcks the oldest go first. Their
// messages stay in the caller's hands: courier resends from the mailbox on
// its own timeout.
func (c *connCore[E]) addAck(fn func([]any), token uint64) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, false
	}
	id := c.nextAck
	c.nextAck++
	c.acks.add(id, pendingAck{fn: fn, token: token, set: true}, maxPendingAcks)
	return id, true
}

// runAck runs what waits for ack id, if anything does and the Conn is
// open (an ack never runs after close). It runs on the read path: what it
// calls must be quick.
func (c *connCore[E]) runAck(id uint64, args []any) {
	c.mu.Lock()
	a, ok := c.acks.take(id)
	tok := c.onAckTok
	if !ok || c.closed {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	switch {
	case a.fn != nil:
		a.fn(args)
	case tok != nil:
		tok(a.token)
	}
}

// push queues ev. start: the caller must start a drain goroutine;
// overflow: the client outran its handler and must be cut off.
func (c *connCore[E]) push(ev E) (start, overflow bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false, false
	}
	if len(c.queue) >= maxQueued {
		return false, true
	}
	c.queue = append(c.queue, ev)
	if c.ready && !c.running {
		c.running = true
		return true, false
	}
	return false, false
}

// release marks Handler.Connected done and reports whether events queued
// before it need a drain goroutine.
func (c *connCore[E]) release() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ready = true
	if !c.closed && !c.running && len(c.queue) > 0 {
		c.running = true
		return true
	}
	return false
}

// next pops the next event for the drain goroutine with the handler to give
// it to; false when there is none, and the goroutine must end.
func (c *connCore[E]) next() (E, func(string, []any, func(...any)), bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero E
	if c.closed || len(c.queue) == 0 {
		c.running = false
		c.queue = nil // an idle connection keeps no queue
		return zero, nil, false
	}
	ev := c.queue[0]
	c.queue[0] = zero
	c.queue = c.queue[1:]
	return ev, c.onEvent, true
}

// setGone sets what runs on close; false when already closed.
func (c *connCore[E]) setGone(fn func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.onGone = fn
	return true
}

// markClosed closes the core once, dropping queued events and pending acks,
// and hands back what must run now that it is closed (nil: closed before).
func (c *connCore[E]) markClosed(reason string) (closed func(), ok bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false
	}
	c.closed = true
	c.reason = reason
	c.queue = nil
	c.acks = ackRing{}
	c.onAckTok = nil
	onClose, onGone := c.onClose, c.onGone
	c.onClose, c.onGone, c.onEvent = nil, nil, nil
	c.mu.Unlock()
	return func() {
		if onGone != nil {
			onGone()
		}
		if onClose != nil {
			onClose(reason)
		}
	}, true
}

// pendingAcks counts the acknowledgements waited for (tests).
func (c *connCore[E]) pendingAcks() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acks.live
}

// tokenAck is the callback form of a token acknowledgement, for the paths
// that cannot share the prepared bytes.
func (c *connCore[E]) tokenAck(token uint64) func([]any) {
	return func([]any) {
		c.mu.Lock()
		fn := c.onAckTok
		c.mu.Unlock()
		if fn != nil {
			fn(token)
		}
	}
}
