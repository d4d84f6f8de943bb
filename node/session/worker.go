package session

import (
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
	after  uint64
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
			s.sendq = append(s.sendq, d)
			continue
		}
		st := s.streams[d.Stream]
		switch {
		case st == nil:
			// not (or no longer) subscribed
		case !st.ready || st.fetching:
			st.replay = true
		case d.Msg.Seq <= st.sent:
			// already queued or sent
		case d.Msg.Seq == st.sent+1:
			st.sent = d.Msg.Seq
			s.sendq = append(s.sendq, d)
		default:
			st.replay = true // a gap: a message went past us
		}
	}
	clear(s.live)
	s.live = s.live[:0]
}

// takeReplays picks the streams owing a mailbox read while the send window
// has room, so replay never outruns the client. Called with s.mu held.
func (s *Session) takeReplays() []replayJob {
	if len(s.sendq)+len(s.inflight) >= s.opt.Window {
		return nil
	}
	var jobs []replayJob
	now := s.opt.Now()
	for name, st := range s.streams {
		if st.replay && !st.fetching && !now.Before(st.notBefore) {
			st.replay, st.fetching = false, true
			jobs = append(jobs, replayJob{stream: name, after: st.sent})
		}
	}
	return jobs
}

// takeSends moves queued messages into flight while the window has room.
// Called with s.mu held.
func (s *Session) takeSends() ([]Delivery, []flightKey) {
	var sends []Delivery
	var keys []flightKey
	now := s.opt.Now()
	n := 0
	for n < len(s.sendq) && len(s.inflight) < s.opt.Window {
		d := s.sendq[n]
		n++
		key := flightKey{stream: d.Stream, seq: d.Msg.Seq}
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
	var sends []Delivery
	var keys []flightKey
	now := s.opt.Now()
	for key, f := range s.inflight {
		if now.Before(f.deadline) {
			continue
		}
		if f.attempts >= s.opt.AckRetries {
			delete(s.inflight, key)
			continue
		}
		f.attempts++
		f.deadline = now.Add(s.opt.AckTimeout)
		sends = append(sends, f.d)
		keys = append(keys, key)
		s.opt.Metrics.Retried()
	}
	return sends, keys
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
	for _, st := range s.streams {
		if st.replay && !st.notBefore.IsZero() { // a read failed and waits for the store
			if t := st.notBefore; next.IsZero() || t.Before(next) {
				next = t
			}
		}
	}
	if next.IsZero() || (s.timer != nil && next.Equal(s.wakeAt)) {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	s.wakeAt = next
	s.timer = time.AfterFunc(next.Sub(s.opt.Now()), s.kick)
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
	msgs, err := s.opt.Mailbox.Pending(ctx, job.stream, s.DeviceKey(), job.after, replayBatch)
	cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[job.stream]
	if st == nil || s.closed {
		return
	}
	st.fetching = false
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
		st.sent = m.Seq
		s.sendq = append(s.sendq, Delivery{Stream: job.stream, Msg: m})
	}
	if len(msgs) == replayBatch {
		st.replay = true // more to read once the window has room
	}
}
