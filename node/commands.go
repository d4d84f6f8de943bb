package node

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"courier/node/api"
	"courier/node/command"
	"courier/node/errcode"
	"courier/node/session"
)

// maxCommandsInFlight bounds the commands one connection may have waiting
// on backends, so a flooding client cannot hold unbounded goroutines.
const maxCommandsInFlight = 16

// newRouter builds the command router from the YAML table and --route flags.
func newRouter(cfg Config, backend command.Backend, dye func(context.Context, string) (string, error), n *Node) (*command.Router, error) {
	routes := append([]command.Route(nil), cfg.Commands...)
	for _, s := range cfg.Routes {
		r, err := command.ParseRoute(s)
		if err != nil {
			return nil, err
		}
		routes = append(routes, r)
	}
	return command.NewRouter(command.RouterConfig{
		Routes: routes, DefaultTimeout: cfg.CallTimeout, Backend: backend, Dye: dye,
		Log: n.log.With("component", "commands"),
	})
}

// Call implements api.Service for POST /v1/call/.
func (n *Node) Call(ctx context.Context, req command.Request) (json.RawMessage, error) {
	return n.commands.Call(ctx, req)
}

// SetDye implements api.Service.
func (n *Node) SetDye(ctx context.Context, user, env string) error {
	if !validName(user) {
		return badName("user")
	}
	if err := n.registry.SetDye(ctx, user, env); err != nil {
		return n.unavailable(ctx, err)
	}
	return nil
}

// onCommand serves a client's `cmd` event without holding up its other
// events: the call runs on its own goroutine and answers through the ack.
func (n *Node) onCommand(s *session.Session, arg map[string]any, reply func(any)) {
	name, _ := arg["name"].(string)
	data, err := json.Marshal(arg["data"])
	if err != nil {
		reply(fail(errcode.New(errcode.BadRequest, "cmd data is not JSON")))
		return
	}
	if !s.AcquireCommand(maxCommandsInFlight) {
		reply(fail(errcode.New(errcode.LimitExceeded, "too many commands in flight on this connection")))
		return
	}
	trace := api.NewTraceID()
	go func() {
		defer s.ReleaseCommand()
		start := time.Now()
		// The router bounds every call by its route's timeout (Caller's contract).
		out, err := n.commands.Call(context.Background(), command.Request{Name: name, Data: data, User: s.User, Device: s.Device, TraceID: trace})
		var ce *command.Error
		switch {
		case errors.As(err, &ce):
			n.log.Info("cmd", "trace", trace, "user", s.User, "name", name, "code", ce.Code, "ms", time.Since(start).Milliseconds())
			reply(map[string]any{"ok": false, "error": ce})
		case err != nil:
			n.log.Error("cmd failed", "trace", trace, "name", name, "err", err)
			reply(fail(errcode.New(errcode.Internal, "internal error; trace id "+trace)))
		default:
			reply(map[string]any{"ok": true, "data": out})
		}
	}()
}
