package node

import (
	"context"
	"strings"

	"courier/node/session"
	"courier/router/forward"
	"courier/router/mailbox"
)

// fanOutRemote hands a message to the other nodes holding its addressees:
// one envelope per node and stream, never one per member. It looks the
// nodes up in the registry; a failed lookup or a dropped envelope costs
// latency only, since the mailbox holds the message for replay.
func (n *Node) fanOutRemote(ctx context.Context, streams []addressedStream, msgs map[mailbox.Stream]*mailbox.Message) {
	if !n.peers.enabled() {
		return
	}
	for _, st := range streams {
		m := msgs[st.stream]
		if m == nil {
			continue
		}
		var nodes []string
		switch {
		case st.stream == mailbox.AllStream:
			nodes = n.peers.others()
		case st.user != "":
			nodes = n.userNodes(ctx, st.user)
		default:
			_, roomNodes, err := n.registry.Room(ctx, st.room)
			if err != nil {
				n.log.Warn("room lookup for fan-out failed; members get it by replay", "room", st.room, "err", err)
			}
			nodes = roomNodes
		}
		env := forward.Envelope{Kind: forward.KindDeliver, Stream: st.stream, User: st.user, Room: st.room, Msg: *m}
		for _, node := range nodes {
			if node == n.cfg.NodeID {
				continue
			}
			if !n.peers.send(node, env) {
				n.metrics.linkDrops.Inc()
				n.nudge(ctx, node, st.stream)
			}
		}
	}
}

// nudge tells node, through the store, that stream has a message its
// sessions were not handed live, so they read it within NudgeInterval
// rather than at their next reconnect.
func (n *Node) nudge(ctx context.Context, node string, stream mailbox.Stream) {
	if err := n.mailbox.Nudge(ctx, node, stream); err != nil {
		n.log.Warn("nudge not stored; the sessions get the message at their next replay", "node", node, "stream", stream, "err", err)
	}
}

// takeNudges catches up this node's sessions reading the streams other
// nodes nudged it for.
func (n *Node) takeNudges(ctx context.Context) {
	const batch = 1000
	for ctx.Err() == nil {
		streams, err := n.mailbox.TakeNudges(ctx, n.cfg.NodeID, batch)
		if err != nil {
			n.log.Debug("nudges not read", "err", err)
			return
		}
		for _, st := range streams {
			for _, s := range n.streamSessions(st) {
				s.CatchUp(st)
			}
		}
		if len(streams) < batch {
			return
		}
	}
}

// streamSessions lists this node's sessions that read stream.
func (n *Node) streamSessions(stream mailbox.Stream) []*session.Session {
	name := string(stream)
	switch {
	case stream == mailbox.AllStream:
		return n.hub.all()
	case strings.HasPrefix(name, "u:"):
		return n.hub.user(name[2:])
	case strings.HasPrefix(name, "r:"):
		return n.hub.room(name[2:])
	}
	return nil
}

// userNodes lists the nodes holding sessions of user, self included.
func (n *Node) userNodes(ctx context.Context, user string) []string {
	sessions, err := n.registry.UserSessions(ctx, user)
	if err != nil {
		n.log.Warn("user lookup for fan-out failed; the user gets it by replay", "user", user, "err", err)
		return nil
	}
	seen := make(map[string]bool, len(sessions))
	var nodes []string
	for _, s := range sessions {
		if !seen[s.Node] {
			seen[s.Node] = true
			nodes = append(nodes, s.Node)
		}
	}
	return nodes
}

// onPeerEnvelopes carries out what another node asks of this one.
func (n *Node) onPeerEnvelopes(from string, envs []forward.Envelope) {
	ctx, cancel := n.storeContext()
	defer cancel()
	for i := range envs {
		env := &envs[i]
		switch env.Kind {
		case forward.KindDeliver:
			m := env.Msg
			n.deliverLocal(env.Stream, env.User, env.Room, &m)
		case forward.KindJoin:
			_ = n.eachUserSession(env.Room, env.Users, func(s *session.Session) { n.joinSession(ctx, s, env.Room) })
		case forward.KindLeave:
			_ = n.eachUserSession(env.Room, env.Users, func(s *session.Session) { n.leaveSession(ctx, s, env.Room) })
		case forward.KindDisconnect:
			for _, s := range n.hub.user(env.User) {
				s.Close(session.ReasonKicked)
			}
		default:
			n.log.Debug("unknown envelope kind from a peer", "from", from, "kind", env.Kind)
		}
	}
}
