// Package enginetest has an in-memory engine.Conn for tests of the layers
// above the engine.
package enginetest

import (
	"sync"
	"sync/atomic"
	"time"

	"courier/node/engine"
)

// Emitted is one Emit or EmitPreparedToken call.
type Emitted struct {
	Event string
	Args  []any
	// Ack plays the client's acknowledgement: it runs the Emit's callback,
	// or the OnAckToken handler with the EmitPreparedToken's token, as the
	// engines do: at most once, and never after Close. Nil when no ack was
	// asked.
	Ack func([]any)
}

// Conn records what is emitted to it; tests play the client by calling
// Ack callbacks, Event and Close.
type Conn struct {
	Id string

	mu       sync.Mutex
	emits    []Emitted
	closed   bool
	onEvent  func(string, []any, func(...any))
	onClose  func(string)
	onAckTok func(uint64)

	Kicked           atomic.Int32 // Disconnect calls
	TransportsClosed atomic.Int32 // CloseTransport calls
}

var _ engine.Conn = (*Conn)(nil)

func (c *Conn) ID() string { return c.Id }

func (c *Conn) Emit(event string, args []any, ack func([]any)) error {
	e := Emitted{Event: event, Args: args}
	if ack != nil {
		e.Ack = c.acker(ack)
	}
	c.record(e)
	return nil
}

func (c *Conn) OnAckToken(f func(uint64)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onAckTok = f
}

// EmitPreparedToken records p's event and arguments as they are, with an
// Ack that runs the OnAckToken handler with token.
func (c *Conn) EmitPreparedToken(p *engine.Prepared, token uint64) error {
	c.record(Emitted{Event: p.Event, Args: p.Args, Ack: c.acker(func([]any) {
		c.mu.Lock()
		f := c.onAckTok
		c.mu.Unlock()
		if f != nil {
			f(token)
		}
	})})
	return nil
}

func (c *Conn) record(e Emitted) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.emits = append(c.emits, e)
}

// acker wraps ack to run at most once, and not once the Conn is closed.
func (c *Conn) acker(ack func([]any)) func([]any) {
	var done atomic.Bool
	return func(args []any) {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if !closed && done.CompareAndSwap(false, true) {
			ack(args)
		}
	}
}

func (c *Conn) OnEvent(f func(string, []any, func(...any))) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onEvent = f
}

func (c *Conn) OnClose(f func(string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onClose = f
}

func (c *Conn) Disconnect()     { c.Kicked.Add(1); c.Close("server disconnect") }
func (c *Conn) CloseTransport() { c.TransportsClosed.Add(1); c.Close("transport close") }

// Emits returns a copy of what was emitted so far.
func (c *Conn) Emits() []Emitted {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Emitted(nil), c.emits...)
}

// EmitsOf returns what was emitted under event.
func (c *Conn) EmitsOf(event string) []Emitted {
	var out []Emitted
	for _, e := range c.Emits() {
		if e.Event == event {
			out = append(out, e)
		}
	}
	return out
}

// Event plays a client event and returns what the server acknowledged with.
func (c *Conn) Event(event string, args ...any) []any {
	c.mu.Lock()
	f := c.onEvent
	c.mu.Unlock()
	var got []any
	f(event, args, func(a ...any) { got = a })
	return got
}

// Ask plays a client event and waits (up to timeout) for the server's
// acknowledgement, which may come from another goroutine; nil if none came.
func (c *Conn) Ask(timeout time.Duration, event string, args ...any) []any {
	c.mu.Lock()
	f := c.onEvent
	c.mu.Unlock()
	got := make(chan []any, 1)
	f(event, args, func(a ...any) { got <- a })
	select {
	case a := <-got:
		return a
	case <-time.After(timeout):
		return nil
	}
}

// Close plays the connection going away; the close handler runs once.
func (c *Conn) Close(reason string) {
	c.mu.Lock()
	f := c.onClose
	c.onClose = nil
	c.closed = true
	c.mu.Unlock()
	if f != nil {
		f(reason)
	}
}
