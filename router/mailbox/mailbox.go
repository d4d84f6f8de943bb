// Package mailbox caches pushed messages until each device acknowledges them.
//
// A stream is an ordered log of messages: one per user (the user's mailbox),
// one per room (the room log), and one cluster-wide log for pushes to all.
// Each message in a stream gets the next seq (1, 2, 3, ...). Each device keeps
// its own acknowledgements per stream, so one device's ack never hides a
// message from another.
package mailbox

import (
	"context"
	"errors"
	"time"
)

// Stream names a log.
type Stream string

// AllStream is the cluster-wide log of pushes to every session.
const AllStream Stream = "*"

// UserStream is the mailbox of one user.
func UserStream(user string) Stream { return Stream("u:" + user) }

// RoomStream is the log of one room.
func RoomStream(room string) Stream { return Stream("r:" + room) }

// Message is one cached push as stored in one stream.
type Message struct {
	ID      string // the push's message id, the same in every stream it was appended to
	Seq     uint64 // position in this stream; set by Append
	Event   string
	Data    []byte // JSON
	TS      int64  // unix ms when pushed
	Expires int64  // unix ms after which it is never delivered
	Room    string // meta.room: "" for a user mailbox, the room, or "*" for all
	// Trace is the trace id of the push that made it, while it travels live
	// (hub to sessions, node to node); the store does not keep it, so a
	// replayed message has none.
	Trace string
}

// ErrUnavailable wraps failures of the backing store (e.g. Redis down).
var ErrUnavailable = errors.New("mailbox unavailable")

// Ack is one acknowledgement, for AckBatch.
type Ack struct {
	Stream Stream
	Device string
	Seq    uint64
}

// Mailbox is every role of the store: one struct (Memory, Redis) plays them
// all. Code that needs one role takes that role's interface.
type Mailbox interface {
	Log
	Claims
	Nudges
	Inspector
}

// Log is the streams of messages and each device's acknowledgements in them.
// It is safe for concurrent use; every method may block on the store.
//
// Time is Config.Now: a message with Expires <= now is expired, never
// returned nor counted, and dropped. A device that has called neither Pending
// nor Ack on a stream for Config.DeviceTTL is forgotten there, with its acks.
// Message.Data is immutable once appended: callers modify neither the Data
// they append nor the Data they are given back.
type Log interface {
	// Append stores m in stream and returns its seq. It is idempotent by
	// m.ID per stream: appending an id the stream still holds returns the
	// existing seq and created=false (an empty ID is never deduplicated).
	// Streams keep at most the configured limit of messages; the oldest go
	// first. Seqs keep rising past trimmed and expired messages, so clients
	// see the gap; only a stream left empty and idle for DeviceTTL may
	// restart at 1.
	Append(ctx context.Context, stream Stream, m Message) (seq uint64, created bool, err error)
	// Pending returns, in seq order, up to limit (all when limit <= 0)
	// unexpired messages of stream with seq > after that device has not
	// acknowledged. It also makes the device known to the stream (see
	// PendingCount), unless nobody ever wrote to it: that read, every
	// connect's first, records nothing.
	Pending(ctx context.Context, stream Stream, device string, after uint64, limit int) ([]Message, error)
	// Ack records that device acknowledged seq in stream, and makes the
	// device known to the stream. Acks may come in any order; acking an
	// unknown, expired or never-issued seq is not an error and hides nothing.
	Ack(ctx context.Context, stream Stream, device string, seq uint64) error
	// AckBatch records many acknowledgements, across streams and devices,
	// with the effect of Ack on each, in one call (one pipeline for Redis).
	// A batch that fails may be partly recorded; acks are idempotent, so
	// writing it again is safe. It neither keeps nor modifies acks.
	AckBatch(ctx context.Context, acks []Ack) error
	// PendingCount counts unexpired messages of stream that some known device
	// has not acknowledged; with no known device, every unexpired message.
	// devices count as known too (a user's connected devices), whether or
	// not they read the stream yet: one that acknowledged nothing there
	// lacks every held message.
	PendingCount(ctx context.Context, stream Stream, devices ...string) (int, error)
	// Held counts the unexpired messages stream holds, whoever acknowledged
	// them: 0 means no device has anything to read there.
	Held(ctx context.Context, stream Stream) (int, error)
}

// Claims binds keys to ids for a while, the first caller winning: push
// idempotency keys ("push:<id>") and the election of the node that purges a
// dead one ("purge:<node>:<started>"). It is safe for concurrent use; every
// method may block on the store. Time is Config.Now.
type Claims interface {
	// Claim binds an idempotency key to id for ttl. It returns the id bound
	// first: id itself when the key was free or its binding expired. A ttl
	// <= 0 binds nothing and returns id.
	Claim(ctx context.Context, key, id string, ttl time.Duration) (string, error)
}

// Nudges tells a node which streams its sessions must read again, when a
// push could not reach it over the peer link. It is safe for concurrent
// use; every method may block on the store.
type Nudges interface {
	// Nudge records, for node, that stream holds a message node's sessions
	// reading it were not handed live (the peer link to node was unknown,
	// down or full): node catches those sessions up at its next
	// TakeNudges. Nudging a stream twice before that records it once.
	// Nudges are kept for NudgeTTL at most; a node that never takes them
	// (it died) has nothing to catch up, since its clients replay on connect.
	Nudge(ctx context.Context, node string, stream Stream) error
	// TakeNudges returns and forgets up to max streams nudged for node
	// (max <= 0: all of them), in no particular order.
	TakeNudges(ctx context.Context, node string, max int) ([]Stream, error)
}

// NudgeTTL bounds how long a nudge waits for its node to take it.
const NudgeTTL = 10 * time.Minute

// Config is shared by the implementations. Zero values take the defaults.
type Config struct {
	// Limit is the number of messages kept per stream (default 1000).
	Limit int
	// DeviceTTL is how long an idle device's acknowledgements are kept (default 24h).
	DeviceTTL time.Duration
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// Inspector reads a stream for an operator (the admin UI, GET
// /v1/users/{user}/mailbox) without changing it: no device becomes known,
// no device's idle time restarts, nothing expired is dropped. It is safe
// for concurrent use and may block on the store.
type Inspector interface {
	// Inspect returns stream's newest seq, its unexpired messages (the
	// newest up to limit, newest first), and every live device's cursor
	// with up to limit of its pending messages in seq order. limit <= 0
	// means 100. A stream never written is an empty StreamView.
	Inspect(ctx context.Context, stream Stream, limit int) (StreamView, error)
	// CountHeld counts the unexpired messages of every stream. On Redis it
	// scans every stream: call it seldom (once a minute), never per request.
	CountHeld(ctx context.Context) (int, error)
}

// StreamView is one stream as Inspect found it.
type StreamView struct {
	Last    uint64       // newest seq ever issued
	Held    int          // unexpired messages held
	Recent  []Message    // the newest held ones, newest first
	Devices []DeviceView // by device name
}

// DeviceView is one device's place in a stream.
type DeviceView struct {
	Device string
	// Cursor: every seq <= Cursor is acknowledged or gone; acknowledgements
	// above it (out of order) hide those messages from Pending.
	Cursor  uint64
	Pending []Message
}

// inspectLimit is Inspect's limit when the caller gives none.
const inspectLimit = 100
