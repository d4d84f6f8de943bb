package engine

import (
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	eioengine "github.com/zishang520/engine.io/v2/engine"
	"github.com/zishang520/engine.io/v2/events"
	"github.com/zishang520/socket.io/v2/socket"
)

// Option adjusts a SocketIO server.
type Option func(*options)

type options struct {
	extra map[string]Handler
}

// WithNamespace also serves namespace name with h. Only the conformance server
// uses it: production serves the default namespace alone, and every other
// namespace gets the protocol's "Invalid namespace" error.
func WithNamespace(name string, h Handler) Option {
	return func(o *options) {
		if o.extra == nil {
			o.extra = make(map[string]Handler)
		}
		o.extra[name] = h
	}
}

// SocketIO is the socket.io v5 server of the node, built on
// zishang520/socket.io with the fix layer of this package. It is an
// http.Handler for Config.Path; all methods are safe for concurrent use.
type SocketIO struct {
	cfg     Config
	log     *slog.Logger
	eio     *eio
	sio     *socket.Server
	sioConn events.Listener // socket.io's engine "connection" handler
	lean    *leanSIO        // direct WebSockets; nil with cfg.LegacyWebSocket
	count   atomic.Int64
	closed  atomic.Bool
}

// NewSocketIO builds the server; h serves the default namespace "/".
func NewSocketIO(cfg Config, h Handler, log *slog.Logger, opts ...Option) (*SocketIO, error) {
	if h == nil {
		return nil, errors.New("engine: nil Handler")
	}
	if log == nil {
		return nil, errors.New("engine: nil logger")
	}
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	cfg = cfg.withDefaults()
	s := &SocketIO{cfg: cfg, log: log}

	sopts := socket.DefaultServerOptions()
	engineOptions(cfg, sopts)
	sopts.SetPath(strings.TrimSuffix(cfg.Path, "/"))
	sopts.SetConnectTimeout(cfg.ConnectTimeout)
	sopts.SetServeClient(false)
	// No SetConnectionStateRecovery: it panics on Go 1.26, and the mailbox
	// is ours anyway.
	s.sio = socket.NewServer(nil, sopts)
	s.eio = newEIO(cfg, sopts, log)
	s.eio.onConn = s.onEngineConn
	s.sio.Bind(&bindShim{BaseServer: s.eio.srv, set: func(fn events.Listener) { s.sioConn = fn }})
	if s.sioConn == nil {
		return nil, errors.New("engine: socket.io did not bind to the engine")
	}
	s.eio.pre = newPreSessions(s.eio)

	s.serve("/", h, true)
	for name, nh := range o.extra {
		if name == "/" || !strings.HasPrefix(name, "/") {
			return nil, errors.New("engine: bad extra namespace " + name)
		}
		s.serve(name, nh, false)
	}
	if !cfg.LegacyWebSocket {
		s.lean = newLeanSIO(cfg, h, o.extra, log.With("engine", "lean"))
	}
	return s, nil
}

// ServeHTTP serves Engine.IO requests at Config.Path: direct WebSocket
// connections on the lean engine, long-polling and its upgrade on
// zishang520.
func (s *SocketIO) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.lean != nil && s.eio.matchPath(r.URL.Path) && leanRoute(r) {
		s.lean.ServeHTTP(w, r)
		return
	}
	s.eio.ServeHTTP(w, r)
}

// Count is the number of connections on the default namespace.
func (s *SocketIO) Count() int {
	n := s.count.Load()
	if s.lean != nil {
		n += s.lean.count.Load()
	}
	return int(n)
}

// Close refuses new requests and closes every connection (reason "server
// shutting down"); the clients reconnect elsewhere.
func (s *SocketIO) Close() {
	if !s.closed.CompareAndSwap(false, true) {
		return
	}
	s.eio.closed.Store(true)
	if s.lean != nil {
		s.lean.close()
	}
	s.sio.Close(nil)
	s.eio.close()
}

// serve wires namespace name: h.Authenticate as its middleware, then a Conn
// per accepted socket.
func (s *SocketIO) serve(name string, h Handler, main bool) {
	nsp := s.sio.Of(name, nil)
	nsp.Use(func(sk *socket.Socket, next func(*socket.ExtendedError)) {
		ws, ok := sk.Conn().(*sioSocket)
		if !ok {
			next(socket.NewExtendedError("internal error", nil))
			return
		}
		hs := handshakeOf(sk)
		val, err := h.Authenticate(hs)
		if err != nil {
			var ce *ConnectError
			if errors.As(err, &ce) {
				next(socket.NewExtendedError(ce.Message, ce.Data))
			} else {
				next(socket.NewExtendedError(err.Error(), nil))
			}
			return
		}
		c := newConn(ws.l, sk, name, val)
		sk.SetData(c)
		// Registered before socket.io answers the CONNECT, so an event the
		// client sends right after the answer already finds its Conn.
		ws.l.register(name, c)
		next(nil)
	})
	nsp.On("connection", func(args ...any) {
		sk, _ := args[0].(*socket.Socket)
		if sk == nil {
			return
		}
		c, _ := sk.Data().(*conn)
		if c == nil {
			sk.Disconnect(false)
			return
		}
		sk.On("disconnect", func(args ...any) {
			reason, _ := firstString(args)
			c.closeWith(reason)
		})
		if !sk.Connected() {
			c.closeWith("transport close")
			return
		}
		if main {
			s.count.Add(1)
			if !c.setGone(func() { s.count.Add(-1) }) {
				s.count.Add(-1)
				return
			}
		}
		auth := c.auth
		c.auth = nil
		h.Connected(c, auth)
		c.start()
	})
}

// onEngineConn hands a new Engine.IO session to socket.io through a wrapper
// whose "data" listener is our link, then releases the early data.
func (s *SocketIO) onEngineConn(sock eioengine.Socket, g *gate) {
	l := newLink(s, sock)
	s.sioConn(&sioSocket{Socket: sock, l: l})
	g.whenClosed(l.closeAll)
	g.attach(l.onData)
}

func handshakeOf(sk *socket.Socket) *Handshake {
	h := sk.Handshake()
	auth, _ := h.Auth.(map[string]any)
	if auth == nil {
		// The library hands nil when the client sent no auth.
		auth = map[string]any{}
	}
	hs := &Handshake{
		Auth:       auth,
		Query:      url.Values(maps.Clone(h.Query)),
		Header:     http.Header(maps.Clone(h.Headers)),
		RemoteAddr: h.Address,
	}
	if t := sk.Conn().Transport(); t != nil {
		hs.Transport = t.Name()
	}
	return hs
}

// bindShim captures socket.io's engine "connection" listener, so sessions
// reach socket.io only through onEngineConn.
type bindShim struct {
	eioengine.BaseServer
	set func(events.Listener)
}

func (b *bindShim) On(ev events.EventName, fns ...events.Listener) error {
	if ev == "connection" && len(fns) == 1 {
		b.set(fns[0])
		return nil
	}
	return b.BaseServer.On(ev, fns...)
}

// sioSocket is the Engine.IO session as socket.io sees it: its "data"
// listener is fed by our link instead of the session.
type sioSocket struct {
	eioengine.Socket
	l *link
}

func (w *sioSocket) On(ev events.EventName, fns ...events.Listener) error {
	if ev == "data" && len(fns) == 1 {
		w.l.setForward(fns[0])
		return nil
	}
	return w.Socket.On(ev, fns...)
}

func (w *sioSocket) RemoveListener(ev events.EventName, fn events.Listener) bool {
	if ev == "data" {
		w.l.setForward(nil)
		return true
	}
	return w.Socket.RemoveListener(ev, fn)
}
