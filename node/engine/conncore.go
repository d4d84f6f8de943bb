package engine

import "sync"

// connCore is what both engines' Conns share: the handler callbacks, the
// table of acknowledgements waited for (bounded), and the queue that hands
// client events over one at a time on a goroutine that lives only while
// there are some. E is the engine's queued event. The owner embeds it and
// uses its mu for its own fields too.
type connCore[E any] struct {
	mu        sync.Mutex
	closed    bool
	reason    string
	ready     bool // Handler.Connected has returned
	running   bool // a goroutine is draining queue
	queue     []E
	onEvent   func(event string, args []any, ack func(args ...any))
	onClose   func(reason string)
	onGone    func()
	acks      map[uint64]func(args []any)
	oldestAck uint64 // lowest ack id that may still be pending
	nextAck   uint64
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

// addAck registers ack (non-nil) and returns its id; false when closed.
func (c *connCore[E]) addAck(ack func([]any)) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, false
	}
	id := c.nextAck
	c.nextAck++
	if c.acks == nil {
		c.acks = make(map[uint64]func([]any))
	}
	c.acks[id] = ack
	// A client that never acknowledges must not grow the table without
	// bound: the oldest callbacks go first (ids rise by one per emit).
	// Their messages stay in the caller's hands: courier resends from the
	// mailbox on its own timeout.
	for len(c.acks) > maxPendingAcks {
		delete(c.acks, c.oldestAck)
		c.oldestAck++
	}
	return id, true
}

// takeAck removes and returns the callback of ack id; nil when there is
// none or the Conn is closed (an ack never runs after close).
func (c *connCore[E]) takeAck(id uint64) func([]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn, ok := c.acks[id]
	if !ok {
		return nil
	}
	delete(c.acks, id)
	if c.closed {
		return nil
	}
	return fn
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
	c.acks = nil
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
	return len(c.acks)
}
