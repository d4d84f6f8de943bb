package session

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"courier/node/auth"
	"courier/node/engine"
	"courier/router/mailbox"
	"courier/router/opsbus"
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

	at int64 // unix ns it reached the session's live queue
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
	opt          *Options
	conn         engine.Conn
	User         string
	Device       string
	connectedAt  int64    // unix ns
	roomPatterns []string // the token's rooms
	deviceKey    string

	commands atomic.Int32 // commands in flight

	mu          sync.Mutex
	closed      bool
	closeReason string // why it closed: the first reason given to Closed
	running     bool   // a worker goroutine, or a Deliver emitting directly, owns the sending
	poked       bool   // work arrived while the sending was owned: look again before letting go
	starved     bool   // a replay waits for window room: an ack must wake the worker
	// storeFailures counts mailbox reads that failed in a row: the next
	// read waits the longer (retryAfter).
	storeFailures uint8
	// The user mailbox and the cluster-wide log are read by every session:
	// their states live here, not in a map. Rooms come and go in rooms.
	user, all streamState
	rooms     map[mailbox.Stream]*streamState
	// lastRoom is the room state state() found last: a session is most
	// often in one room, and a string compare is cheaper than hashing the
	// name for each message and each ack.
	lastRoom   *streamState
	live       []Delivery
	sendq      []queued
	liveQueued int         // entries of sendq that came live: only they make a slow consumer
	flights    *flightRing // nil until the first send
	timer      *time.Timer
	wakeAt     int64 // unix ns the timer is set for; 0: not set
	gapSince   int64 // unix ns the oldest live message ahead of its stream came; 0: none
}

type queued struct {
	d    Delivery
	live bool
}

type streamState struct {
	name mailbox.Stream
	sent uint64 // highest seq queued for sending
	// notBefore (unix ns) holds reads back after the store failed.
	notBefore int64
	// lastID is the id of the message at seq sent. Ids rise with time, so a
	// newer id at an old seq means the stream started over (a store that
	// lost its data, an idle stream forgotten): see reset.
	lastID string
	// gen counts resets; an ack of an older generation names a seq that
	// now belongs to another message, and is not recorded.
	gen      uint32
	on       bool // subscribed (the inline user and all states)
	ready    bool // the first replay has been read
	replay   bool // a mailbox read is owed
	fetching bool // a mailbox read is under way
}

type flightKey struct {
	stream mailbox.Stream
	seq    uint64
	gen    uint32
}

// New makes the session of conn; it reads its user mailbox and the
// cluster-wide log once Start is called.
func New(opt *Options, conn engine.Conn, claims auth.Claims, device string) *Session {
	s := &Session{
		opt:          opt,
		conn:         conn,
		User:         claims.Sub,
		Device:       device,
		roomPatterns: claims.Rooms,
		connectedAt:  opt.Now().UnixNano(),
		deviceKey:    DeviceKeyOf(claims.Sub, device),
	}
	conn.OnAckToken(s.onAck)
	return s
}

// DeviceKeyOf names a user's device in every stream's acknowledgements.
// The length prefix keeps (user, device) pairs from colliding.
func DeviceKeyOf(user, device string) string {
	return strconv.Itoa(len(user)) + ":" + user + "/" + device
}

// ConnectedAt is when the session began.
func (s *Session) ConnectedAt() time.Time { return time.Unix(0, s.connectedAt) }

// MayJoin reports whether the session's token allows room.
func (s *Session) MayJoin(room string) bool {
	s.mu.Lock()
	patterns := s.roomPatterns
	s.mu.Unlock()
	return auth.Claims{Rooms: patterns}.MayJoin(room)
}

// SetRoomPatterns replaces the rooms the session may join (a refreshed
// token's); rooms it is in stay until the caller takes it out.
func (s *Session) SetRoomPatterns(patterns []string) {
	s.mu.Lock()
	s.roomPatterns = patterns
	s.mu.Unlock()
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

// DeviceKey names this device in every stream's acknowledgements.
func (s *Session) DeviceKey() string { return s.deviceKey }

// Start subscribes the user mailbox and the cluster-wide log and replays
// both. (A node that batches the first reads uses Open instead.)
func (s *Session) Start() {
	s.Subscribe(mailbox.UserStream(s.User))
	s.Subscribe(mailbox.AllStream)
}

// Subscribe makes the session read stream: what the device has not
// acknowledged is replayed, then live messages follow.
func (s *Session) Subscribe(stream mailbox.Stream) {
	s.mu.Lock()
	s.subscribeLocked(stream, streamState{on: true, replay: true})
	s.mu.Unlock()
	s.kick()
}

// FirstRead is the first read of a stream opened with Open, for the caller
// to do (router/arrival) and hand back to Opened.
type FirstRead struct {
	Stream mailbox.Stream
	Device string // the session's DeviceKey
	After  uint64
	Limit  int
	job    replayJob
}

// Open subscribes stream with its first read left to the caller, who does
// it in one batch with the session's other store work and hands the result
// to Opened; live messages wait meanwhile. share is how many streams the
// caller opens together: they split the window. ok is false when stream
// was subscribed already or the session is closed: nothing to read.
func (s *Session) Open(stream mailbox.Stream, share int) (r FirstRead, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.subscribeLocked(stream, streamState{on: true, fetching: true})
	if st == nil {
		return FirstRead{}, false
	}
	limit := max(1, min(replayBatch, s.opt.Window/max(share, 1)))
	return FirstRead{Stream: stream, Device: s.deviceKey, Limit: limit,
		job: replayJob{stream: stream, st: st, gen: st.gen, limit: limit}}, true
}

// Opened hands over the first read of Open: its messages are sent, or on
// err the session reads the stream itself, after the store backoff.
func (s *Session) Opened(r FirstRead, msgs []mailbox.Message, err error) {
	s.mu.Lock()
	s.gotRead(r.job, msgs, err)
	s.mu.Unlock()
	s.kick()
}

// subscribeLocked adds stream in state fresh, unless it is subscribed
// already or s is closed (nil then). Called with s.mu held.
func (s *Session) subscribeLocked(stream mailbox.Stream, fresh streamState) *streamState {
	if s.state(stream) != nil || s.closed {
		return nil
	}
	fresh.name = stream
	switch {
	case stream == mailbox.AllStream:
		s.all = fresh
		return &s.all
	case !s.user.on && stream == mailbox.UserStream(s.User):
		s.user = fresh
		return &s.user
	}
	if s.rooms == nil {
		s.rooms = make(map[mailbox.Stream]*streamState, 1)
	}
	st := &fresh
	s.rooms[stream] = st
	s.lastRoom = nil // it may be a left room's state under the same name
	return st
}

// state is the state of a subscribed stream, or nil. Called with s.mu held.
func (s *Session) state(name mailbox.Stream) *streamState {
	switch {
	case s.user.on && name == s.user.name:
		return &s.user
	case s.all.on && name == s.all.name:
		return &s.all
	}
	if r := s.lastRoom; r != nil && r.name == name {
		return r
	}
	r := s.rooms[name]
	if r != nil {
		s.lastRoom = r
	}
	return r
}

// eachStream calls fn on every subscribed stream. Called with s.mu held.
func (s *Session) eachStream(fn func(st *streamState)) {
	if s.user.on {
		fn(&s.user)
	}
	if s.all.on {
		fn(&s.all)
	}
	for _, st := range s.rooms {
		fn(st)
	}
}

// Resync reads every stream again from its start: live deliveries may have
// been missed (a partition), or the store may have started over (Redis
// restarted empty). What is unacknowledged may come again; the SDKs
// de-duplicate by id.
func (s *Session) Resync() {
	s.mu.Lock()
	s.eachStream(s.reset)
	s.mu.Unlock()
	s.kick()
}

// reset forgets what was queued and sent of stream and reads it again from
// the start. Called with s.mu held.
func (s *Session) reset(st *streamState) {
	name := st.name
	st.gen++
	st.sent, st.lastID, st.replay = 0, "", true
	s.flights.each(func(f *flight) {
		if f.key.stream == name {
			s.flights.close(f)
		}
	})
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
	st := s.state(stream)
	if st != nil {
		st.replay = true
	}
	s.mu.Unlock()
	if st != nil {
		s.kick()
	}
}

// CatchUpAll is CatchUp for every stream the session reads.
func (s *Session) CatchUpAll() {
	s.mu.Lock()
	s.eachStream(func(st *streamState) { st.replay = true })
	s.mu.Unlock()
	s.kick()
}

// Unsubscribe stops reading stream. Messages in flight may still be acked.
func (s *Session) Unsubscribe(stream mailbox.Stream) {
	s.mu.Lock()
	if st := s.state(stream); st != nil && st != &s.user && st != &s.all {
		delete(s.rooms, stream)
		if s.lastRoom == st {
			s.lastRoom = nil
		}
	} else if st != nil {
		st.on = false
	}
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
	if num, ok := s.takeDirect(d); ok {
		s.sendDirect(d, num)
		return
	}
	if len(s.live)+s.liveQueued >= s.opt.QueueLimit {
		s.mu.Unlock()
		s.opt.Log.Warn("slow consumer disconnected", "session", s.ID(), "user", s.User, "queued", s.opt.QueueLimit)
		s.Close(ReasonSlowConsumer)
		return
	}
	d.at = s.opt.Now().UnixNano()
	s.live = append(s.live, d)
	// Concurrent pushes arrive in any order: kept in seq order per stream,
	// one that came before the one it follows still continues its stream.
	// Fire-and-forget messages (no seq) keep their place.
	for i := len(s.live) - 1; i > 0; i-- {
		a, b := &s.live[i-1], &s.live[i]
		if a.Stream != b.Stream || a.Msg.Seq == 0 || b.Msg.Seq == 0 || a.Msg.Seq < b.Msg.Seq {
			break
		}
		*a, *b = *b, *a
	}
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
	if reason == ReasonKicked || reason == ReasonReplaced {
		// A socket.io DISCONNECT: the official client stays away instead
		// of reconnecting (and, when replaced, replacing the newer one).
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
	s.closed, s.closeReason = true, reason
	s.live, s.sendq, s.liveQueued = nil, nil, 0
	s.flights = nil
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	s.opt.Metrics.Disconnected(reason)
	return true
}

// CloseReason is the reason the session was closed for ("" while open).
func (s *Session) CloseReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeReason
}

// Pending reports what is queued and in flight, for tests.
func (s *Session) Pending() (queued, inflight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live) + len(s.sendq), s.flights.openCount()
}

// onAck records the client's acknowledgement of flight num.
func (s *Session) onAck(num uint64) {
	s.opt.Metrics.Acked()
	if num == noFlight {
		return // fire-and-forget: nothing to record
	}
	s.mu.Lock()
	f := s.flights.get(num)
	if f == nil {
		s.mu.Unlock()
		return // resent under a newer number, given up, or the session closed
	}
	key := f.key
	if s.Traced() {
		s.traceMsg(opsbus.TypeAck, f.d.Msg)
	}
	full := s.flights.openCount() >= s.opt.Window || s.flights.slots() >= maxSlots(s.opt.Window)
	s.flights.close(f)
	st := s.state(key.stream)
	record := st == nil || st.gen == key.gen
	// Only work held back by the window needs the worker now.
	wake := len(s.sendq) > 0 || s.starved || full
	s.mu.Unlock()
	if record {
		s.opt.recordAck(mailbox.Ack{Stream: key.stream, Device: s.deviceKey, Seq: key.seq})
	}
	if wake {
		s.kick()
	}
}

// emit sends d as flight num: the shared encoding, with the flight number
// as the acknowledgement's token (nothing allocated per message).
func (s *Session) emit(d Delivery, num uint64) {
	p := d.Prepared
	if p == nil {
		p = s.opt.prepared(d.Stream, d.Msg)
	}
	if err := s.conn.EmitPreparedToken(p, num); err != nil {
		s.opt.Log.Debug("emit failed", "session", s.ID(), "err", err)
	}
}

func (s *Session) storeContext() (context.Context, context.CancelFunc) {
	base := s.opt.Context
	if base == nil {
		base = context.Background()
	}
	return context.WithTimeout(base, 5*time.Second)
}
