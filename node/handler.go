package node

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"courier/node/auth"
	"courier/node/engine"
	"courier/node/errcode"
	"courier/node/session"
	"courier/router/mailbox"
)

// maxNameLen bounds user, device and room names (bytes).
const maxNameLen = 256

type accepted struct {
	claims auth.Claims
	device string
}

// Authenticate implements engine.Handler: the user is the token's sub,
// never anything the client merely claims.
func (n *Node) Authenticate(hs *engine.Handshake) (any, error) {
	if n.draining.Load() {
		n.metrics.refused.WithLabelValues("shutdown").Inc()
		return nil, &engine.ConnectError{Message: "node is shutting down", Data: map[string]any{"code": 503}}
	}
	token, _ := hs.Auth["token"].(string)
	claims, err := auth.Verify(n.jwtSecret, token, time.Now())
	if err != nil {
		n.metrics.refused.WithLabelValues("token").Inc()
		return nil, &engine.ConnectError{Message: "unauthorized: " + err.Error(), Data: map[string]any{"code": 401}}
	}
	device, _ := hs.Auth["device"].(string)
	if device == "" {
		// One device per user when the client names none: reconnects of it
		// still see their own acknowledgements.
		device = "default"
	}
	if !validName(claims.Sub) || !validName(device) {
		n.metrics.refused.WithLabelValues("bad_name").Inc()
		return nil, &engine.ConnectError{Message: "user or device name invalid (1-256 bytes of UTF-8)", Data: map[string]any{"code": 400}}
	}
	return accepted{claims: claims, device: device}, nil
}

// Connected implements engine.Handler.
func (n *Node) Connected(c engine.Conn, a any) {
	acc := a.(accepted)
	s := session.New(n.sessionOpts, c, acc.claims, acc.device)
	n.metrics.connects.Inc()
	ctx, cancel := n.storeContext()
	defer cancel()
	// Registered before OnClose is set: a connection that is already gone
	// runs sessionGone right there, and its Remove must come after the Add.
	if err := n.registry.Add(ctx, n.registryEntry(s)); err != nil {
		n.log.Warn("session not registered", "session", s.ID(), "err", err)
	}
	n.hub.add(s)
	c.OnEvent(func(event string, args []any, ack func(...any)) { n.onClientEvent(s, event, args, ack) })
	c.OnClose(func(reason string) { n.sessionGone(s, reason) })

	rooms, err := n.registry.DeviceRooms(ctx, s.User, s.Device)
	if err != nil {
		n.log.Warn("device rooms not restored", "session", s.ID(), "err", err)
	}
	for _, room := range rooms[:min(len(rooms), n.cfg.MaxRooms)] {
		n.joinSession(ctx, s, room)
	}
	s.Start()
}

func (n *Node) sessionGone(s *session.Session, reason string) {
	s.Closed(session.ReasonClientClose)
	if !n.hub.remove(s) {
		return
	}
	ctx, cancel := n.storeContext()
	defer cancel()
	if err := n.registry.Remove(ctx, s.ID()); err != nil {
		n.log.Warn("session not unregistered", "session", s.ID(), "err", err)
	}
	n.log.Debug("session closed", "session", s.ID(), "user", s.User, "reason", reason)
}

func (n *Node) onClientEvent(s *session.Session, event string, args []any, ack func(...any)) {
	reply := func(v any) {
		if ack != nil {
			ack(v)
		}
	}
	var arg map[string]any
	if len(args) > 0 {
		arg, _ = args[0].(map[string]any)
	}
	switch event {
	case "join", "leave":
		room, _ := arg["room"].(string)
		if !validName(room) {
			reply(fail(errcode.New(errcode.BadRequest, `"room" must be a name of 1-256 bytes`)))
			return
		}
		ctx, cancel := n.storeContext()
		defer cancel()
		if event == "leave" {
			n.leaveSession(ctx, s, room)
			reply(ok(nil))
			return
		}
		if !s.MayJoin(room) {
			reply(fail(errcode.New(errcode.Forbidden, "the token does not allow joining "+room)))
			return
		}
		if n.hub.roomsFull(room, s, n.cfg.MaxRooms) {
			reply(fail(errcode.New(errcode.LimitExceeded, fmt.Sprintf("a connection may be in at most %d rooms", n.cfg.MaxRooms))))
			return
		}
		n.joinSession(ctx, s, room)
		reply(ok(nil))
	case "cmd":
		n.onCommand(s, arg, reply)
	default:
		reply(fail(errcode.New(errcode.UnknownEvent, "unknown event "+event)))
	}
}

// joinSession puts s in room, remembers it for the device's reconnects, and
// replays what the device has not acknowledged in the room's log.
func (n *Node) joinSession(ctx context.Context, s *session.Session, room string) {
	if n.hub.join(room, s) {
		if err := n.registry.Join(ctx, room, n.registryEntry(s)); err != nil {
			n.log.Warn("room membership not registered", "session", s.ID(), "room", room, "err", err)
		}
	}
	if err := n.registry.RememberRoom(ctx, s.User, s.Device, room, true); err != nil {
		n.log.Warn("room membership not remembered", "session", s.ID(), "room", room, "err", err)
	}
	s.Subscribe(mailbox.RoomStream(room))
}

func (n *Node) leaveSession(ctx context.Context, s *session.Session, room string) {
	s.Unsubscribe(mailbox.RoomStream(room))
	if n.hub.leave(room, s) {
		if err := n.registry.Leave(ctx, room, n.registryEntry(s)); err != nil {
			n.log.Warn("room leave not registered", "session", s.ID(), "room", room, "err", err)
		}
	}
	if err := n.registry.RememberRoom(ctx, s.User, s.Device, room, false); err != nil {
		n.log.Warn("room leave not remembered", "session", s.ID(), "room", room, "err", err)
	}
}

func ok(fields map[string]any) map[string]any {
	out := map[string]any{"ok": true}
	for k, v := range fields {
		out[k] = v
	}
	return out
}

func fail(e *errcode.Error) map[string]any {
	return map[string]any{"ok": false, "error": e}
}

func validName(s string) bool {
	return s != "" && len(s) <= maxNameLen && utf8.ValidString(s)
}
