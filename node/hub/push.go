package hub

import (
	"context"
	"encoding/json"
	"time"

	"courier/node/push"
	"courier/node/session"
	"courier/node/trace"
	"courier/router/forward"
	"courier/router/mailbox"
)

// Push checks req against the contract, stores it in every addressed
// stream, and hands it to the sessions reading those streams, here and on
// the other nodes. It answers only once the message is stored everywhere:
// a store failure is an error (503), never an accepted push.
func (h *Hub) Push(ctx context.Context, req *push.Request) (push.Result, error) {
	ttl, err := push.Validate(req, h.cfg.Limits)
	if err != nil {
		return push.Result{}, err
	}
	now := time.Now()
	id := mailbox.NewID(now)
	retried := false
	if req.ID != "" {
		fingerprint := push.Fingerprint(req)
		bound, err := h.cfg.Mailbox.Claim(ctx, push.ClaimKey(req), push.ClaimValue(id, fingerprint), push.IdempotencyWindow)
		if err != nil {
			return push.Result{}, h.unavailable(ctx, err)
		}
		first, firstFingerprint := push.ParseClaim(bound)
		if first != id && firstFingerprint != "" && firstFingerprint != fingerprint {
			return push.Result{}, &push.Conflict{ID: first}
		}
		retried = first != id
		id = first
	}
	data := req.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	base := mailbox.Message{ID: id, Event: req.Event, Data: data, TS: now.UnixMilli(), Trace: trace.ID(ctx)}

	streams := streamsOf(req.To)
	msgs := make([]*mailbox.Message, len(streams))
	if ttl == 0 {
		if retried { // fire-and-forget: only those online at the first push
			h.cfg.Metrics.Pushed(req.To.Kind())
			return push.Result{ID: id}, nil
		}
		for i, st := range streams {
			m := base
			m.Room = st.room
			msgs[i] = &m
		}
	} else {
		base.Expires = now.Add(ttl).UnixMilli()
		for i, st := range streams {
			m := base
			m.Room = st.room
			seq, _, err := h.cfg.Mailbox.Append(ctx, st.stream, m)
			if err != nil {
				return push.Result{}, h.unavailable(ctx, err)
			}
			// A retry appends nothing new; handing its stored copy on again is
			// harmless (sessions skip seqs they already queued) and reaches the
			// sessions an earlier, failed attempt never delivered to live.
			m.Seq = seq
			msgs[i] = &m
		}
	}
	for i, st := range streams {
		h.tracePush(st, msgs[i])
		h.deliverLocal(st, msgs[i])
	}
	h.fanOutRemote(ctx, streams, msgs)
	h.cfg.Metrics.Pushed(req.To.Kind())
	return push.Result{ID: id}, nil
}

// addressed is one stream a push goes to, with what finds its readers.
type addressed struct {
	stream mailbox.Stream
	user   string // a user's mailbox
	room   string // meta.room: a room's log, or "*" for all
}

// streamsOf lists each addressed stream once.
func streamsOf(to push.Target) []addressed {
	if to.All {
		return []addressed{{stream: mailbox.AllStream, room: "*"}}
	}
	out := make([]addressed, 0, len(to.Users)+len(to.Rooms))
	seen := make(map[mailbox.Stream]bool, cap(out))
	for _, u := range to.Users {
		if st := mailbox.UserStream(u); !seen[st] {
			seen[st] = true
			out = append(out, addressed{stream: st, user: u})
		}
	}
	for _, r := range to.Rooms {
		if st := mailbox.RoomStream(r); !seen[st] {
			seen[st] = true
			out = append(out, addressed{stream: st, room: r})
		}
	}
	return out
}

// readers lists this node's sessions reading st: every one for the
// cluster-wide log, the user's for a user stream, else the room's.
func (h *Hub) readers(st addressed) []*session.Session {
	switch {
	case st.stream == mailbox.AllStream:
		h.all.saw()
		return h.local.all()
	case st.user != "":
		return h.local.user(st.user)
	default:
		return h.local.room(st.room)
	}
}

// deliverLocal hands m to this node's sessions reading its stream.
func (h *Hub) deliverLocal(st addressed, m *mailbox.Message) {
	targets := h.readers(st)
	if len(targets) == 0 {
		return
	}
	// Encoded once for all of them (lazily, by the first lean connection).
	d := session.Delivery{Stream: st.stream, Msg: m, Prepared: session.Prepare(m)}
	for _, s := range targets {
		s.Deliver(d)
	}
	if m.TS > 0 {
		h.cfg.Metrics.Handed(time.Since(time.UnixMilli(m.TS)))
	}
	if h.cfg.DyeOf != nil && st.user != "" {
		if env := h.cfg.DyeOf(st.user); env != "" {
			h.log.Info("dyed delivery", "id", m.ID, "seq", m.Seq, "user", st.user, "env", env, "sessions", len(targets))
		}
	}
}

// fanOutRemote hands a message to the other nodes holding its addressees:
// one envelope per node and stream, never one per member. It looks the
// nodes up in the registry; a failed lookup or a dropped envelope costs
// latency only, since the mailbox holds the message for replay, and a
// dropped one leaves a nudge so that node's sessions read it soon.
func (h *Hub) fanOutRemote(ctx context.Context, streams []addressed, msgs []*mailbox.Message) {
	if !h.cfg.Peers.Enabled() {
		return
	}
	for i, st := range streams {
		var nodes []string
		switch {
		case st.stream == mailbox.AllStream:
			nodes = h.cfg.Peers.Others()
		case st.user != "":
			nodes = h.userNodes(ctx, st.user)
		default:
			_, roomNodes, err := h.cfg.Registry.Room(ctx, st.room)
			if err != nil {
				h.log.Warn("room lookup for fan-out failed; members get it by replay", "room", st.room, "err", err)
			}
			nodes = roomNodes
		}
		env := forward.Envelope{Kind: forward.KindDeliver, Stream: st.stream, User: st.user, Room: st.room, Msg: *msgs[i]}
		for _, node := range nodes {
			if node == h.cfg.Node {
				continue
			}
			if !h.cfg.Peers.Send(node, env) {
				h.cfg.Metrics.PeerDropped()
				h.nudge(ctx, node, st.stream)
			}
		}
	}
}

// nudge tells node, through the store, that stream has a message its
// sessions were not handed live, so they read it at node's next take of
// nudges (node/peers) rather than at their next reconnect.
func (h *Hub) nudge(ctx context.Context, node string, stream mailbox.Stream) {
	if err := h.cfg.Mailbox.Nudge(ctx, node, stream); err != nil {
		h.log.Warn("nudge not stored; the sessions get the message at their next replay", "node", node, "stream", stream, "err", err)
	}
}

// userNodes lists the nodes holding sessions of user, self included.
func (h *Hub) userNodes(ctx context.Context, user string) []string {
	sessions, err := h.cfg.Registry.UserSessions(ctx, user)
	if err != nil {
		h.log.Warn("user lookup for fan-out failed; the user gets it by replay", "user", user, "err", err)
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
