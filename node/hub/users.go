package hub

import (
	"context"

	"courier/node/errcode"
	"courier/node/push"
	"courier/node/session"
	"courier/router/forward"
	"courier/router/mailbox"
	"courier/router/registry"
)

// UserInfo answers GET /v1/users/{user}.
type UserInfo struct {
	User     string             `json:"user"`
	Sessions []registry.Session `json:"sessions"`
	Pending  int                `json:"pending"`
}

// RoomInfo answers GET /v1/rooms/{room}.
type RoomInfo struct {
	Room    string   `json:"room"`
	Members int      `json:"members"`
	Nodes   []string `json:"nodes"`
	// For the operator: members on each node, the log's newest seq and
	// its newest messages, newest first.
	MembersByNode map[string]int `json:"members_by_node"`
	LastSeq       uint64         `json:"last_seq"`
	Recent        []MessageInfo  `json:"recent"`
}

// User answers the sessions of user, cluster-wide, and what its mailbox
// still holds for it (GET /v1/users/{user}).
func (h *Hub) User(ctx context.Context, user string) (UserInfo, error) {
	if !push.ValidName(user) {
		return UserInfo{}, push.BadName("user")
	}
	sessions, err := h.cfg.Registry.UserSessions(ctx, user)
	if err != nil {
		return UserInfo{}, h.unavailable(ctx, err)
	}
	// Its connected devices count as known even before they read a stream
	// that holds messages (a read of an empty one records nothing).
	devices := make([]string, 0, len(sessions))
	for _, s := range sessions {
		devices = append(devices, session.DeviceKeyOf(user, s.Device))
	}
	pending, err := h.cfg.Mailbox.PendingCount(ctx, mailbox.UserStream(user), devices...)
	if err != nil {
		return UserInfo{}, h.unavailable(ctx, err)
	}
	if sessions == nil {
		sessions = []registry.Session{}
	}
	return UserInfo{User: user, Sessions: sessions, Pending: pending}, nil
}

// Room counts the sessions in room, cluster-wide (GET /v1/rooms/{room}).
func (h *Hub) Room(ctx context.Context, room string) (RoomInfo, error) {
	if !push.ValidName(room) {
		return RoomInfo{}, push.BadName("room")
	}
	members, nodes, err := h.cfg.Registry.Room(ctx, room)
	if err != nil {
		return RoomInfo{}, h.unavailable(ctx, err)
	}
	if nodes == nil {
		nodes = []string{}
	}
	info := RoomInfo{Room: room, Members: members, Nodes: nodes}
	if err := h.roomDetail(ctx, &info); err != nil {
		return RoomInfo{}, h.unavailable(ctx, err)
	}
	return info, nil
}

// DisconnectUser closes every session of user, cluster-wide, with a
// socket.io DISCONNECT so the official client does not come straight back.
// It returns how many sessions it closed or asked their nodes to close.
func (h *Hub) DisconnectUser(ctx context.Context, user string) (int, error) {
	if !push.ValidName(user) {
		return 0, push.BadName("user")
	}
	local := h.local.user(user)
	for _, s := range local {
		s.Close(session.ReasonKicked)
	}
	if len(local) > 0 {
		// So that what the API says next (room members, user sessions)
		// no longer counts them.
		h.departing.wait(ctx)
	}
	if !h.cfg.Peers.Enabled() {
		return len(local), nil
	}
	sessions, err := h.cfg.Registry.UserSessions(ctx, user)
	if err != nil {
		return len(local), h.unavailable(ctx, err)
	}
	count := len(local)
	asked := map[string]bool{}
	for _, s := range sessions {
		if s.Node == h.cfg.Node {
			continue
		}
		count++
		if !asked[s.Node] {
			asked[s.Node] = true
			if !h.cfg.Peers.Send(s.Node, forward.Envelope{Kind: forward.KindDisconnect, User: user}) {
				return count, errcode.New(errcode.Unavailable, "node "+s.Node+" could not be reached; retry")
			}
		}
	}
	return count, nil
}
