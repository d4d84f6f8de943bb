package node

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"time"

	"courier/node/api"
	"courier/node/errcode"
	"courier/node/session"
	"courier/router/mailbox"
)

const (
	idempotencyWindow = 10 * time.Minute
	maxTTL            = 7 * 24 * time.Hour
	maxEventLen       = 128
	maxTargets        = 10000
)

// Push validates req, stores it in every addressed stream, and hands it to
// the sessions holding those streams. It answers only once the message is
// stored everywhere: a store failure is an error (503), never a 202.
func (n *Node) Push(ctx context.Context, req *api.PushRequest) (api.PushResult, error) {
	ttl, err := n.validatePush(req)
	if err != nil {
		return api.PushResult{}, err
	}
	now := time.Now()
	id := mailbox.NewID(now)
	retried := false
	if req.ID != "" {
		bound, err := n.mailbox.Claim(ctx, "push:"+req.ID, id, idempotencyWindow)
		if err != nil {
			return api.PushResult{}, n.unavailable(ctx, err)
		}
		retried = bound != id
		id = bound
	}
	data := req.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	base := mailbox.Message{ID: id, Event: req.Event, Data: data, TS: now.UnixMilli()}

	streams := streamsOf(req.To)
	msgs := make(map[mailbox.Stream]*mailbox.Message, len(streams))
	if ttl == 0 {
		if retried { // fire-and-forget: only those online at the first push
			n.countPush(req.To)
			return api.PushResult{ID: id}, nil
		}
		for _, st := range streams {
			m := base
			m.Room = st.room
			msgs[st.stream] = &m
		}
	} else {
		base.Expires = now.Add(ttl).UnixMilli()
		for _, st := range streams {
			m := base
			m.Room = st.room
			seq, _, err := n.mailbox.Append(ctx, st.stream, m)
			if err != nil {
				return api.PushResult{}, n.unavailable(ctx, err)
			}
			// A retry appends nothing new; handing its stored copy on again is
			// harmless (sessions skip seqs they already queued) and reaches the
			// sessions an earlier, failed attempt never delivered to live.
			m.Seq = seq
			msgs[st.stream] = &m
		}
	}
	n.fanOut(streams, msgs)
	n.fanOutRemote(ctx, streams, msgs)
	n.countPush(req.To)
	return api.PushResult{ID: id}, nil
}

// fanOut hands each stream's message to the local sessions reading it.
func (n *Node) fanOut(streams []addressedStream, msgs map[mailbox.Stream]*mailbox.Message) {
	for _, st := range streams {
		n.deliverLocal(st.stream, st.user, st.room, msgs[st.stream])
	}
}

// deliverLocal hands m to this node's sessions reading stream: every one for
// the cluster-wide log, the user's for a user stream, else the room's.
func (n *Node) deliverLocal(stream mailbox.Stream, user, room string, m *mailbox.Message) {
	var targets []*session.Session
	switch {
	case stream == mailbox.AllStream:
		targets = n.hub.all()
	case user != "":
		targets = n.hub.user(user)
	default:
		targets = n.hub.room(room)
	}
	if len(targets) == 0 {
		return
	}
	// Encoded once for all of them (lazily, by the first lean connection).
	d := session.Delivery{Stream: stream, Msg: m, Prepared: session.Prepare(m)}
	for _, s := range targets {
		s.Deliver(d)
	}
}

type addressedStream struct {
	stream mailbox.Stream
	user   string
	room   string // meta.room
}

// streamsOf lists each addressed stream once.
func streamsOf(to api.Target) []addressedStream {
	if to.All {
		return []addressedStream{{stream: mailbox.AllStream, room: "*"}}
	}
	out := make([]addressedStream, 0, len(to.Users)+len(to.Rooms))
	seen := make(map[mailbox.Stream]bool, cap(out))
	for _, u := range to.Users {
		if st := mailbox.UserStream(u); !seen[st] {
			seen[st] = true
			out = append(out, addressedStream{stream: st, user: u})
		}
	}
	for _, r := range to.Rooms {
		if st := mailbox.RoomStream(r); !seen[st] {
			seen[st] = true
			out = append(out, addressedStream{stream: st, room: r})
		}
	}
	return out
}

func (n *Node) validatePush(req *api.PushRequest) (time.Duration, error) {
	bad := func(msg string) (time.Duration, error) { return 0, errcode.New(errcode.BadRequest, msg) }
	switch {
	case req.Event == "":
		return bad(`"event" is required`)
	case len(req.Event) > maxEventLen:
		return bad(`"event" is longer than 128 bytes`)
	case isReserved(req.Event):
		return 0, errcode.New(errcode.ReservedEvent, `event "`+req.Event+`" is reserved by the protocol and cannot be pushed`)
	case !req.To.All && len(req.To.Users) == 0 && len(req.To.Rooms) == 0:
		return bad(`"to" must name users, rooms, or all`)
	case req.To.All && (len(req.To.Users) > 0 || len(req.To.Rooms) > 0):
		return bad(`"to.all" cannot be combined with users or rooms`)
	case len(req.To.Users)+len(req.To.Rooms) > maxTargets:
		return bad(`"to" names more than 10000 users and rooms`)
	case len(req.ID) > maxNameLen:
		return bad(`"id" is longer than 256 bytes`)
	}
	for _, name := range append(append([]string(nil), req.To.Users...), req.To.Rooms...) {
		if !validName(name) {
			return bad("user and room names must be 1-256 bytes of UTF-8")
		}
	}
	if req.TTL == nil {
		return n.cfg.DefaultTTL, nil
	}
	ttl := *req.TTL
	if ttl < 0 || math.IsNaN(ttl) || ttl > maxTTL.Seconds() {
		return bad(`"ttl" must be between 0 and 604800 seconds`)
	}
	return time.Duration(ttl * float64(time.Second)), nil
}

// isReserved reports names the socket.io protocol or courier keep.
func isReserved(event string) bool {
	switch event {
	case "connect", "disconnect", "connect_error", "disconnecting", "newListener", "removeListener":
		return true
	}
	return strings.HasPrefix(event, "courier:")
}

func (n *Node) countPush(to api.Target) {
	switch {
	case to.All:
		n.metrics.pushes.WithLabelValues("all").Inc()
	case len(to.Rooms) > 0 && len(to.Users) > 0:
		n.metrics.pushes.WithLabelValues("mixed").Inc()
	case len(to.Rooms) > 0:
		n.metrics.pushes.WithLabelValues("rooms").Inc()
	default:
		n.metrics.pushes.WithLabelValues("users").Inc()
	}
}

// unavailable logs a store failure and answers the retryable 503.
func (n *Node) unavailable(ctx context.Context, err error) error {
	n.log.Warn("store failed", "trace", api.TraceID(ctx), "err", err)
	return errcode.New(errcode.Unavailable, "message store unavailable, the push was not accepted; retry with the same id")
}
