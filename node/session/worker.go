package session

import (
	"cmp"
	"slices"
	"time"

	"courier/router/mailbox"
)

// storeRetry is how long a session waits before reading the mailbox again
// after the store failed.
const storeRetry = time.Second

// kick starts the worker unless one is running. The worker ends when a pass
// finds nothing to do, so an idle session parks no goroutine.
func (s *Session) kick() {
	s.mu.Lock()
	if s.running || (s.closed && len(s.acks) == 0) {
		s.mu.Unlock()
		return
	}
	s.running = true
	s.mu.Unlock()
	go s.work()
}

type replayJob struct {
	stream mailbox.Stream
	st     *streamState // the state the read is for: a leave and rejoin makes a new one
	gen    uint32
	after  uint64
	limit  int
}

// work runs passes until one finds nothing to do. Each pass takes the work
// under the lock and does the I/O (mailbox, network) outside it.
func (s *Session) work() {
	for {
		s.mu.Lock()
		acks := s.acks
		s.acks = nil
		var replays []replayJob
		var sends []Delivery
		var keys []flightKey
		if !s.closed {
			s.absorbLive()
			// Retries first: giving up on one frees window for replays.
			sends, keys = s.takeRetries()
			replays = s.takeReplays()
			more, mkeys := s.takeSends()
			sends, keys = append(sends, more...), append(keys, mkeys...)
		}
		if len(acks) == 0 && len(replays) == 0 && len(sends) == 0 {
			s.running = false
			s.armTimer()
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()

		s.writeAcks(acks)
		for i, d := range sends {
			s.emit(d, keys[i])
		}
		for _, job := range replays {
			s.replay(job)
		}
	}
}

// absorbLive moves live messages that continue a stream onto the send
// queue. Anything else (stream not read yet, a gap) turns into a mailbox
// read, which is the one source of truth. Called with s.mu held.
func (s *Session) absorbLive() {
	for _, d := range s.live {
		if d.Msg.Seq == 0 {
			s.queueLive(d)
			continue
		}
		st := s.streams[d.Stream]
		switch {
		case st == nil:
			// not (or no longer) subscribed
		case !st.ready || st.fetching:
			st.replay = true
		case d.Msg.Seq <= st.sent:
			if st.lastID != "" && d.Msg.ID > st.lastID {
				s.reset(d.Stream, st) // a new message at an old seq: the stream started over
			}
			// else already queued or sent
		case d.Msg.Seq == st.sent+1:
			st.sent, st.lastID = d.Msg.Seq, d.Msg.ID
			s.queueLive(d)
		default:
			st.replay = true // a gap: a message went past us
		}
	}
	clear(s.live)
	s.live = s.live[:0]
}

func (s *Session) queueLive(d Delivery) {
	s.sendq = append(s.sendq, queued{d: d, live: true})
	s.liveQueued++
}

// takeReplays picks the streams owing a mailbox read and shares the free
// window among them, so replay never queues more than the client can take.
// Called with s.mu held.
func (s *Session) takeReplays() []replayJob {
	free := s.opt.Window - len(s.sendq) - len(s.inflight)
	var jobs []replayJob
	now := s.opt.Now()
	for name, st := range s.streams {
		if free <= 0 {
			break
		}
		if st.replay && !st.fetching && !now.Before(st.notBefore) {
			limit := min(replayBatch, free)
			free -= limit
			st.replay, st.fetching = false, true
			jobs = append(jobs, replayJob{stream: name, st: st, gen: st.gen, after: st.sent, limit: limit})
		}
	}
	return jobs
}

// expired reports a cached message past its ttl: never sent again.
func expired(m *mailbox.Message, nowMs int64) bool {
	return m.Expires != 0 && m.Expires <= nowMs
}

// takeSends moves queued messages into flight while the window has room.
// Called with s.mu held.
func (s *Session) takeSends() ([]Delivery, []flightKey) {
	var sends []Delivery
	var keys []flightKey
	now := s.opt.Now()
	nowMs := now.UnixMilli()
	n := 0
	for n < len(s.sendq) && len(s.inflight) < s.opt.Window {
		q := s.sendq[n]
		d := q.d
		n++
		if q.live {
			s.liveQueued--
		}
		if expired(d.Msg, nowMs) {
			continue
		}
		key := flightKey{stream: d.Stream, seq: d.Msg.Seq}
		if st := s.streams[d.Stream]; st != nil {
			key.gen = st.gen
		}
		if d.Msg.Seq != 0 {
			if _, dup := s.inflight[key]; dup {
				continue
			}
			s.inflight[key] = &flight{d: d, deadline: now.Add(s.opt.AckTimeout)}
		}
		sends = append(sends, d)
		keys = append(keys, key)
		s.opt.Metrics.Delivered()
	}
	clear(s.sendq[:n])
	s.sendq = s.sendq[n:]
	return sends, keys
}

// takeRetries resends what was not acknowledged in time, a bounded number of
// times; after that the message waits in the mailbox for the next
// connection. Called with s.mu held.
func (s *Session) takeRetries() ([]Delivery, []flightKey) {
	var due []flightKey
	now := s.opt.Now()
	for key, f := range s.inflight {
		if now.Before(f.deadline) {
			continue
		}
		if f.attempts >= s.opt.AckRetries || expired(f.d.Msg, now.UnixMilli()) {
			delete(s.inflight, key)
			continue
		}
		due = append(due, key)
	}
	// Resends go out in push order, as the first sends did.
	slices.SortFunc(due, func(a, b flightKey) int { return cmp.Compare(a.seq, b.seq) })
	sends := make([]Delivery, 0, len(due))
	for _, key := range due {
		f := s.inflight[key]
		f.attempts++
		f.deadline = now.Add(s.opt.AckTimeout)
		sends = append(sends, f.d)
		s.opt.Metrics.Retried()
	}
	return sends, due
}

// armTimer wakes the worker at the earliest ack deadline. Called with s.mu held.
func (s *Session) armTimer() {
	if s.closed {
		return
	}
	var next time.Time
	for _, f := range s.inflight {
		if next.IsZero() || f.deadline.Before(next) {
			next = f.deadline
		}
	}
	now := s.opt.Now()
	for _, st := range s.streams {
		// a read that failed waits for the store; once that wait is over,
		// a free window (an ack) is what starts it, not the clock
		if st.replay && st.notBefore.After(now) && (next.IsZero() || st.notBefore.Before(next)) {
			next = st.notBefore
		}
	}
	if next.IsZero() || (!s.wakeAt.IsZero() && next.Equal(s.wakeAt)) {
		return // nothing to wait for, or already waiting for that moment
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	s.wakeAt = next
	s.timer = time.AfterFunc(next.Sub(now), func() {
		s.mu.Lock()
		s.wakeAt = time.Time{}
		s.mu.Unlock()
		s.kick()
	})
}

func (s *Session) writeAcks(acks []flightKey) {
	if len(acks) == 0 {
		return
	}
	ctx, cancel := s.storeContext()
	defer cancel()
	device := s.DeviceKey()
	for _, a := range acks {
		if err := s.opt.Mailbox.Ack(ctx, a.stream, device, a.seq); err != nil {
			// The message stays pending and comes again on the next
			// connection: at least once, never lost.
			s.opt.Log.Warn("ack not stored", "session", s.ID(), "stream", a.stream, "seq", a.seq, "err", err)
		}
	}
}

// replay reads one batch of what the device has not acknowledged in a stream.
func (s *Session) replay(job replayJob) {
	ctx, cancel := s.storeContext()
	msgs, err := s.opt.Mailbox.Pending(ctx, job.stream, s.DeviceKey(), job.after, job.limit)
	cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := job.st
	if s.closed || s.streams[job.stream] != st {
		return // left (and maybe rejoined) meanwhile: this read is stale
	}
	st.fetching = false
	if st.gen != job.gen {
		return // reset meanwhile: its own read from the start follows
	}
	if err != nil {
		s.opt.Log.Warn("replay read failed", "session", s.ID(), "stream", job.stream, "err", err)
		st.replay = true
		st.notBefore = s.opt.Now().Add(storeRetry)
		return
	}
	st.ready, st.notBefore = true, time.Time{}
	for i := range msgs {
		m := &msgs[i]
		if m.Seq <= st.sent {
			continue
		}
		st.sent, st.lastID = m.Seq, m.ID
		s.sendq = append(s.sendq, queued{d: Delivery{Stream: job.stream, Msg: m}})
	}
	if len(msgs) == job.limit {
		st.replay = true // more to read once the window has room
	}
}
