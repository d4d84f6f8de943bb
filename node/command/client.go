package command

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"courier/node/errcode"
	"courier/node/push"
	"courier/node/trace"
)

// MaxInFlight bounds the commands one connection may have waiting on
// backends, so a flooding client cannot hold unbounded goroutines.
const MaxInFlight = 16

// Client is the connection a `cmd` event came on: who the node verified
// it is, and its count of commands in flight.
type Client struct {
	User, Device string
	Origin       Origin // of the connection's handshake
	Slots        Slots
}

// Slots counts one connection's commands in flight. Safe for concurrent use.
type Slots interface {
	// AcquireCommand takes a slot unless max are taken.
	AcquireCommand(max int) bool
	// ReleaseCommand gives one back.
	ReleaseCommand()
}

// Channel serves clients' `cmd` events with a Caller.
type Channel struct {
	Caller Caller
	Log    *slog.Logger
	// Context bounds every call (the node's lifetime): a node that stops
	// abandons its calls in flight.
	Context context.Context
	// MaxDataBytes bounds a command's data, as it does POST /v1/call's
	// body (default push.DefaultMaxDataBytes).
	MaxDataBytes int
}

// ServeEvent runs a `cmd` event {"name": "/pkg.Service/Method", "data": any}
// without holding up the client's other events: the call runs on its own
// goroutine and answers through reply, {"ok": true, "data": answer} or
// {"ok": false, "error": {...}}.
func (ch *Channel) ServeEvent(c Client, arg map[string]any, reply func(any)) {
	name, _ := arg["name"].(string)
	data, err := json.Marshal(arg["data"])
	if err != nil {
		reply(errcode.AckFail(errcode.New(errcode.BadRequest, "cmd data is not JSON")))
		return
	}
	if limit := cmp.Or(ch.MaxDataBytes, push.DefaultMaxDataBytes); len(data) > limit {
		reply(errcode.AckFail(errcode.New(errcode.TooLarge, "command data is over the limit of "+strconv.Itoa(limit)+" bytes")))
		return
	}
	if !c.Slots.AcquireCommand(MaxInFlight) {
		reply(errcode.AckFail(errcode.New(errcode.LimitExceeded, "too many commands in flight on this connection")))
		return
	}
	traceID := trace.NewID()
	go func() {
		defer c.Slots.ReleaseCommand()
		start := time.Now()
		// The router bounds every call by its route's timeout (Caller's contract).
		out, err := ch.Caller.Call(ch.Context, Request{Name: name, Data: data, User: c.User, Device: c.Device, TraceID: traceID, Origin: c.Origin})
		var ce *Error
		switch {
		case errors.As(err, &ce):
			ch.Log.Info("cmd", "trace", traceID, "user", c.User, "name", name, "code", ce.Code, "ms", time.Since(start).Milliseconds())
			reply(errcode.AckFail(ce))
		case err != nil:
			ch.Log.Error("cmd failed", "trace", traceID, "name", name, "err", err)
			reply(errcode.AckFail(errcode.New(errcode.Internal, "internal error; trace id "+traceID)))
		default:
			reply(errcode.AckOK(map[string]any{"data": out}))
		}
	}()
}
