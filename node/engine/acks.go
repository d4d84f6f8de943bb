package engine

import "sync"

// pendingAck is what runs when the client acknowledges one emit: fn, or,
// when fn is nil, the Conn's token handler with token (no callback is
// allocated per message on that path).
type pendingAck struct {
	fn    func(args []any)
	token uint64
	set   bool
}

// ackRing holds the acknowledgements a connection waits for. Ack ids rise
// by one per emit, so slot id-first of a circular buffer is an id's entry:
// adding, taking and dropping the oldest are O(1), and an idle connection
// keeps no buffer at all. Not safe for concurrent use (the connCore's mu).
type ackRing struct {
	first uint64 // id of the oldest slot
	head  int    // index of the oldest slot in buf
	n     int    // slots in use, from head on (done ones included)
	live  int    // slots still set
	buf   []pendingAck
}

// add stores a as the entry of id, which must be first+n (the next id).
// Beyond limit entries the oldest go first.
func (r *ackRing) add(id uint64, a pendingAck, limit int) {
	if r.n == 0 {
		r.first, r.head = id, 0
	}
	for r.n >= limit {
		r.popFront()
	}
	if r.n == len(r.buf) {
		r.grow(limit)
	}
	r.buf[(r.head+r.n)%len(r.buf)] = a
	r.n++
	r.live++
}

// take removes and returns the entry of id; false when there is none.
func (r *ackRing) take(id uint64) (pendingAck, bool) {
	if id < r.first || id-r.first >= uint64(r.n) {
		return pendingAck{}, false
	}
	slot := &r.buf[(r.head+int(id-r.first))%len(r.buf)]
	a := *slot
	if !a.set {
		return pendingAck{}, false
	}
	*slot = pendingAck{}
	r.live--
	for r.n > 0 && !r.buf[r.head].set {
		r.popFront()
	}
	if r.n == 0 {
		r.release() // idle: keep nothing
	}
	return a, true
}

// smallRings lends the first buffer of a ring: a connection acknowledged
// message by message makes and drops its ring for each one, and would
// otherwise allocate a buffer per delivered message.
var smallRings = sync.Pool{New: func() any { return new([smallRing]pendingAck) }}

const smallRing = 8

// release gives the buffer of an idle ring back (every slot is clear).
func (r *ackRing) release() {
	if len(r.buf) == smallRing {
		smallRings.Put((*[smallRing]pendingAck)(r.buf))
	}
	r.buf = nil
}

func (r *ackRing) popFront() {
	if r.buf[r.head].set {
		r.live--
	}
	r.buf[r.head] = pendingAck{}
	r.head = (r.head + 1) % len(r.buf)
	r.first++
	r.n--
}

func (r *ackRing) grow(limit int) {
	size := min(max(smallRing, 2*len(r.buf)), limit)
	if len(r.buf) == 0 && size == smallRing {
		r.buf, r.head = smallRings.Get().(*[smallRing]pendingAck)[:], 0
		return
	}
	buf := make([]pendingAck, size)
	for i := 0; i < r.n; i++ {
		buf[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	if len(r.buf) == smallRing {
		clear(r.buf)
		smallRings.Put((*[smallRing]pendingAck)(r.buf))
	}
	r.buf, r.head = buf, 0
}
