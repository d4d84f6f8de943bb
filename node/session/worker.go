package session

import (
	"math/rand/v2"
	"time"

	"courier/router/mailbox"
	"courier/router/opsbus"
)

// storeRetry is how long a session waits before reading the mailbox again
// after the store failed; each failure in a row doubles it, up to
// maxStoreRetry, so a store outage under many sessions is not met by a
// retry storm (the reads that time out would feed the overload that made
// them time out).
const (
	storeRetry    = time.Second
	maxStoreRetry = 30 * time.Second
)

// retryAfter is the wait after the nth store failure in a row (n >= 1):
// storeRetry doubled n-1 times, at most maxStoreRetry, with jitter over its
// upper half so that sessions that failed together do not retry together.
func retryAfter(n uint8) time.Duration {
	d := maxStoreRetry
	if n <= 6 {
		d = min(storeRetry<<(n-1), maxStoreRetry)
	}
	return d/2 + rand.N(d/2+1)
}

// maxSlots bounds the flight ring: acknowledged flights behind one the
// client has not acknowledged keep their slots until it is resent or given
// up, and a client that skips acks must not grow the ring without bound.
func maxSlots(window int) int { return 8 * window }

// pushFlight adds f to the session's flights, making the ring on the first.
func (s *Session) pushFlight(f flight) uint64 {
	if s.flights == nil {
		s.flights = &flightRing{}
	}
	return s.flights.push(f)
}

// hasWindow reports room for one more flight. Called with s.mu held.
func (s *Session) hasWindow() bool {
	return s.flights.openCount() < s.opt.Window && s.flights.slots() < maxSlots(s.opt.Window)
}

// kick starts the worker unless the sending is owned already; the owner
// is told to look again. The worker ends when a pass finds nothing to do,
// so an idle session parks no goroutine.
func (s *Session) kick() {
	s.mu.Lock()
	if s.running {
		s.poked = true
		s.mu.Unlock()
		return
	}
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.running = true
	s.mu.Unlock()
	go s.work()
}

// takeDirect is Deliver's fast path: a live message that continues its
// stream, for a session with nothing queued and room in its window, goes
// out from the caller's goroutine with no worker woken. It takes the
// sending (running) and returns the flight number. Called with s.mu held.
func (s *Session) takeDirect(d Delivery) (uint64, bool) {
	if s.running || len(s.live) > 0 || len(s.sendq) > 0 || !s.hasWindow() {
		return 0, false
	}
	now := s.opt.Now()
	if expired(d.Msg, now.UnixMilli()) {
		return 0, false
	}
	num := noFlight
	if d.Msg.Seq != 0 {
		st := s.state(d.Stream)
		if st == nil || !st.ready || st.fetching || st.replay || d.Msg.Seq != st.sent+1 {
			return 0, false
		}
		st.sent, st.lastID = d.Msg.Seq, d.Msg.ID
		num = s.pushFlight(flight{key: flightKey{stream: d.Stream, seq: d.Msg.Seq, gen: st.gen}, d: d, deadline: now.Add(s.opt.AckTimeout).UnixNano()})
	}
	s.running, s.poked = true, false
	s.opt.Metrics.Delivered()
	if s.Traced() {
		s.traceMsg(opsbus.TypeDeliver, d.Msg)
	}
	return num, true
}

// sendDirect emits what takeDirect took, outside the lock, then gives the
// sending back, or to a worker if work arrived meanwhile. Called with s.mu
// held; returns with it released.
func (s *Session) sendDirect(d Delivery, num uint64) {
	s.mu.Unlock()
	s.emit(d, num)
	s.mu.Lock()
	s.running = false
	more := s.poked || len(s.live) > 0
	// A timer set no later than the oldest flight's deadline re-arms itself
	// when it fires: only a missing or later one needs arming here, which
	// spares nearly every direct send a walk of the streams.
	if f := s.flights.oldest(); !more && !s.closed && (s.wakeAt == 0 || (f != nil && f.deadline < s.wakeAt)) {
		s.armTimer()
	}
	s.mu.Unlock()
	if more {
		s.kick()
	}
}

type replayJob struct {
	stream mailbox.Stream
	st     *streamState // the state the read is for: a leave and rejoin makes a new one
	gen    uint32
	after  uint64
	limit  int
}

type send struct {
	d   Delivery
	num uint64
}

// work runs passes until one finds nothing to do. Each pass takes the work
// under the lock and does the I/O (mailbox, network) outside it.
func (s *Session) work() {
	var sends []send
	for {
		s.mu.Lock()
		s.poked = false
		var replays []replayJob
		sends = sends[:0]
		if !s.closed {
			s.absorbLive()
			// Retries first: giving up on one frees window for replays.
			sends = s.takeRetries(sends)
			replays = s.takeReplays()
			sends = s.takeSends(sends)
		}
		if len(replays) == 0 && len(sends) == 0 {
			s.running = false
			s.armTimer()
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()

		for _, x := range sends {
			s.emit(x.d, x.num)
		}
		clear(sends)
		for _, job := range replays {
			s.replay(job)
		}
	}
}

// absorbLive moves live messages that continue a stream onto the send
// queue. A message of a stream being read from the mailbox waits in live
// until the read is in: it most likely continues it, and dropping it would
// send the session back to the mailbox for it, again and again under a
// steady flow. Anything else (a gap) turns into a mailbox read, which is
// the one source of truth. Called with s.mu held.
func (s *Session) absorbLive() {
	kept := s.live[:0]
	now := s.opt.Now().UnixNano()
	s.gapSince = 0
	for _, d := range s.live {
		if d.Msg.Seq == 0 {
			s.queueLive(d)
			continue
		}
		st := s.state(d.Stream)
		switch {
		case st == nil:
			// not (or no longer) subscribed
		case !st.ready || st.fetching || st.replay:
			kept = append(kept, d)
		case d.Msg.Seq <= st.sent:
			if startedOver(st.lastID, d.Msg.ID) {
				s.reset(st) // a new message at an old seq: the stream started over
			}
			// else already queued or sent
		case d.Msg.Seq == st.sent+1:
			st.sent, st.lastID = d.Msg.Seq, d.Msg.ID
			s.queueLive(d)
		case now-d.at < gapWait.Nanoseconds():
			// Ahead of the stream: the one before is most likely on its way.
			if s.gapSince == 0 || d.at < s.gapSince {
				s.gapSince = d.at
			}
			kept = append(kept, d)
		default:
			st.replay = true // a gap that stayed: read it from the mailbox
		}
	}
	clear(s.live[len(kept):])
	s.live = kept
	if len(s.live) == 0 {
		s.live = nil // an idle session keeps no queue
	}
}

// gapWait is how long a live message ahead of its stream waits for the
// ones before it before the gap is read from the mailbox.
const gapWait = 500 * time.Millisecond

// resetSkew is how much newer than the last message sent a message at an
// old seq must be to mean that the stream started over. Ids are made before
// the append that numbers them, so concurrent pushes can number a slightly
// newer id lower; a store that lost its data numbers messages made after
// it came back, and the node's heal loop catches whatever this misses.
const resetSkew = 2 * time.Second

// startedOver reports whether id, seen at a seq at or below the one of
// lastID, can only come from a stream that was numbered again.
func startedOver(lastID, id string) bool {
	if lastID == "" {
		return false
	}
	last, ok1 := mailbox.IDTime(lastID)
	cur, ok2 := mailbox.IDTime(id)
	if ok1 && ok2 {
		return cur-last > resetSkew.Milliseconds()
	}
	return id > lastID // ids of another form: their order is all there is
}

func (s *Session) queueLive(d Delivery) {
	s.sendq = append(s.sendq, queued{d: d, live: true})
	s.liveQueued++
}

// takeReplays picks the streams owing a mailbox read and shares the free
// window among them, so replay never queues more than the client can take.
// Called with s.mu held.
func (s *Session) takeReplays() []replayJob {
	free := s.opt.Window - len(s.sendq) - s.flights.openCount()
	var jobs []replayJob
	now := s.opt.Now()
	s.starved = false
	s.eachStream(func(st *streamState) {
		if !st.replay || st.fetching || now.UnixNano() < st.notBefore {
			return
		}
		if free <= 0 {
			s.starved = true
			return
		}
		limit := min(replayBatch, free)
		free -= limit
		st.replay, st.fetching = false, true
		jobs = append(jobs, replayJob{stream: st.name, st: st, gen: st.gen, after: st.sent, limit: limit})
	})
	return jobs
}

// expired reports a cached message past its ttl: never sent again.
func expired(m *mailbox.Message, nowMs int64) bool {
	return m.Expires != 0 && m.Expires <= nowMs
}

// takeSends moves queued messages into flight while the window has room.
// Called with s.mu held.
func (s *Session) takeSends(sends []send) []send {
	now := s.opt.Now()
	nowMs, deadline := now.UnixMilli(), now.Add(s.opt.AckTimeout).UnixNano()
	n := 0
	for n < len(s.sendq) && s.hasWindow() {
		q := s.sendq[n]
		d := q.d
		n++
		if q.live {
			s.liveQueued--
		}
		if expired(d.Msg, nowMs) {
			continue
		}
		num := noFlight
		if d.Msg.Seq != 0 {
			key := flightKey{stream: d.Stream, seq: d.Msg.Seq}
			if st := s.state(d.Stream); st != nil {
				key.gen = st.gen
			}
			num = s.pushFlight(flight{key: key, d: d, deadline: deadline})
		}
		sends = append(sends, send{d: d, num: num})
		s.opt.Metrics.Delivered()
		if s.Traced() {
			typ := opsbus.TypeDeliver
			if !q.live {
				typ = opsbus.TypeResend // read back from the mailbox: a replay
			}
			s.traceMsg(typ, d.Msg)
		}
	}
	clear(s.sendq[:n])
	s.sendq = s.sendq[n:]
	if len(s.sendq) == 0 {
		s.sendq = nil // an idle session keeps no queue
	}
	return sends
}

// takeRetries resends what was not acknowledged in time, a bounded number of
// times; after that the message waits in the mailbox for the next
// connection. Flights are in send order and share one timeout, so the due
// ones are at the front, and resends go out in push order as the first
// sends did. Called with s.mu held.
func (s *Session) takeRetries(sends []send) []send {
	now := s.opt.Now()
	nowNs, nowMs := now.UnixNano(), now.UnixMilli()
	for range s.flights.slots() {
		f := s.flights.oldest()
		if f == nil || f.deadline > nowNs {
			break
		}
		old := *f
		s.flights.close(f)
		if old.attempts >= int32(s.opt.AckRetries) || expired(old.d.Msg, nowMs) {
			continue
		}
		old.attempts++
		old.deadline = now.Add(s.opt.AckTimeout).UnixNano()
		sends = append(sends, send{d: old.d, num: s.pushFlight(old)})
		s.opt.Metrics.Retried()
		if s.Traced() {
			s.traceMsg(opsbus.TypeResend, old.d.Msg)
		}
	}
	return sends
}

// armTimer wakes the worker at the earliest ack deadline, or when a read
// that failed may be tried again. Called with s.mu held.
func (s *Session) armTimer() {
	if s.closed {
		return
	}
	var next int64
	if f := s.flights.oldest(); f != nil {
		next = f.deadline
	}
	now := s.opt.Now()
	if s.gapSince != 0 && (next == 0 || s.gapSince+gapWait.Nanoseconds() < next) {
		next = s.gapSince + gapWait.Nanoseconds()
	}
	s.eachStream(func(st *streamState) {
		// a read that failed waits for the store; once that wait is over,
		// a free window (an ack) is what starts it, not the clock
		if st.replay && st.notBefore > now.UnixNano() && (next == 0 || st.notBefore < next) {
			next = st.notBefore
		}
	})
	if next == 0 || (s.wakeAt != 0 && s.wakeAt <= next) {
		return // nothing to wait for, or woken earlier anyway (and it re-arms then)
	}
	s.wakeAt = next
	wait := time.Duration(next - now.UnixNano())
	if s.timer == nil {
		s.timer = time.AfterFunc(wait, s.onTimer)
		return
	}
	s.timer.Reset(wait)
}

func (s *Session) onTimer() {
	s.mu.Lock()
	s.wakeAt = 0
	s.mu.Unlock()
	s.kick()
}

// liveContinues reports whether the live queue holds the message after the
// last one read of st: then the rest comes live, and a read that stopped at
// its limit owes no further read. Without this a session whose window is
// the bottleneck would read every message of a busy room from the mailbox
// in small batches and drop the live copies. Called with s.mu held.
func (s *Session) liveContinues(st *streamState) bool {
	for _, d := range s.live {
		if d.Stream == st.name && d.Msg.Seq == st.sent+1 {
			return true
		}
	}
	return false
}

// replay reads one batch of what the device has not acknowledged in a stream.
func (s *Session) replay(job replayJob) {
	ctx, cancel := s.storeContext()
	msgs, err := s.opt.Mailbox.Pending(ctx, job.stream, s.deviceKey, job.after, job.limit)
	cancel()
	s.mu.Lock()
	s.gotRead(job, msgs, err)
	s.mu.Unlock()
}

// gotRead takes in a mailbox read of job's stream: its messages join the
// send queue, or its error holds the next read back. Called with s.mu held.
func (s *Session) gotRead(job replayJob, msgs []mailbox.Message, err error) {
	st := job.st
	if s.closed || s.state(job.stream) != st || !st.on {
		return // left (and maybe rejoined) meanwhile: this read is stale
	}
	st.fetching = false
	if st.gen != job.gen {
		return // reset meanwhile: its own read from the start follows
	}
	if err != nil {
		s.storeFailures = min(s.storeFailures+1, 255)
		wait := retryAfter(s.storeFailures)
		s.opt.Log.Warn("replay read failed", "session", s.ID(), "stream", job.stream, "failures", s.storeFailures, "retry_in", wait, "err", err)
		st.replay = true
		st.notBefore = s.opt.Now().Add(wait).UnixNano()
		return
	}
	s.storeFailures = 0
	st.ready, st.notBefore = true, 0
	for i := range msgs {
		m := &msgs[i]
		if m.Seq <= st.sent {
			continue
		}
		st.sent, st.lastID = m.Seq, m.ID
		s.sendq = append(s.sendq, queued{d: Delivery{Stream: job.stream, Msg: m}})
	}
	if len(msgs) == job.limit && !s.liveContinues(st) {
		st.replay = true // more to read once the window has room
	}
}
