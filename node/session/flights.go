package session

import "sync"

// flight is one message sent and not yet acknowledged.
type flight struct {
	key      flightKey
	d        Delivery
	deadline int64 // unix ns: resend (or give up) after it
	attempts int32 // resends so far
	open     bool
}

// flightRing holds a session's flights in send order, numbered: flight
// number first+i sits at slot i from head. The number is the token the
// engine hands back with the client's acknowledgement, so an ack finds its
// flight in O(1), and since every flight's deadline is its send time plus
// the same timeout, the oldest open flight is also the first due: retries
// and the timer look only at the head. Acknowledged flights behind an open
// one keep their slot until the head moves. Called with the session's mu
// held; the zero value is empty, and an empty ring keeps no buffer. A
// session makes its ring when it first sends: an idle one has none.
type flightRing struct {
	first uint64 // number of the flight at head
	head  int
	n     int // slots in use from head, closed ones included
	open  int // flights not yet acknowledged or given up
	buf   []flight
}

// noFlight is the token of a fire-and-forget message: nothing to record.
const noFlight = ^uint64(0)

// push adds f (open) as the newest flight and returns its number.
func (r *flightRing) push(f flight) uint64 {
	if r.n == len(r.buf) {
		r.grow()
	}
	f.open = true
	r.buf[(r.head+r.n)%len(r.buf)] = f
	r.n++
	r.open++
	return r.first + uint64(r.n-1)
}

// openCount is the flights not yet acknowledged; slots the slots in use. A
// nil ring (a session that never sent) is empty.
func (r *flightRing) openCount() int {
	if r == nil {
		return 0
	}
	return r.open
}

func (r *flightRing) slots() int {
	if r == nil {
		return 0
	}
	return r.n
}

// get returns open flight num, or nil.
func (r *flightRing) get(num uint64) *flight {
	if r == nil || num < r.first || num-r.first >= uint64(r.n) {
		return nil
	}
	f := &r.buf[(r.head+int(num-r.first))%len(r.buf)]
	if !f.open {
		return nil
	}
	return f
}

// close ends flight f (acknowledged, resent under a new number, or given up).
func (r *flightRing) close(f *flight) {
	*f = flight{}
	r.open--
	for r.n > 0 && !r.buf[r.head].open {
		r.head = (r.head + 1) % len(r.buf)
		r.first++
		r.n--
	}
	if r.n == 0 {
		if len(r.buf) == minFlightSlots {
			clear(r.buf)
			flightBufs.Put((*[minFlightSlots]flight)(r.buf))
		}
		r.head, r.buf = 0, nil
	}
}

// oldest returns the open flight sent first (the first due), or nil.
func (r *flightRing) oldest() *flight {
	if r == nil || r.n == 0 {
		return nil
	}
	return &r.buf[r.head] // the head is open: close pops closed heads
}

// each calls fn on every open flight, oldest first. fn may close it.
func (r *flightRing) each(fn func(f *flight)) {
	if r == nil {
		return
	}
	first, n := r.first, r.n
	for num := first; num < first+uint64(n); num++ {
		if f := r.get(num); f != nil {
			fn(f)
		}
	}
}

// minFlightSlots is a ring's first buffer. Emptied, a ring hands it back to
// flightBufs: a session that all its messages acknowledged keeps no buffer,
// and the next send takes one without allocating.
const minFlightSlots = 8

var flightBufs = sync.Pool{New: func() any { return new([minFlightSlots]flight) }}

func (r *flightRing) grow() {
	if len(r.buf) == 0 {
		r.buf, r.head = flightBufs.Get().(*[minFlightSlots]flight)[:], 0
		return
	}
	buf := make([]flight, 2*len(r.buf))
	for i := 0; i < r.n; i++ {
		buf[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = buf, 0
}
