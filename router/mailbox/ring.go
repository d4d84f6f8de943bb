package mailbox

// ring holds a stream's messages in ascending seq order. A ring instead of a
// re-sliced slice, so a full stream drops its oldest message and takes a new
// one without allocating.
type ring struct {
	buf  []Message
	head int // index in buf of the oldest message
	n    int // number of messages held
}

const ringMinCap = 4 // most user mailboxes hold a handful of messages

// at returns the i-th oldest message; 0 <= i < len(buf).
func (r *ring) at(i int) *Message {
	j := r.head + i
	if j >= len(r.buf) {
		j -= len(r.buf)
	}
	return &r.buf[j]
}

// push appends m as the newest message. The caller keeps r.n < limit first.
func (r *ring) push(m Message, limit int) {
	if r.n == len(r.buf) {
		r.resize(min(max(2*len(r.buf), ringMinCap), limit))
	}
	*r.at(r.n) = m
	r.n++
}

// popFront removes and returns the oldest message.
func (r *ring) popFront() Message {
	p := r.at(0)
	m := *p
	*p = Message{} // let the GC have Data
	r.head++
	if r.head == len(r.buf) {
		r.head = 0
	}
	r.n--
	return m
}

// search returns the index of the first message with Seq >= seq (r.n if none).
func (r *ring) search(seq uint64) int {
	lo, hi := 0, r.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r.at(mid).Seq < seq {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// holds reports whether a message with exactly seq is held, and its index.
func (r *ring) holds(seq uint64) (int, bool) {
	i := r.search(seq)
	return i, i < r.n && r.at(i).Seq == seq
}

// resize moves the messages into a buffer of capacity c >= r.n.
func (r *ring) resize(c int) {
	if c == 0 {
		*r = ring{}
		return
	}
	nb := make([]Message, c)
	for i := 0; i < r.n; i++ {
		nb[i] = *r.at(i)
	}
	r.buf, r.head = nb, 0
}

// shrink gives back a buffer that is mostly empty, so a stream that once
// held a burst does not keep its peak memory for as long as one message lives.
func (r *ring) shrink() {
	switch {
	case r.n == 0:
		*r = ring{}
	case len(r.buf) > 4*ringMinCap && r.n <= len(r.buf)/4:
		r.resize(max(2*r.n, ringMinCap))
	}
}
