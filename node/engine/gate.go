package engine

import (
	"sync"

	"github.com/zishang520/engine.io/v2/events"
)

// maxEarly bounds what one session may send before its consumer attaches; the
// window is microseconds long, so only a misbehaving client gets near it.
const maxEarly = 256

// gate is the data listener of one Engine.IO session, attached before the
// OPEN packet leaves (see eio.onFlush). It holds what arrives before the
// consumer is ready and then hands everything over in arrival order.
//
// The library attaches socket.io's data listener only after OPEN was sent,
// so a CONNECT sent right after OPEN could reach a socket with no listener
// and vanish; the gate closes that window.
type gate struct {
	// readMu serializes delivery, so the replay of early data always comes
	// before anything that arrives while it runs. It is held while the
	// consumer runs; close paths take only mu.
	readMu sync.Mutex

	mu     sync.Mutex
	fn     events.Listener
	early  [][]any
	done   bool
	reason string
	onDone []func(reason string)
}

func newGate() *gate { return &gate{} }

func (g *gate) onData(args ...any) {
	g.readMu.Lock()
	defer g.readMu.Unlock()
	g.mu.Lock()
	fn, done := g.fn, g.done
	if fn == nil {
		if !done && len(g.early) < maxEarly {
			g.early = append(g.early, args)
		}
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	if !done {
		fn(args...)
	}
}

// attach sets the consumer and replays the early data to it.
func (g *gate) attach(fn events.Listener) {
	g.readMu.Lock()
	defer g.readMu.Unlock()
	g.mu.Lock()
	g.fn = fn
	early := g.early
	g.early = nil
	g.mu.Unlock()
	for _, args := range early {
		fn(args...)
	}
}

// whenClosed runs fn once with the session's close reason (at once when the
// session is already gone).
func (g *gate) whenClosed(fn func(reason string)) {
	g.mu.Lock()
	if g.done && g.reason != "" {
		r := g.reason
		g.mu.Unlock()
		fn(r)
		return
	}
	g.onDone = append(g.onDone, fn)
	g.mu.Unlock()
}

func (g *gate) close(reason string) {
	if reason == "" {
		reason = "transport close"
	}
	g.mu.Lock()
	g.done = true
	g.reason = reason
	g.early = nil
	fns := g.onDone
	g.onDone = nil
	g.mu.Unlock()
	for _, fn := range fns {
		fn(reason)
	}
}
