package engine

import (
	"sync"

	eioengine "github.com/zishang520/engine.io/v2/engine"
	"github.com/zishang520/engine.io/v2/events"
	"github.com/zishang520/engine.io/v2/types"
	"github.com/zishang520/socket.io-go-parser/v2/parser"
)

// link sits between one Engine.IO session and socket.io's Client. It decodes
// every socket.io packet itself: events and acks of namespaces we serve go to
// their Conn in arrival order; everything else (CONNECT, DISCONNECT, protocol
// errors) goes on to socket.io unchanged.
//
// Why: the library runs each decoded packet in its own goroutine, so events
// of one client overtake each other; and it registers a socket in its client
// only after answering the CONNECT, so an event sent right after the answer
// could be refused as "invalid state".
type link struct {
	s    *SocketIO
	sock eioengine.Socket

	// decoding state, only touched by onData (serialized by the gate)
	dec    parser.Decoder
	pieces []types.BufferInterface
	got    *parser.Packet

	passMu  sync.Mutex
	mu      sync.Mutex
	forward events.Listener
	conns   map[string]*conn
}

func newLink(s *SocketIO, sock eioengine.Socket) *link {
	l := &link{s: s, sock: sock, conns: make(map[string]*conn, 1)}
	l.resetDecoder()
	return l
}

func (l *link) resetDecoder() {
	l.dec = parser.NewDecoder()
	l.dec.On("decoded", func(args ...any) {
		if len(args) > 0 {
			l.got, _ = args[0].(*parser.Packet)
		}
	})
	l.pieces = nil
	l.got = nil
}

func (l *link) setForward(fn events.Listener) {
	l.mu.Lock()
	l.forward = fn
	l.mu.Unlock()
}

func (l *link) register(nsp string, c *conn) {
	l.mu.Lock()
	l.conns[nsp] = c
	l.mu.Unlock()
}

func (l *link) unregister(nsp string, c *conn) {
	l.mu.Lock()
	if l.conns[nsp] == c {
		delete(l.conns, nsp)
	}
	l.mu.Unlock()
}

func (l *link) conn(nsp string) *conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns[nsp]
}

func (l *link) empty() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns) == 0
}

// onData receives the session's messages in order (under the gate's lock).
func (l *link) onData(args ...any) {
	if len(args) == 0 {
		return
	}
	raw, ok := args[0].(types.BufferInterface)
	if !ok {
		l.pass([]any{args[0]})
		return
	}
	// the decoder consumes raw; keep a copy in case socket.io must see it
	l.pieces = append(l.pieces, raw.Clone())
	l.got = nil
	if err := l.dec.Add(raw); err != nil {
		pieces := l.pieces
		l.resetDecoder()
		l.passPieces(pieces) // socket.io sees the same error and closes
		return
	}
	pkt := l.got
	if pkt == nil {
		return // waiting for binary attachments
	}
	pieces := l.pieces
	l.pieces, l.got = nil, nil
	switch pkt.Type {
	case parser.EVENT, parser.BINARY_EVENT:
		if c := l.conn(pkt.Nsp); c != nil {
			c.enqueue(pkt)
			return
		}
	case parser.ACK, parser.BINARY_ACK:
		if c := l.conn(pkt.Nsp); c != nil {
			c.onAck(pkt)
			return
		}
	case parser.DISCONNECT:
		// In line behind the events before it, and only once socket.io has
		// registered the socket (a DISCONNECT right after the CONNECT answer
		// would otherwise hit "invalid state").
		if c := l.conn(pkt.Nsp); c != nil {
			c.enqueueDisconnect(pieces)
			return
		}
	}
	l.passPieces(pieces)
}

func (l *link) passPieces(pieces []types.BufferInterface) {
	for _, p := range pieces {
		l.pass([]any{p})
	}
}

// pass hands data to socket.io; passMu keeps its decoder single-threaded
// (the read loop and a conn's drain both pass).
func (l *link) pass(args []any) {
	l.passMu.Lock()
	defer l.passMu.Unlock()
	l.mu.Lock()
	fn := l.forward
	l.mu.Unlock()
	if fn != nil {
		fn(args...)
	}
}

// closeAll closes every Conn of the session (the session is gone).
func (l *link) closeAll(reason string) {
	l.mu.Lock()
	cs := make([]*conn, 0, len(l.conns))
	for _, c := range l.conns {
		cs = append(cs, c)
	}
	l.mu.Unlock()
	for _, c := range cs {
		c.closeWith(reason)
	}
}
