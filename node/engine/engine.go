// Package engine carries socket.io v5 / Engine.IO v4 sessions for the node.
//
// Whatever transport stack carries a client (the lean gobwas/ws engine for
// direct WebSocket connections, zishang520/socket.io for long-polling and
// the upgrade from it), the node sees the same Conn and Handler, so nothing
// above this package knows which engine holds a connection.
package engine

import (
	"net/http"
	"net/url"
	"time"
)

// Handshake is what a client presented when its socket.io session opened.
type Handshake struct {
	// Auth is the CONNECT packet's auth payload; an empty map when the client sent none.
	Auth       map[string]any
	Query      url.Values
	Header     http.Header
	RemoteAddr string
	// Transport is "websocket" or "polling" at connect time.
	Transport string
}

// Conn is one client on the default namespace. All methods are safe for
// concurrent use and never block on the network.
type Conn interface {
	ID() string
	// Emit sends event(args...). When ack is non-nil the client is asked to
	// acknowledge and ack runs at most once with the client's arguments; it is
	// never run after the connection closed. Timeouts are the caller's business.
	Emit(event string, args []any, ack func(args []any)) error
	// OnAckToken sets the handler of the acknowledgements asked for with
	// EmitPreparedToken. Set it before the first EmitPreparedToken; it runs
	// on the read path, at most once per emit and never after the
	// connection closed, and must be quick.
	OnAckToken(fn func(token uint64))
	// EmitPreparedToken sends p asking for an acknowledgement, which runs
	// the OnAckToken handler with token: an acknowledged fan-out allocates
	// no callback per message. Same contract as Emit otherwise.
	EmitPreparedToken(p *Prepared, token uint64) error
	// OnEvent sets the handler of client events. ack is nil when the client
	// asked for no acknowledgement. Set it from Handler.Connected, before
	// returning; events are handed over one at a time, in arrival order.
	OnEvent(func(event string, args []any, ack func(args ...any)))
	// OnClose runs once when the connection is gone, with the reason.
	OnClose(func(reason string))
	// Disconnect sends a socket.io DISCONNECT: the official client does not
	// reconnect by itself ("io server disconnect").
	Disconnect()
	// CloseTransport drops the transport without a DISCONNECT: the official
	// client sees "transport close" and reconnects by itself.
	CloseTransport()
}

// ConnectError refuses a CONNECT: the client gets connect_error with
// message Message and data Data.
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return e.Message }

// Handler is the node's side of the engine.
type Handler interface {
	// Authenticate runs before a CONNECT is accepted. A *ConnectError (or any
	// error, sent with its text) refuses it. The returned value is handed back
	// in Connected.
	Authenticate(hs *Handshake) (any, error)
	// Connected runs once per accepted connection, before any event of it.
	Connected(c Conn, auth any)
}

// Config sets the engine's protocol parameters. Zero values take the defaults.
type Config struct {
	Path           string        // default "/socket.io/"
	PingInterval   time.Duration // default 25s
	PingTimeout    time.Duration // default 20s
	MaxPayload     int64         // default 1,000,000 bytes
	ConnectTimeout time.Duration // default 45s
	// CORSOrigins lists allowed origins for long-polling; "*" allows any. Empty: same origin only.
	CORSOrigins []string
	// RequestTimeout bounds the life of one long-polling HTTP request.
	RequestTimeout time.Duration // default PingInterval+PingTimeout+5s
	// WriteTimeout bounds a blocked write on the lean engine: a client that
	// stops reading is closed ("write timeout") after it.
	WriteTimeout time.Duration // default 10s
	// LegacyWebSocket serves direct WebSocket connections on zishang520 too,
	// instead of the lean engine (the operator's fallback).
	LegacyWebSocket bool
}
