package engine

import (
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"github.com/zishang520/engine.io/v2/config"
	eioengine "github.com/zishang520/engine.io/v2/engine"
	"github.com/zishang520/engine.io/v2/types"
)

// RawConn is one raw Engine.IO v4 session (no socket.io on top).
type RawConn interface {
	ID() string
	// Send queues one message; binary selects a binary frame (base64 on polling).
	Send(data []byte, binary bool)
	// OnMessage sets the message handler; set it before the connect callback
	// returns. Messages come one at a time, in arrival order.
	OnMessage(func(data []byte, binary bool))
	Close()
}

// EngineIO is a raw Engine.IO server on the same fix layer as SocketIO; the
// conformance server runs the official Engine.IO suite against it.
type EngineIO struct {
	e    *eio
	lean *leanCore // direct WebSockets; nil with cfg.LegacyWebSocket
	mk   func(*wconn, *http.Request) upper
}

// NewEngineIO serves Engine.IO at cfg.Path ("/engine.io/" when empty) and
// calls onConnect for every new session.
func NewEngineIO(cfg Config, onConnect func(RawConn), log *slog.Logger) (*EngineIO, error) {
	if onConnect == nil || log == nil {
		return nil, errors.New("engine: NewEngineIO needs onConnect and a logger")
	}
	if cfg.Path == "" {
		cfg.Path = "/engine.io/"
	}
	cfg = cfg.withDefaults()
	opts := config.DefaultServerOptions()
	engineOptions(cfg, opts)
	e := newEIO(cfg, opts, log)
	e.onConn = func(sock eioengine.Socket, g *gate) {
		rc := &rawConn{sock: sock}
		onConnect(rc)
		g.attach(rc.onData)
	}
	s := &EngineIO{e: e}
	if !cfg.LegacyWebSocket {
		s.lean = newLeanCore(cfg, log.With("engine", "lean"))
		s.mk = newLeanRawMaker(onConnect)
	}
	return s, nil
}

func (s *EngineIO) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.lean != nil && s.e.matchPath(r.URL.Path) && leanRoute(r) {
		s.lean.accept(w, r, s.mk)
		return
	}
	s.e.ServeHTTP(w, r)
}

// Close refuses new requests and closes every session.
func (s *EngineIO) Close() {
	if s.lean != nil {
		s.lean.close()
	}
	s.e.close()
}

// Count is the number of open sessions.
func (s *EngineIO) Count() int {
	n := s.e.count()
	if s.lean != nil {
		n += int(s.lean.count.Load())
	}
	return n
}

type rawConn struct {
	sock eioengine.Socket
	mu   sync.Mutex
	fn   func([]byte, bool)
}

func (c *rawConn) ID() string { return c.sock.Id() }

func (c *rawConn) Send(data []byte, binary bool) {
	if binary {
		c.sock.Send(types.NewBytesBuffer(data), nil, nil)
	} else {
		c.sock.Send(types.NewStringBuffer(data), nil, nil)
	}
}

func (c *rawConn) OnMessage(fn func([]byte, bool)) {
	c.mu.Lock()
	c.fn = fn
	c.mu.Unlock()
}

func (c *rawConn) Close() { c.sock.Close(false) }

func (c *rawConn) onData(args ...any) {
	if len(args) == 0 {
		return
	}
	c.mu.Lock()
	fn := c.fn
	c.mu.Unlock()
	if fn == nil {
		return
	}
	switch d := args[0].(type) {
	case *types.StringBuffer:
		fn([]byte(d.String()), false)
	case types.BufferInterface:
		fn(append([]byte(nil), d.Bytes()...), true)
	}
}
