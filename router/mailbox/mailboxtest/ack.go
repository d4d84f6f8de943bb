package mailboxtest

import (
	"testing"
	"time"

	"courier/router/mailbox"
)

func testAckOutOfOrder(t *testing.T, f LogFactory) {
	h := setup(t, f, mailbox.Config{})
	s := mailbox.UserStream("u")
	for i := uint64(1); i <= 5; i++ {
		h.add(s, id(i), i)
	}
	h.ack(s, "d", 3, 5, 1)
	h.wantPending(s, "d", 0, 0, 2, 4)
	h.wantPending(s, "d", 0, 1, 2) // limit counts returned messages, not acked ones
	h.wantPending(s, "d", 2, 0, 4)
	h.ack(s, "d", 3) // again: harmless
	h.ack(s, "d", 2)
	h.wantPending(s, "d", 0, 0, 4)
	h.ack(s, "d", 4)
	h.wantPending(s, "d", 0, 0)

	// Seqs never issued hide nothing later.
	h.ack(s, "d", 0, 6, 99)
	h.add(s, "m6", 6)
	h.wantPending(s, "d", 0, 0, 6)
	h.ack(mailbox.UserStream("nobody"), "d", 1) // unknown stream: no error
}

func testAckAcrossTrim(t *testing.T, f LogFactory) {
	h := setup(t, f, mailbox.Config{Limit: 4})
	s := mailbox.UserStream("u")
	for i := uint64(1); i <= 4; i++ {
		h.add(s, id(i), i)
	}
	h.ack(s, "d", 2, 3) // 1 stays unacknowledged
	h.add(s, "m5", 5)
	h.add(s, "m6", 6) // 1 and 2 trimmed
	h.wantPending(s, "d", 0, 0, 4, 5, 6)
	h.ack(s, "d", 4)
	h.wantPending(s, "d", 0, 0, 5, 6)
	h.ack(s, "d", 6, 5)
	h.wantPending(s, "d", 0, 0)
	h.wantCount(s, 0)
	h.ack(s, "d", 1) // trimmed: no error
}

func testAckAcrossExpiry(t *testing.T, f LogFactory) {
	h := setup(t, f, mailbox.Config{})
	s := mailbox.UserStream("u")
	h.addTTL(s, "short", time.Second, 1)
	h.add(s, "long2", 2)
	h.add(s, "long3", 3)
	h.ack(s, "d", 3)
	h.clk.Advance(time.Second)
	h.wantPending(s, "d", 0, 0, 2)
	h.ack(s, "d", 1) // expired: no error
	h.ack(s, "d", 2)
	h.wantPending(s, "d", 0, 0)
	h.wantCount(s, 0)
	h.add(s, "m4", 4)
	h.wantPending(s, "d", 0, 0, 4)
}

func testTwoDevices(t *testing.T, f LogFactory) {
	h := setup(t, f, mailbox.Config{})
	s := mailbox.UserStream("u")
	for i := uint64(1); i <= 3; i++ {
		h.add(s, id(i), i)
	}
	h.wantPending(s, "A", 0, 0, 1, 2, 3)
	h.wantPending(s, "B", 0, 0, 1, 2, 3)
	h.ack(s, "A", 1, 2)
	h.ack(s, "B", 3)
	h.wantPending(s, "A", 0, 0, 3)
	h.wantPending(s, "B", 0, 0, 1, 2)
	h.ack(s, "A", 3)
	h.wantPending(s, "A", 0, 0)
	h.wantPending(s, "B", 0, 0, 1, 2)
	h.wantPending(s, "C", 0, 0, 1, 2, 3) // a third device has its own view
}

func testPendingCount(t *testing.T, f LogFactory) {
	h := setup(t, f, mailbox.Config{})
	h.wantCount(mailbox.UserStream("nobody"), 0)

	// No known device: every unexpired message.
	zero := mailbox.UserStream("zero")
	h.addTTL(zero, "a", time.Second, 1)
	h.add(zero, "b", 2)
	h.add(zero, "c", 3)
	h.wantCount(zero, 3)
	h.clk.Advance(time.Second)
	h.wantCount(zero, 2)

	// One device.
	one := mailbox.UserStream("one")
	for i := uint64(1); i <= 3; i++ {
		h.add(one, id(i), i)
	}
	h.pending(one, "A", 0, 0)
	h.wantCount(one, 3)
	h.ack(one, "A", 2)
	h.wantCount(one, 2)
	h.ack(one, "A", 1, 3)
	h.wantCount(one, 0)

	// Two devices: a message counts while any known device lacks its ack.
	two := mailbox.UserStream("two")
	for i := uint64(1); i <= 3; i++ {
		h.add(two, id(i), i)
	}
	h.pending(two, "A", 0, 0)
	h.pending(two, "B", 0, 0)
	h.ack(two, "A", 1, 2, 3)
	h.wantCount(two, 3)
	h.ack(two, "B", 1)
	h.wantCount(two, 2)
	h.ack(two, "B", 3, 2)
	h.wantCount(two, 0)
	h.add(two, "m4", 4)
	h.wantCount(two, 1)

	// Reading a stream nobody wrote to records nothing (it is every
	// connect's first read): devices count from their first read or ack
	// of a stream that holds messages.
	early := mailbox.UserStream("early")
	h.wantPending(early, "A", 0, 0)
	h.wantPending(early, "B", 0, 0)
	h.add(early, "a", 1)
	h.ack(early, "A", 1)
	h.wantCount(early, 0) // B never read it since it holds a message
	if n, err := h.mb.PendingCount(h.ctx, early, "A", "B"); err != nil || n != 1 {
		t.Fatalf("PendingCount(early, A, B) = %d, %v; want 1: B (connected, say) acknowledged nothing", n, err)
	}
	if n, err := h.mb.PendingCount(h.ctx, early, "A"); err != nil || n != 0 {
		t.Fatalf("PendingCount(early, A) = %d, %v; want 0", n, err)
	}
	h.wantPending(early, "B", 0, 0, 1)
	h.wantCount(early, 1) // now B is known, and lacks it

	// Ack alone makes a device known.
	acker := mailbox.UserStream("acker")
	h.add(acker, "a", 1)
	h.add(acker, "b", 2)
	h.ack(acker, "C", 1)
	h.wantCount(acker, 1)
}

func testDeviceTTL(t *testing.T, f LogFactory) {
	const ttl = time.Hour
	h := setup(t, f, mailbox.Config{DeviceTTL: ttl})
	replay := mailbox.UserStream("replay") // forgetting seen by Pending
	count := mailbox.UserStream("count")   // forgetting seen by PendingCount alone
	for _, s := range []mailbox.Stream{replay, count} {
		for i := uint64(1); i <= 3; i++ {
			h.addTTL(s, id(i), 10*ttl, i)
		}
	}
	h.wantPending(replay, "A", 0, 0, 1, 2, 3)
	h.ack(replay, "A", 1, 2)
	h.ack(replay, "B", 1, 2, 3)
	h.ack(count, "X", 1, 2, 3)
	h.wantCount(count, 0)

	h.clk.Advance(ttl - time.Minute)
	h.wantPending(replay, "A", 0, 0, 3) // activity keeps A's acks
	h.wantCount(count, 0)               // counting is no activity of X
	h.clk.Advance(time.Minute)
	h.wantCount(count, 3) // X idle for ttl: no known device, every message

	h.clk.Advance(ttl - 2*time.Minute)
	h.wantPending(replay, "B", 0, 0, 1, 2, 3) // B idle for ttl: its acks are gone
	h.wantPending(replay, "A", 0, 0, 3)       // A idle less than ttl: kept
	h.ack(replay, "B", 1, 2, 3)
	h.wantCount(replay, 1) // A still lacks 3

	h.clk.Advance(ttl)
	h.wantPending(replay, "A", 0, 0, 1, 2, 3)
	h.ack(replay, "A", 1, 2, 3)
	h.wantCount(replay, 0) // B, idle for ttl, no longer counts
}

func testResultsAreCopies(t *testing.T, f LogFactory) {
	h := setup(t, f, mailbox.Config{})
	s := mailbox.UserStream("u")
	h.add(s, "a", 1)
	got := h.pending(s, "d", 0, 0)
	got[0].Seq, got[0].ID = 42, "mutated"
	again := h.pending(s, "d", 0, 0)
	if len(again) != 1 || again[0].Seq != 1 || again[0].ID != "a" {
		t.Fatalf("Pending after mutating a result = %+v; want the stored message", again)
	}
}

// testAckBatch: a batch has the effect of its acks one by one, across
// streams and devices, in any order, and unknown streams or seqs hide
// nothing.
func testAckBatch(t *testing.T, f LogFactory) {
	h := setup(t, f, mailbox.Config{})
	u, r := mailbox.UserStream("u"), mailbox.RoomStream("r")
	for i := uint64(1); i <= 4; i++ {
		h.add(u, id(i), i)
		h.add(r, id(i), i)
	}
	h.wantPending(u, "d1", 0, 0, 1, 2, 3, 4)
	err := h.mb.AckBatch(h.ctx, []mailbox.Ack{
		{Stream: u, Device: "d1", Seq: 3}, {Stream: r, Device: "d2", Seq: 1},
		{Stream: u, Device: "d1", Seq: 1}, {Stream: u, Device: "d2", Seq: 4},
		{Stream: mailbox.UserStream("nobody"), Device: "d1", Seq: 1}, {Stream: r, Device: "d1", Seq: 99},
	})
	if err != nil {
		t.Fatalf("AckBatch: %v", err)
	}
	h.wantPending(u, "d1", 0, 0, 2, 4)
	h.wantPending(u, "d2", 0, 0, 1, 2, 3)
	h.wantPending(r, "d1", 0, 0, 1, 2, 3, 4)
	h.wantPending(r, "d2", 0, 0, 2, 3, 4)
	if err := h.mb.AckBatch(h.ctx, nil); err != nil {
		t.Fatalf("empty AckBatch: %v", err)
	}
}

// testHeld: Held counts unexpired messages whoever acknowledged them.
func testHeld(t *testing.T, f LogFactory) {
	h := setup(t, f, mailbox.Config{})
	s := mailbox.AllStream
	held := func(want int) {
		t.Helper()
		if n, err := h.mb.Held(h.ctx, s); err != nil || n != want {
			t.Fatalf("Held(%q) = %d, %v; want %d", s, n, err, want)
		}
	}
	held(0) // never written
	h.addTTL(s, "short", time.Minute, 1)
	h.addTTL(s, "long", time.Hour, 2)
	h.ack(s, "A", 1, 2)
	held(2)
	h.clk.Advance(time.Minute)
	held(1)
	h.clk.Advance(time.Hour)
	held(0)
}
