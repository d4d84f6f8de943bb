package hub

import (
	"context"
	"fmt"

	"courier/node/errcode"
	"courier/node/push"
	"courier/node/session"
	"courier/router/forward"
	"courier/router/mailbox"
	"courier/router/opsbus"
)

// ClientJoin serves a client's `join` event: the room must be a valid name
// its token allows, and within the session's room bound. Errors are
// *errcode.Error for the client's acknowledgement.
func (h *Hub) ClientJoin(ctx context.Context, s *session.Session, room string) error {
	switch {
	case !push.ValidName(room):
		return errcode.New(errcode.BadRequest, `"room" must be a name of 1-256 bytes`)
	case !s.MayJoin(room):
		return errcode.New(errcode.Forbidden, "the token does not allow joining "+room)
	case h.local.roomsFull(room, s, h.cfg.MaxRooms):
		return errcode.New(errcode.LimitExceeded, fmt.Sprintf("a connection may be in at most %d rooms", h.cfg.MaxRooms))
	}
	h.Join(ctx, s, room)
	return nil
}

// ClientLeave serves a client's `leave` event.
func (h *Hub) ClientLeave(ctx context.Context, s *session.Session, room string) error {
	if !push.ValidName(room) {
		return errcode.New(errcode.BadRequest, `"room" must be a name of 1-256 bytes`)
	}
	h.Leave(ctx, s, room)
	return nil
}

// Join puts s in room, remembers it for the device's reconnects, and
// replays what the device has not acknowledged in the room's log. Store
// failures are logged: the session is in the room here either way.
func (h *Hub) Join(ctx context.Context, s *session.Session, room string) {
	if h.local.join(room, s) {
		if err := h.cfg.Registry.Join(ctx, room, h.registryEntry(s)); err != nil {
			h.log.Warn("room membership not registered", "session", s.ID(), "room", room, "err", err)
		}
	}
	if err := h.cfg.Registry.RememberRoom(ctx, s.User, s.Device, room, true); err != nil {
		h.log.Warn("room membership not remembered", "session", s.ID(), "room", room, "err", err)
	}
	s.Subscribe(mailbox.RoomStream(room))
	if s.Traced() {
		s.Publish(opsbus.Event{Type: opsbus.TypeJoin, Room: room})
	}
}

// Leave takes s out of room and forgets it for the device.
func (h *Hub) Leave(ctx context.Context, s *session.Session, room string) {
	s.Unsubscribe(mailbox.RoomStream(room))
	if h.local.leave(room, s) {
		if err := h.cfg.Registry.Leave(ctx, room, h.registryEntry(s)); err != nil {
			h.log.Warn("room leave not registered", "session", s.ID(), "room", room, "err", err)
		}
	}
	if err := h.cfg.Registry.RememberRoom(ctx, s.User, s.Device, room, false); err != nil {
		h.log.Warn("room leave not remembered", "session", s.ID(), "room", room, "err", err)
	}
	if s.Traced() {
		s.Publish(opsbus.Event{Type: opsbus.TypeLeave, Room: room})
	}
}

// JoinRoom puts every session of users into room, on whichever node holds
// it (POST /v1/rooms/{room}/join).
func (h *Hub) JoinRoom(ctx context.Context, room string, users []string) error {
	return h.roomUsers(ctx, room, users, true)
}

// LeaveRoom takes every session of users out of room, cluster-wide.
func (h *Hub) LeaveRoom(ctx context.Context, room string, users []string) error {
	return h.roomUsers(ctx, room, users, false)
}

// roomUsers joins (or leaves) here, and asks the other nodes holding
// sessions of users to do the same. Each device's membership is remembered
// here too, so a device whose node missed the request is in the room (or
// out of it) from its next connection on.
func (h *Hub) roomUsers(ctx context.Context, room string, users []string, join bool) error {
	do := func(s *session.Session) { h.Leave(ctx, s, room) }
	kind := forward.KindLeave
	if join {
		do = func(s *session.Session) { h.Join(ctx, s, room) }
		kind = forward.KindJoin
	}
	if err := h.eachUserSession(room, users, do); err != nil || !h.cfg.Peers.Enabled() {
		return err
	}
	remote := map[string][]string{} // node -> users
	for _, u := range users {
		sessions, err := h.cfg.Registry.UserSessions(ctx, u)
		if err != nil {
			return h.unavailable(ctx, err)
		}
		for _, s := range sessions {
			if s.Node == h.cfg.Node {
				continue
			}
			if err := h.cfg.Registry.RememberRoom(ctx, s.User, s.Device, room, join); err != nil {
				return h.unavailable(ctx, err)
			}
			if l := remote[s.Node]; len(l) == 0 || l[len(l)-1] != u {
				remote[s.Node] = append(l, u)
			}
		}
	}
	for node, us := range remote {
		if !h.cfg.Peers.Send(node, forward.Envelope{Kind: kind, Room: room, Users: us}) {
			h.cfg.Metrics.PeerDropped()
		}
	}
	return nil
}

// eachUserSession checks the names, then runs do on each local session of
// users.
func (h *Hub) eachUserSession(room string, users []string, do func(*session.Session)) error {
	if !push.ValidName(room) {
		return push.BadName("room")
	}
	for _, u := range users {
		if !push.ValidName(u) {
			return push.BadName("user")
		}
	}
	for _, u := range users {
		for _, s := range h.local.user(u) {
			do(s)
		}
	}
	return nil
}
