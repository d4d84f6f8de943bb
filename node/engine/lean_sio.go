package engine

import (
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gobwas/ws"
)

// leanSIO is socket.io v5 on the lean engine, for direct WebSocket
// connections. It hands the node the same Conn and Handler as SocketIO.
type leanSIO struct {
	core  *leanCore
	main  Handler
	extra map[string]Handler
	count atomic.Int64 // connections on "/"
}

func newLeanSIO(cfg Config, h Handler, extra map[string]Handler, log *slog.Logger) *leanSIO {
	return &leanSIO{core: newLeanCore(cfg, log), main: h, extra: extra}
}

func (s *leanSIO) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.core.accept(w, r, s.newSession)
}

func (s *leanSIO) close() { s.core.close() }

func (s *leanSIO) handler(nsp string) Handler {
	if nsp == "/" {
		return s.main
	}
	return s.extra[nsp]
}

var bareWebSocket = Handshake{Transport: "websocket"}

// leanSession is the socket.io side of one lean Engine.IO connection: the
// namespaces it joined and a binary packet being assembled.
type leanSession struct {
	s *leanSIO
	c *wconn
	// base is Query, Header and RemoteAddr for Authenticate (Auth is set per
	// namespace). When "/" is the only namespace served it becomes
	// bareWebSocket after the first accepted CONNECT, so an idle connection
	// keeps none of it; a later CONNECT on the same connection (after a
	// DISCONNECT) sees only its Auth.
	base *Handshake

	mu    sync.Mutex
	conns []*lconn // joined namespaces; usually just "/"
	any   bool     // a namespace was ever connected
	gone  string

	// a binary packet waiting for its attachments (reader only)
	pending *sioPacket
	atts    [][]byte
}

func (s *leanSIO) newSession(c *wconn, r *http.Request) upper {
	ls := &leanSession{s: s, c: c, base: &Handshake{
		Query:      url.Values(maps.Clone(map[string][]string(r.URL.Query()))),
		Header:     handshakeHeader(r.Header),
		RemoteAddr: r.RemoteAddr,
		Transport:  "websocket",
	}}
	c.armConnectTimeout(s.core.cfg.ConnectTimeout)
	return ls
}

// handshakeHeader keeps the request's headers minus the WebSocket plumbing
// nobody above the engine reads: less memory per connection.
func handshakeHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		switch k {
		case "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions", "Upgrade", "Connection":
			continue
		}
		out[k] = v
	}
	return out
}

// onTimeout: no namespace was joined within ConnectTimeout.
func (ls *leanSession) onTimeout() {
	ls.mu.Lock()
	joined := ls.any
	ls.mu.Unlock()
	if !joined {
		ls.c.close(reasonForced, ws.StatusNormalClosure)
	}
}

func (ls *leanSession) onClose(reason string) {
	ls.mu.Lock()
	ls.gone = reason
	cs := slices.Clone(ls.conns)
	ls.mu.Unlock()
	for _, c := range cs {
		c.closeWith(reason)
	}
}

func (ls *leanSession) onMessage(data []byte, binary bool) {
	if binary {
		if ls.pending == nil {
			ls.c.close(reasonParseError, ws.StatusProtocolError)
			return
		}
		ls.atts = append(ls.atts, append([]byte(nil), data...))
		if len(ls.atts) < ls.pending.attachments {
			return
		}
		p, atts := ls.pending, ls.atts
		ls.pending, ls.atts = nil, nil
		for i, v := range p.data {
			r, err := reconstruct(v, atts)
			if err != nil {
				ls.c.close(reasonParseError, ws.StatusProtocolError)
				return
			}
			p.data[i] = r
		}
		ls.dispatch(p)
		return
	}
	if ls.pending != nil {
		// socket.io-parser: plain text while reconstructing is an error
		ls.c.close(reasonParseError, ws.StatusProtocolError)
		return
	}
	if id, ok := plainAck(data); ok {
		ls.dispatchAck("/", id)
		return
	}
	p, err := decodePacket(data)
	if err != nil {
		ls.c.close(reasonParseError, ws.StatusProtocolError)
		return
	}
	if p.attachments > 0 {
		ls.pending = p
		return
	}
	ls.dispatch(p)
}

func (ls *leanSession) conn(nsp string) *lconn {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.connLocked(nsp)
}

func (ls *leanSession) connLocked(nsp string) *lconn {
	for _, c := range ls.conns {
		if c.nsp == nsp {
			return c
		}
	}
	return nil
}

func (ls *leanSession) dispatch(p *sioPacket) {
	if p.typ == pkConnect {
		ls.connect(p)
		return
	}
	if p.typ == pkConnectError {
		return
	}
	c := ls.joined(p.nsp)
	if c == nil {
		return
	}
	switch p.typ {
	case pkEvent, pkBinaryEvent:
		c.enqueue(leanEvent{args: p.data, id: p.id})
	case pkAck, pkBinaryAck:
		c.onAck(p.id, p.data)
	case pkDisconnect:
		c.enqueue(leanEvent{bye: true})
	}
}

// dispatchAck is dispatch for an empty acknowledgement (plainAck).
func (ls *leanSession) dispatchAck(nsp string, id int64) {
	if c := ls.joined(nsp); c != nil {
		c.onAck(id, []any{})
	}
}

// joined is the Conn of namespace nsp; nil, with the connection closed,
// when the client did not join it (socket.io closes a client that talks on
// a namespace it did not join).
func (ls *leanSession) joined(nsp string) *lconn {
	c := ls.conn(nsp)
	if c == nil {
		ls.c.close(reasonForced, ws.StatusPolicyViolation)
	}
	return c
}

// connect answers a CONNECT. The handler runs on its own goroutine (it may
// touch stores); events that arrive meanwhile wait in the Conn's queue.
func (ls *leanSession) connect(p *sioPacket) {
	h := ls.s.handler(p.nsp)
	if h == nil {
		ls.writeControl(pkConnectError, p.nsp, connectErrorBody{Message: "Invalid namespace"})
		return
	}
	ls.mu.Lock()
	if ls.gone != "" || ls.connLocked(p.nsp) != nil {
		ls.mu.Unlock()
		return
	}
	c := newLconn(ls, p.nsp)
	ls.conns = append(ls.conns, c)
	hs := *ls.base
	ls.mu.Unlock()
	auth := p.auth
	if auth == nil {
		auth = map[string]any{}
	}
	hs.Auth = auth
	go ls.accept(c, h, &hs)
}

func (ls *leanSession) accept(c *lconn, h Handler, hs *Handshake) {
	val, err := h.Authenticate(hs)
	if err != nil {
		ls.unregister(c)
		body := connectErrorBody{Message: err.Error()}
		var ce *ConnectError
		if errors.As(err, &ce) {
			body = connectErrorBody{Message: ce.Message, Data: ce.Data}
		}
		ls.writeControl(pkConnectError, c.nsp, body)
		c.closeWith("server namespace disconnect")
		return
	}
	ls.mu.Lock()
	ls.any = true
	if len(ls.s.extra) == 0 {
		ls.base = &bareWebSocket
	}
	ls.mu.Unlock()
	ls.c.disarmConnectTimeout()
	ls.writeControl(pkConnect, c.nsp, struct {
		Sid string `json:"sid"`
	}{c.id})
	if c.nsp == "/" {
		ls.s.count.Add(1)
		if !c.setGone(func() { ls.s.count.Add(-1) }) {
			ls.s.count.Add(-1)
			return
		}
	}
	h.Connected(c, val)
	c.start()
}

type connectErrorBody struct {
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func (ls *leanSession) unregister(c *lconn) {
	ls.mu.Lock()
	if i := slices.Index(ls.conns, c); i >= 0 {
		ls.conns = slices.Delete(ls.conns, i, i+1)
	}
	ls.mu.Unlock()
}

func (ls *leanSession) empty() bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return len(ls.conns) == 0
}

// writeControl sends a CONNECT answer, CONNECT_ERROR or DISCONNECT.
func (ls *leanSession) writeControl(typ byte, nsp string, body any) {
	bp := getEncBuf()
	b, _, err := encodePacket(*bp, typ, nsp, -1, body)
	if err != nil {
		b, _, _ = encodePacket((*bp)[:0], typ, nsp, -1, nil)
	}
	*bp = b
	ls.c.mu.Lock()
	r := ls.c.enqueueLocked(ws.OpText, nil, b, bp)
	ls.c.mu.Unlock()
	ls.c.after(r)
}

// writePacket encodes and queues a packet with its binary attachments as
// one unit, so nothing is interleaved between them.
func (ls *leanSession) writePacket(typ byte, nsp string, id int64, payload any) error {
	bp := getEncBuf()
	b, atts, err := encodePacket(*bp, typ, nsp, id, payload)
	*bp = b
	if err != nil {
		putEncBuf(bp)
		return err
	}
	ls.c.mu.Lock()
	r := ls.c.enqueueLocked(ws.OpText, nil, b, bp)
	for _, a := range atts {
		if r == enqDropped || r == enqOverflow {
			break
		}
		if r2 := ls.c.enqueueLocked(ws.OpBinary, nil, a, nil); r2 != enqDone {
			r = r2
		}
	}
	ls.c.mu.Unlock()
	ls.c.after(r)
	return nil
}
