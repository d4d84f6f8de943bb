package engine

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zishang520/engine.io-go-parser/packet"
	"github.com/zishang520/engine.io/v2/config"
	eioengine "github.com/zishang520/engine.io/v2/engine"
	"github.com/zishang520/engine.io/v2/transports"
	"github.com/zishang520/engine.io/v2/types"
)

// withDefaults fills the zero values of cfg.
func (cfg Config) withDefaults() Config {
	if cfg.Path == "" {
		cfg.Path = "/socket.io/"
	}
	if !strings.HasSuffix(cfg.Path, "/") {
		cfg.Path += "/"
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 25 * time.Second
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = 20 * time.Second
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = 1_000_000
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 45 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = cfg.PingInterval + cfg.PingTimeout + 5*time.Second
	}
	return cfg
}

// engineOptions maps cfg onto the library's Engine.IO options.
func engineOptions(cfg Config, opts config.ServerOptionsInterface) {
	opts.SetPingInterval(cfg.PingInterval)
	opts.SetPingTimeout(cfg.PingTimeout)
	opts.SetMaxHttpBufferSize(cfg.MaxPayload)
	opts.SetTransports(types.NewSet(transports.POLLING, transports.WEBSOCKET))
	opts.SetAllowUpgrades(true)
	opts.SetAllowEIO3(false)
}

// eio is the library's Engine.IO server with our fix layer around it. Both the
// socket.io server and the raw Engine.IO server of the conformance binary run
// on it, so they share every fix.
type eio struct {
	cfg    Config
	log    *slog.Logger
	cors   *cors // nil: same origin only
	srv    eioengine.Server
	gates  sync.Map // engine.Socket -> *gate
	closed atomic.Bool
	// pre holds polling sessions until their first Socket.IO packet
	// (presession.go); nil on the raw Engine.IO server, which has no such
	// packet to wait for.
	pre *preSessions
	// onConn runs for each new Engine.IO session with the gate that holds
	// its early data; the callback must call gate.attach.
	onConn func(eioengine.Socket, *gate)
	// stall, when set (tests only), runs before a new session is handed on:
	// it stands for the handshake goroutine being descheduled.
	stall func()
}

func newEIO(cfg Config, opts config.ServerOptionsInterface, log *slog.Logger) *eio {
	e := &eio{cfg: cfg, log: log, cors: newCORS(cfg.CORSOrigins)}
	e.srv = eioengine.NewServer(opts)
	// "flush" fires inside the socket's constructor, before the OPEN packet
	// goes out: the only moment a data listener can be attached without
	// racing the client's first packet (fix: CONNECT dropped after OPEN).
	e.srv.On("flush", e.onFlush)
	e.srv.On("connection", e.onConnection)
	return e
}

// gateOf returns the gate of sock, creating and wiring it on first sight.
func (e *eio) gateOf(sock eioengine.Socket) *gate {
	if g, ok := e.gates.Load(sock); ok {
		return g.(*gate)
	}
	g := newGate()
	if old, loaded := e.gates.LoadOrStore(sock, g); loaded {
		return old.(*gate)
	}
	sock.On("data", g.onData)
	sock.On("packet", func(args ...any) {
		// The library ignores a CLOSE packet on WebSocket (only polling
		// handles it), leaving the session to die by ping timeout.
		if p, ok := firstPacket(args); ok && p.Type == packet.CLOSE {
			sock.Close(true)
		}
	})
	sock.Once("close", func(args ...any) {
		e.gates.Delete(sock)
		reason, _ := firstString(args)
		closeWebSocket(sock)
		g.close(reason)
	})
	return g
}

func (e *eio) onFlush(args ...any) {
	if len(args) == 0 {
		return
	}
	if sock, ok := args[0].(eioengine.Socket); ok {
		e.gateOf(sock)
	}
}

func (e *eio) onConnection(args ...any) {
	sock, ok := args[0].(eioengine.Socket)
	if !ok {
		return
	}
	if e.stall != nil {
		e.stall()
	}
	g := e.gateOf(sock)
	if e.onConn != nil {
		e.onConn(sock, g)
	} else {
		g.attach(func(...any) {})
	}
}

// closeWebSocket closes the TCP connection of a WebSocket transport whose
// peer closed first: the library marks the transport closed on the peer's
// close frame and so never runs DoClose, leaving the socket in CLOSE-WAIT.
// DoClose on an already closed connection is harmless. It runs on its own
// goroutine: when the peer's close started this chain we are inside the
// connection's one-time "close" listener, which DoClose emits again, and the
// library's Once would deadlock on itself.
func closeWebSocket(sock eioengine.Socket) {
	t := sock.Transport()
	if t != nil && t.Name() == transports.WEBSOCKET {
		go t.DoClose(nil)
	}
}

// close stops accepting requests and closes every session.
func (e *eio) close() {
	if e.pre != nil {
		e.pre.close()
	}
	if e.closed.CompareAndSwap(false, true) {
		e.srv.Close()
	}
}

// count is the number of open Engine.IO sessions.
func (e *eio) count() int { return int(e.srv.ClientsCount()) }

// matchPath reports whether p is the engine's path, with or without the slash.
func (e *eio) matchPath(p string) bool {
	return p == e.cfg.Path || p == strings.TrimSuffix(e.cfg.Path, "/")
}

func firstPacket(args []any) (*packet.Packet, bool) {
	if len(args) == 0 {
		return nil, false
	}
	p, ok := args[0].(*packet.Packet)
	return p, ok && p != nil
}

func firstString(args []any) (string, bool) {
	if len(args) == 0 {
		return "", false
	}
	s, ok := args[0].(string)
	return s, ok
}

var _ http.Handler = (*eio)(nil)
