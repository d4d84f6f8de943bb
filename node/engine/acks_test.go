package engine

import "testing"

func TestAckRingTakesInAnyOrderAndForgetsTheOldest(t *testing.T) {
	var r ackRing
	for id := uint64(10); id < 20; id++ {
		r.add(id, pendingAck{token: id, set: true}, 4)
	}
	if r.live != 4 {
		t.Fatalf("%d live, want the bound 4", r.live)
	}
	if _, ok := r.take(15); ok {
		t.Fatal("id 15 was dropped as the oldest but is still taken")
	}
	for _, id := range []uint64{18, 16, 19} {
		if a, ok := r.take(id); !ok || a.token != id {
			t.Fatalf("take(%d) = %v, %v", id, a, ok)
		}
	}
	if _, ok := r.take(18); ok {
		t.Fatal("id 18 taken twice")
	}
	if a, ok := r.take(17); !ok || a.token != 17 {
		t.Fatalf("take(17) = %v, %v", a, ok)
	}
	if r.n != 0 || r.buf != nil || r.live != 0 {
		t.Fatalf("emptied ring keeps n=%d live=%d buf=%d", r.n, r.live, len(r.buf))
	}
	r.add(20, pendingAck{token: 20, set: true}, 4)
	if a, ok := r.take(20); !ok || a.token != 20 {
		t.Fatalf("after emptying: take(20) = %v, %v", a, ok)
	}
}

func TestAckRingGrowsAcrossTheWrap(t *testing.T) {
	var r ackRing
	next := uint64(0)
	for round := 0; round < 50; round++ {
		for i := 0; i < 3+round%7; i++ {
			r.add(next, pendingAck{token: next, set: true}, 64)
			next++
		}
		// acknowledge all but the newest, oldest first
		for id := r.first; id < next-1; id++ {
			r.take(id)
		}
	}
	if r.live != 1 {
		t.Fatalf("%d live, want 1", r.live)
	}
	if a, ok := r.take(next - 1); !ok || a.token != next-1 {
		t.Fatalf("newest: %v, %v", a, ok)
	}
}

func BenchmarkAckRing(b *testing.B) {
	b.ReportAllocs()
	var r ackRing
	for i := 0; i < 128; i++ {
		r.add(uint64(i), pendingAck{token: uint64(i), set: true}, maxPendingAcks)
	}
	for i := 0; i < b.N; i++ {
		id := uint64(i + 128)
		r.add(id, pendingAck{token: id, set: true}, maxPendingAcks)
		r.take(id - 128)
	}
}
