package mailbox

import (
	"testing"
	"unsafe"
)

func newTestStream(n int, limit int) *stream {
	s := &stream{}
	for i := 1; i <= n; i++ {
		s.last++
		s.add(Message{ID: string(rune('a' + i)), Seq: s.last, Expires: 1000 + int64(i)}, limit)
	}
	return s
}

// TestAckSetStaysBounded: the watermark passes seqs the stream no longer
// holds, so acks above a trimmed or expired hole do not pile up.
func TestAckSetStaysBounded(t *testing.T) {
	s := newTestStream(4, 4)
	var d device
	s.ack(&d, 2)
	s.ack(&d, 3) // 1 is the hole
	if d.low != 0 || len(d.acked) != 2 {
		t.Fatalf("device = %+v; want low 0, acked [2 3]", d)
	}
	s.last++
	s.add(Message{ID: "z", Seq: s.last, Expires: 9999}, 4) // trims 1
	s.ack(&d, 5)
	if d.low != 3 || len(d.acked) != 1 || d.acked[0] != 5 {
		t.Fatalf("after trim device = %+v; want low 3, acked [5]", d)
	}
	s.expire(1004) // 2, 3, 4 expire, only 5 is held
	s.advance(&d)
	if d.low != 5 || len(d.acked) != 0 {
		t.Fatalf("after expiry device = %+v; want low 5, nothing acked above", d)
	}
}

// TestRingShrinks: a stream that held a burst gives the memory back.
func TestRingShrinks(t *testing.T) {
	s := newTestStream(200, 1000)
	if cap(s.msgs.buf) < 200 {
		t.Fatalf("cap %d after 200 messages", cap(s.msgs.buf))
	}
	s.msgs.at(199).Expires = 1 << 40 // the newest lives on
	s.expire(1 << 20)
	if s.msgs.n != 1 || len(s.msgs.buf) > 2*ringMinCap || s.msgs.at(0).Seq != 200 {
		t.Fatalf("after expiry ring n=%d cap=%d; want 1 message in a small buffer", s.msgs.n, len(s.msgs.buf))
	}
	if len(s.ids) != 1 {
		t.Fatalf("ids = %v; want only the held message", s.ids)
	}
}

func TestShardSize(t *testing.T) {
	if sz := unsafe.Sizeof(shard{}); sz%64 != 0 {
		t.Fatalf("shard is %d bytes; want a multiple of a cache line", sz)
	}
}
