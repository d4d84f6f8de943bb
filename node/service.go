package node

import (
	"context"

	"courier/node/api"
	"courier/node/errcode"
	"courier/node/session"
	"courier/router/mailbox"
	"courier/router/registry"
)

var _ api.Service = (*Node)(nil)

// JoinRoom puts every session of users this node holds into room.
func (n *Node) JoinRoom(ctx context.Context, room string, users []string) error {
	return n.eachUserSession(room, users, func(s *session.Session) { n.joinSession(ctx, s, room) })
}

// LeaveRoom takes every session of users this node holds out of room.
func (n *Node) LeaveRoom(ctx context.Context, room string, users []string) error {
	return n.eachUserSession(room, users, func(s *session.Session) { n.leaveSession(ctx, s, room) })
}

func (n *Node) eachUserSession(room string, users []string, do func(*session.Session)) error {
	if !validName(room) {
		return badName("room")
	}
	for _, u := range users {
		if !validName(u) {
			return badName("user")
		}
	}
	for _, u := range users {
		for _, s := range n.hub.user(u) {
			do(s)
		}
	}
	return nil
}

// User answers the sessions of user and what its mailbox still holds for it.
func (n *Node) User(ctx context.Context, user string) (api.UserInfo, error) {
	if !validName(user) {
		return api.UserInfo{}, badName("user")
	}
	sessions, err := n.registry.UserSessions(ctx, user)
	if err != nil {
		return api.UserInfo{}, n.unavailable(ctx, err)
	}
	pending, err := n.mailbox.PendingCount(ctx, mailbox.UserStream(user))
	if err != nil {
		return api.UserInfo{}, n.unavailable(ctx, err)
	}
	if sessions == nil {
		sessions = []registry.Session{}
	}
	return api.UserInfo{User: user, Sessions: sessions, Pending: pending}, nil
}

// Room counts the sessions in room.
func (n *Node) Room(ctx context.Context, room string) (api.RoomInfo, error) {
	if !validName(room) {
		return api.RoomInfo{}, badName("room")
	}
	members, nodes, err := n.registry.Room(ctx, room)
	if err != nil {
		return api.RoomInfo{}, n.unavailable(ctx, err)
	}
	if nodes == nil {
		nodes = []string{}
	}
	return api.RoomInfo{Room: room, Members: members, Nodes: nodes}, nil
}

// DisconnectUser closes every session of user with a socket.io DISCONNECT,
// so the official client does not come straight back.
func (n *Node) DisconnectUser(ctx context.Context, user string) (int, error) {
	if !validName(user) {
		return 0, badName("user")
	}
	sessions := n.hub.user(user)
	for _, s := range sessions {
		s.Close(session.ReasonKicked)
	}
	return len(sessions), nil
}

// Cluster lists the nodes; a node without gossip is a cluster of one.
func (n *Node) Cluster(ctx context.Context) (api.ClusterInfo, error) {
	return api.ClusterInfo{Nodes: []api.NodeInfo{{
		ID: n.cfg.NodeID, Addr: n.addr(), State: "alive", Sessions: n.hub.count(),
	}}}, nil
}

func (n *Node) registryEntry(s *session.Session) registry.Session {
	return registry.Session{ID: s.ID(), User: s.User, Device: s.Device, Node: n.cfg.NodeID, ConnectedAt: s.ConnectedAt}
}

func badName(what string) error {
	return errcode.New(errcode.BadRequest, what+" name must be 1-256 bytes of UTF-8")
}
