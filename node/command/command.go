// Package command is the command channel: client requests (socket.io `cmd`
// events, HTTP calls) and polling tasks become tRPC calls to backends,
// routed by callee name, per user environment ("dyeing").
package command

import (
	"context"
	"encoding/json"
	"time"

	"courier/node/errcode"
)

// Request is one command call.
type Request struct {
	// Name is "/pkg.Service/Method": callee "pkg.Service", func "/pkg.Service/Method".
	Name    string
	Data    json.RawMessage // the JSON body sent to the backend
	User    string          // who asks ("" for a polling task)
	Device  string
	TraceID string
	// Origin is where the command came from, for the backend's trans_info.
	Origin Origin
	// Timeout overrides the route's timeout when > 0.
	Timeout time.Duration
}

// Origin is what a backend learns of where a command came from: the
// client's IP and the forwarded headers (--forward-headers) of its request,
// or of its connection's handshake for a `cmd` event.
type Origin struct {
	ClientIP string
	// Headers are lower-case name, value, name, value, ... (a slice, not a
	// map: every connection keeps one).
	Headers []string
}

// Caller sends commands to backends. Safe for concurrent use; Call never
// outlives ctx or the route's timeout. Errors are *Error.
type Caller interface {
	Call(ctx context.Context, req Request) (json.RawMessage, error)
}

// Error is a failed call as clients see it (SPEC: the error object carrying
// the tRPC ret / func_ret and message).
type Error struct {
	Code    errcode.Code `json:"code"`
	Message string       `json:"message"`
	Ret     int32        `json:"ret,omitempty"`      // tRPC framework error code
	FuncRet int32        `json:"func_ret,omitempty"` // the backend's own error code
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }
