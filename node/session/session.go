package session

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"courier/node/auth"
	"courier/node/engine"
	"courier/router/mailbox"
)

// Meta is the second argument of every pushed event (SPEC: client connection).
type Meta struct {
	ID   string `json:"id"`
	Seq  uint64 `json:"seq"`
	TS   int64  `json:"ts"`
	Room string `json:"room,omitempty"`
}

// Delivery is a message handed to a session: a cached one (Msg.Seq > 0) of
// Stream, or a fire-and-forget one (Msg.Seq == 0). Msg is shared by every
// session of a fan-out and must not be modified.
type Delivery struct {
	Stream mailbox.Stream
	Msg    *mailbox.Message
	// Prepared, when set (Prepare(Msg)), is the event encoded once for every
	// session of a fan-out; engines that can share it write only the ack id
	// per connection.
	Prepared *engine.Prepared
}

// Prepare makes the shared encoding of m for a fan-out: the event with its
// (data, meta) arguments, the same for every receiver.
func Prepare(m *mailbox.Message) *engine.Prepared {
	return engine.NewPrepared(m.Event, []any{json.RawMessage(m.Data), metaOf(m)})
}

func metaOf(m *mailbox.Message) Meta {
	return Meta{ID: m.ID, Seq: m.Seq, TS: m.TS, Room: m.Room}
}

// Session is one connected client. Its methods are safe for concurrent use.
type Session struct {
	opt         *Options
	conn        engine.Conn
	User        string
	Device      string
	Claims      auth.Claims
	ConnectedAt time.Time

	commands atomic.Int32 // commands in flight

	mu      sync.Mutex
	closed  bool
	running bool // a worker goroutine is active
	streams map[mailbox.Stream]*streamState
	live    []Delivery
	acks    []flightKey
	sendq   []queued
	// liveQueued counts the entries of sendq that came live: only they can
	// make a slow consumer, since replay reads no more than the window frees.
	liveQueued int
	inflight   map[flightKey]*flight
	timer      *time.Timer
	wakeAt     time.Time
}

type queued struct {
	d    Delivery
	live bool
}

type streamState struct {
	sent     uint64 // highest seq queued for sending
	ready    bool   // the first replay has been read
	replay   bool   // a mailbox read is owed
	fetching bool   // a mailbox read is under way
	// notBefore holds reads back after the store failed.
	notBefore time.Time
	// lastID is the id of the message at seq sent. Ids rise with time, so a
	// newer id at an old seq means the stream started over (a store that
	// lost its data, an idle stream forgotten): see reset.
	lastID string
	// gen counts resets; an ack of an older generation names a seq that
	// now belongs to another message, and is not recorded.
	gen uint32
}

type flightKey struct {
	stream mailbox.Stream
	seq    uint64
	gen    uint32
}

type flight struct {
	d        Delivery
	attempts int
	deadline time.Time
}

// New makes the session of conn; it reads its user mailbox and the
// cluster-wide log once Start is called.
func New(opt *Options, conn engine.Conn, claims auth.Claims, device string) *Session {
	s := &Session{
		opt:         opt,
		conn:        conn,
		User:        claims.Sub,
		Device:      device,
		Claims:      claims,
		ConnectedAt: opt.Now(),
		streams:     make(map[mailbox.Stream]*streamState, 2),
		inflight:    make(map[flightKey]*flight),
	}
	return s
}

// AcquireCommand takes one of max slots for a command in flight; false
// when all are taken. ReleaseCommand gives it back.
func (s *Session) AcquireCommand(max int) bool {
	if s.commands.Add(1) > int32(max) {
		s.commands.Add(-1)
		return false
	}
	return true
}

// ReleaseCommand gives back a slot taken by AcquireCommand.
func (s *Session) ReleaseCommand() { s.commands.Add(-1) }

// ID is the engine's session id.
func (s *Session) ID() string { return s.conn.ID() }

// Conn is the engine connection carrying this session.
func (s *Session) Conn() engine.Conn { return s.conn }

// DeviceKey names this device in every stream's acknowledgements. The
// length prefix keeps (user, device) pairs from colliding.
func (s *Session) DeviceKey() string {
	return fmt.Sprintf("%d:%s/%s", len(s.User), s.User, s.Device)
}

// Start subscribes the user mailbox and the cluster-wide log and replays both.
func (s *Session) Start() {
	s.Subscribe(mailbox.UserStream(s.User))
	s.Subscribe(mailbox.AllStream)
}

// Subscribe makes the session read stream: what the device has not
// acknowledged is replayed, then live messages follow.
func (s *Session) Subscribe(stream mailbox.Stream) {
	s.mu.Lock()
	if _, ok := s.streams[stream]; !ok && !s.closed {
		s.streams[stream] = &streamState{replay: true}
	}
	s.mu.Unlock()
	s.kick()
}

// Resync reads every stream again from its start: live deliveries may have
// been missed (a partition), or the store may have started over (Redis
// restarted empty). What is unacknowledged may come again; the SDKs
// de-duplicate by id.
func (s *Session) Resync() {
	s.mu.Lock()
	for name, st := range s.streams {
		s.reset(name, st)
	}
	s.mu.Unlock()
	s.kick()
}

// reset forgets what was queued and sent of stream and reads it again from
// the start. Called with s.mu held.
func (s *Session) reset(name mailbox.Stream, st *streamState) {
	st.gen++
	st.sent, st.lastID, st.replay = 0, "", true
	for key := range s.inflight {
		if key.stream == name {
			delete(s.inflight, key)
		}
	}
	kept := s.sendq[:0]
	for _, q := range s.sendq {
		switch {
		case q.d.Stream != name || q.d.Msg.Seq == 0:
			kept = append(kept, q)
		case q.live:
			s.liveQueued--
		}
	}
	clear(s.sendq[len(kept):])
	s.sendq = kept
}

// CatchUp reads stream again after what the session already queued: a
// message may have gone past it (a peer link could not hand it over live).
// Unlike Resync, nothing already sent comes again.
func (s *Session) CatchUp(stream mailbox.Stream) {
	s.mu.Lock()
	st := s.streams[stream]
	if st != nil {
		st.replay = true
	}
	s.mu.Unlock()
	if st != nil {
		s.kick()
	}
}

// Unsubscribe stops reading stream. Messages in flight may still be acked.
func (s *Session) Unsubscribe(stream mailbox.Stream) {
	s.mu.Lock()
	delete(s.streams, stream)
	s.mu.Unlock()
}

// Deliver hands a live message to the session. It never blocks; a client
// whose queue is full is disconnected as a slow consumer, and its messages
// stay in the mailbox for its next connection.
func (s *Session) Deliver(d Delivery) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if len(s.live)+s.liveQueued >= s.opt.QueueLimit {
		s.mu.Unlock()
		s.opt.Log.Warn("slow consumer disconnected", "session", s.ID(), "user", s.User, "queued", s.opt.QueueLimit)
		s.Close(ReasonSlowConsumer)
		return
	}
	s.live = append(s.live, d)
	s.mu.Unlock()
	s.kick()
}

// Close ends the session from the server side. For kicked clients a
// socket.io DISCONNECT keeps the official client from reconnecting; for
// every other reason the transport is dropped so the client reconnects
// (elsewhere, when the node is going away) and replays what it missed.
func (s *Session) Close(reason string) {
	// Marked closed first: the reason counted is ours, not the "client"
	// close the engine reports back, and concurrent Closes say it once.
	if !s.Closed(reason) {
		return
	}
	_ = s.conn.Emit("courier:disconnect", []any{map[string]string{"reason": reason}}, nil)
	if reason == ReasonKicked {
		s.conn.Disconnect()
	} else {
		s.conn.CloseTransport()
	}
}

// Closed records that the connection is gone and reports whether this call
// closed it. Acks already received are still written; messages in flight
// stay in the mailbox.
func (s *Session) Closed(reason string) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.closed = true
	s.live, s.sendq, s.inflight, s.liveQueued = nil, nil, nil, 0
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	s.opt.Metrics.Disconnected(reason)
	s.kick() // flush acks
	return true
}

// Pending reports what is queued and in flight, for tests and admin views.
func (s *Session) Pending() (queued, inflight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live) + len(s.sendq), len(s.inflight)
}

func (s *Session) onAck(key flightKey) {
	s.opt.Metrics.Acked()
	if key.seq == 0 {
		return // fire-and-forget: nothing to record
	}
	s.mu.Lock()
	delete(s.inflight, key)
	if st := s.streams[key.stream]; st == nil || st.gen == key.gen {
		s.acks = append(s.acks, key)
	}
	s.mu.Unlock()
	s.kick()
}

func (s *Session) emit(d Delivery, key flightKey) {
	ack := func([]any) { s.onAck(key) }
	var err error
	if d.Prepared != nil {
		err = engine.EmitPrepared(s.conn, d.Prepared, ack)
	} else {
		err = s.conn.Emit(d.Msg.Event, []any{json.RawMessage(d.Msg.Data), metaOf(d.Msg)}, ack)
	}
	if err != nil {
		s.opt.Log.Debug("emit failed", "session", s.ID(), "err", err)
	}
}

func (s *Session) storeContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}
