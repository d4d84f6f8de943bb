package node

import (
	"context"

	"courier/node/api"
	"courier/node/errcode"
	"courier/node/session"
	"courier/router/forward"
	"courier/router/mailbox"
	"courier/router/registry"
)

var _ api.Service = (*Node)(nil)

// JoinRoom puts every session of users into room, on whichever node holds it.
func (n *Node) JoinRoom(ctx context.Context, room string, users []string) error {
	return n.roomUsers(ctx, room, users, true)
}

// LeaveRoom takes every session of users out of room, cluster-wide.
func (n *Node) LeaveRoom(ctx context.Context, room string, users []string) error {
	return n.roomUsers(ctx, room, users, false)
}

// roomUsers joins (or leaves) locally, and asks the other nodes holding
// sessions of users to do the same. Each device's membership is remembered
// here too, so a device whose node missed the request is in the room (or
// out of it) from its next connection on.
func (n *Node) roomUsers(ctx context.Context, room string, users []string, join bool) error {
	do := func(s *session.Session) { n.leaveSession(ctx, s, room) }
	kind := forward.KindLeave
	if join {
		do = func(s *session.Session) { n.joinSession(ctx, s, room) }
		kind = forward.KindJoin
	}
	if err := n.eachUserSession(room, users, do); err != nil || !n.peers.enabled() {
		return err
	}
	remote := map[string][]string{} // node -> users
	for _, u := range users {
		sessions, err := n.registry.UserSessions(ctx, u)
		if err != nil {
			return n.unavailable(ctx, err)
		}
		for _, s := range sessions {
			if s.Node == n.cfg.NodeID {
				continue
			}
			if err := n.registry.RememberRoom(ctx, s.User, s.Device, room, join); err != nil {
				return n.unavailable(ctx, err)
			}
			if l := remote[s.Node]; len(l) == 0 || l[len(l)-1] != u {
				remote[s.Node] = append(l, u)
			}
		}
	}
	for node, us := range remote {
		if !n.peers.send(node, forward.Envelope{Kind: kind, Room: room, Users: us}) {
			n.metrics.linkDrops.Inc()
		}
	}
	return nil
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

// DisconnectUser closes every session of user, cluster-wide, with a
// socket.io DISCONNECT so the official client does not come straight back.
func (n *Node) DisconnectUser(ctx context.Context, user string) (int, error) {
	if !validName(user) {
		return 0, badName("user")
	}
	local := n.hub.user(user)
	for _, s := range local {
		s.Close(session.ReasonKicked)
	}
	if !n.peers.enabled() {
		return len(local), nil
	}
	sessions, err := n.registry.UserSessions(ctx, user)
	if err != nil {
		return len(local), n.unavailable(ctx, err)
	}
	count := len(local)
	asked := map[string]bool{}
	for _, s := range sessions {
		if s.Node == n.cfg.NodeID {
			continue
		}
		count++
		if !asked[s.Node] {
			asked[s.Node] = true
			if !n.peers.send(s.Node, forward.Envelope{Kind: forward.KindDisconnect, User: user}) {
				return count, errcode.New(errcode.Unavailable, "node "+s.Node+" could not be reached; retry")
			}
		}
	}
	return count, nil
}

// Cluster lists the nodes; a node without gossip is a cluster of one.
func (n *Node) Cluster(ctx context.Context) (api.ClusterInfo, error) {
	if !n.peers.enabled() {
		return api.ClusterInfo{Nodes: []api.NodeInfo{{
			ID: n.cfg.NodeID, Addr: n.addr(), State: "alive", Sessions: n.hub.count(),
		}}}, nil
	}
	counts, err := n.registry.NodeSessions(ctx)
	if err != nil {
		return api.ClusterInfo{}, n.unavailable(ctx, err)
	}
	members := n.peers.cluster.Load().Members()
	out := api.ClusterInfo{Nodes: make([]api.NodeInfo, 0, len(members))}
	for _, m := range members {
		out.Nodes = append(out.Nodes, api.NodeInfo{ID: m.ID, Addr: m.APIAddr, State: string(m.State), Sessions: counts[m.ID]})
	}
	return out, nil
}

func (n *Node) registryEntry(s *session.Session) registry.Session {
	return registry.Session{ID: s.ID(), User: s.User, Device: s.Device, Node: n.cfg.NodeID, ConnectedAt: s.ConnectedAt()}
}

func badName(what string) error {
	return errcode.New(errcode.BadRequest, what+" name must be 1-256 bytes of UTF-8")
}
