// Package forward carries deliveries between nodes: each node dials one
// WebSocket link (gobwas/ws) to every peer it has something for, and sends
// batches of msgpack envelopes over it. Links are a fast path only: what a
// down link cannot carry stays in the mailbox and reaches clients by replay.
package forward

import (
	"courier/router/mailbox"
)

// Kind says what an envelope asks the receiving node to do.
type Kind uint8

const (
	// KindDeliver: emit Msg to the local sessions of User (a user stream),
	// or of Room ("*" for every local session).
	KindDeliver Kind = 1
	// KindJoin / KindLeave: put every local session of Users into / out of Room.
	KindJoin  Kind = 2
	KindLeave Kind = 3
	// KindDisconnect: close every local session of User.
	KindDisconnect Kind = 4
	// KindReplace: close the local sessions of User whose ids are Users
	// (the oldest, past --max-sessions-per-user), as "replaced".
	KindReplace Kind = 5
)

func (k Kind) String() string {
	switch k {
	case KindDeliver:
		return "deliver"
	case KindJoin:
		return "join"
	case KindLeave:
		return "leave"
	case KindDisconnect:
		return "disconnect"
	case KindReplace:
		return "replace"
	}
	return "unknown"
}

// Envelope is one instruction for a peer node. Receivers must ignore kinds
// they do not know, so new kinds can roll out node by node.
//
// An envelope handed to Links.Send is read after Send returns (by the link's
// writer), so callers must not modify it or its slices afterwards.
type Envelope struct {
	Kind Kind
	// From is the sending node's id. It is not on the wire: the receiving
	// Server sets it from the link's authenticated handshake, so a peer
	// cannot speak for another node.
	From   string
	Stream mailbox.Stream // Deliver: the stream Msg.Seq belongs to
	User   string         // Deliver to a user, Disconnect
	Room   string         // Deliver to a room ("*" = all), Join, Leave
	Users  []string       // Join, Leave
	Msg    mailbox.Message
}

// Wire layout of one envelope: a msgpack array, fields by position.
//
//	0 kind  1 stream  2 user  3 room  4 users
//	5 msg.id  6 msg.seq  7 msg.event  8 msg.data  9 msg.ts  10 msg.expires  11 msg.room
//	12 msg.trace (sent only when set)
//
// Positions never change meaning. A sender may omit trailing fields (the
// receiver takes zero values: envelopes without a message stop at 4), and a
// receiver skips trailing fields it does not know, so fields can be added at
// the end without a protocol bump.
const (
	fieldsNoMsg = 5
	fieldsMsg   = 12
	fieldsTrace = 13
)

func (e *Envelope) hasMsg() bool {
	m := &e.Msg
	return m.ID != "" || m.Seq != 0 || m.Event != "" || m.Data != nil ||
		m.TS != 0 || m.Expires != 0 || m.Room != "" || m.Trace != ""
}

// size approximates the memory an envelope holds while queued; it is what
// LinksConfig.QueueBytes and MaxEnvelope bound.
func (e *Envelope) size() int {
	n := 64 + len(e.Stream) + len(e.User) + len(e.Room) + len(e.Msg.ID) +
		len(e.Msg.Event) + len(e.Msg.Data) + len(e.Msg.Room) + len(e.Msg.Trace)
	for _, u := range e.Users {
		n += 16 + len(u)
	}
	return n
}
