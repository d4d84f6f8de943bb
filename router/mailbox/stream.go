package mailbox

import (
	"math"
	"slices"

	"courier/router/internal/smallmap"
)

// stream is one log of the in-memory mailbox. Its methods run under the
// owning shard's lock; times are unix ms.
type stream struct {
	last    uint64               // seq of the newest message ever appended
	msgs    ring                 // held messages, ascending seq
	ids     map[string]uint64    // id -> seq of the held messages
	devices smallmap.Map[device] // per-device ack state
	minExp  int64                // lower bound of the held messages' Expires
	touched int64                // last Append, Pending or Ack
}

// device is one device's acknowledgements in one stream.
type device struct {
	low   uint64   // every seq <= low is acknowledged or gone
	acked []uint64 // acknowledged seqs above low, ascending; bounded by the stream limit
	seen  int64    // last Pending or Ack
}

func (d *device) hasAcked(seq uint64) bool {
	if seq <= d.low {
		return true
	}
	_, ok := slices.BinarySearch(d.acked, seq)
	return ok
}

// expire drops messages whose Expires <= now and returns how many it dropped.
// It is cheap when nothing can have expired, so every operation calls it.
func (s *stream) expire(now int64) int {
	r := &s.msgs
	if r.n == 0 || now < s.minExp {
		return 0
	}
	w, minExp := 0, int64(math.MaxInt64)
	for i := 0; i < r.n; i++ {
		p := r.at(i)
		if p.Expires <= now {
			delete(s.ids, p.ID)
			continue
		}
		minExp = min(minExp, p.Expires)
		if w != i {
			*r.at(w) = *p
		}
		w++
	}
	for i := w; i < r.n; i++ {
		*r.at(i) = Message{}
	}
	dropped := r.n - w
	r.n = w
	s.minExp = minExp
	r.shrink()
	return dropped
}

// add stores m (already numbered) as the newest message, dropping the oldest
// when the stream is full. It returns the change in held messages.
func (s *stream) add(m Message, limit int) int {
	delta := 1
	if s.msgs.n >= limit {
		old := s.msgs.popFront()
		delete(s.ids, old.ID)
		delta = 0
	}
	if s.msgs.n == 0 || m.Expires < s.minExp {
		s.minExp = m.Expires
	}
	s.msgs.push(m, limit)
	if m.ID != "" {
		if s.ids == nil {
			s.ids = make(map[string]uint64)
		}
		s.ids[m.ID] = m.Seq
	}
	return delta
}

// live returns the state of device name, fresh if it was never seen or has
// been idle for ttl. ok is false when the device is unknown.
func (s *stream) live(name string, now, ttl int64) (device, bool) {
	d, ok := s.devices.Get(name)
	if ok && now-d.seen >= ttl {
		s.devices.Delete(name)
		return device{}, false
	}
	return d, ok
}

// put stores d as the state of device name, touched at now.
func (s *stream) put(name string, d device, now int64) {
	d.seen = now
	s.devices.Set(name, d)
}

// ack records seq for d and advances its watermark.
func (s *stream) ack(d *device, seq uint64) {
	s.advance(d)
	if seq <= d.low || seq > s.last {
		return // already covered, or a seq this stream never issued
	}
	if _, held := s.msgs.holds(seq); !held {
		return // gone: advance passes it when it gets there
	}
	if seq == d.low+1 {
		d.low = seq // in-order ack: no set entry at all
	} else if i, found := slices.BinarySearch(d.acked, seq); !found {
		d.acked = slices.Insert(d.acked, i, seq)
	}
	s.advance(d)
}

// advance moves d.low past contiguous acknowledged seqs and past seqs the
// stream no longer holds, so d.acked only keeps acks above a real hole.
func (s *stream) advance(d *device) {
	i := s.msgs.search(d.low + 1)
	for d.low < s.last {
		next := d.low + 1
		if i < s.msgs.n && s.msgs.at(i).Seq == next {
			if len(d.acked) == 0 || d.acked[0] != next {
				break // held and not acknowledged: the hole
			}
			d.acked = slices.Delete(d.acked, 0, 1)
			d.low = next
			i++
			continue
		}
		// next is gone (trimmed or expired): skip to just before the next held one.
		d.low = s.last
		if i < s.msgs.n {
			d.low = s.msgs.at(i).Seq - 1
		}
		k := 0
		for k < len(d.acked) && d.acked[k] <= d.low {
			k++
		}
		d.acked = slices.Delete(d.acked, 0, k)
	}
	if len(d.acked) == 0 && cap(d.acked) > 8 {
		d.acked = nil // drop a burst's buffer; a small one is kept for the next reorder
	}
}

// pending returns the held messages with seq > after that d has not
// acknowledged, at most limit (all when limit <= 0); nil when there are none.
func (s *stream) pending(d *device, after uint64, limit int) []Message {
	start := s.msgs.search(max(after, d.low) + 1)
	if start == s.msgs.n {
		return nil
	}
	c := s.msgs.n - start
	if limit > 0 {
		c = min(c, limit)
	}
	out := make([]Message, 0, c)
	a := 0 // walks d.acked alongside the ascending messages
	for i := start; i < s.msgs.n; i++ {
		m := s.msgs.at(i)
		for a < len(d.acked) && d.acked[a] < m.Seq {
			a++
		}
		if a < len(d.acked) && d.acked[a] == m.Seq {
			continue
		}
		out = append(out, *m)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}

// count returns how many held messages some live device has not
// acknowledged (every held message when no device is live). It forgets
// devices idle for ttl.
func (s *stream) count(now, ttl int64, also []string) int {
	s.devices.Keep(func(_ string, d *device) bool { return now-d.seen < ttl })
	if s.devices.Len() == 0 {
		return s.msgs.n
	}
	for _, name := range also {
		if _, known := s.devices.Get(name); !known {
			return s.msgs.n // it acknowledged nothing: it lacks them all
		}
	}
	n := 0
	for i := 0; i < s.msgs.n; i++ {
		seq := s.msgs.at(i).Seq
		if s.devices.Any(func(d *device) bool { return !d.hasAcked(seq) }) {
			n++
		}
	}
	return n
}

// sweep expires messages and idle devices and compacts ack sets. It returns
// how many messages it dropped and whether the stream can be forgotten (its
// seq counter then restarts at 1).
func (s *stream) sweep(now, ttl int64) (dropped int, dead bool) {
	dropped = s.expire(now)
	s.devices.Keep(func(_ string, d *device) bool {
		if now-d.seen >= ttl {
			return false
		}
		if len(d.acked) > 0 {
			s.advance(d)
		}
		return true
	})
	return dropped, s.forgotten(now, ttl)
}

// forgotten reports whether the stream holds nothing and has been idle for
// ttl; every device was then idle as long, since Pending and Ack touch it.
func (s *stream) forgotten(now, ttl int64) bool {
	return s.msgs.n == 0 && now-s.touched >= ttl
}

// held counts the messages held; call expire first.
func (s *stream) held() int { return s.msgs.n }
