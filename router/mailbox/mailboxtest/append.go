package mailboxtest

import (
	"testing"
	"time"

	"courier/router/mailbox"
)

func testSeqOrder(t *testing.T, f LogFactory) {
	h := setup(t, f, mailbox.Config{})
	s := mailbox.UserStream("alice")
	var want []mailbox.Message
	for i, id := range []string{"m1", "m2", "m3"} {
		m := h.msg(id, time.Minute)
		m.Room = "lobby" // stored as given, whatever the stream
		seq, created := h.append(s, m)
		if seq != uint64(i+1) || !created {
			t.Fatalf("Append #%d = %d, created=%v; want %d, true", i+1, seq, created, i+1)
		}
		m.Seq = seq
		want = append(want, m)
	}
	got := h.pending(s, "d1", 0, 0)
	if len(got) != len(want) {
		t.Fatalf("Pending returned %d messages; want %d", len(got), len(want))
	}
	for i := range want {
		if !sameMessage(got[i], want[i]) {
			t.Fatalf("Pending[%d] = %+v; want %+v", i, got[i], want[i])
		}
	}
	h.wantPending(s, "d1", 1, 0, 2, 3)
	h.wantPending(s, "d1", 0, 2, 1, 2)
	h.wantPending(s, "d1", 1, 1, 2)
	h.wantPending(s, "d1", 0, -1, 1, 2, 3)
	h.wantPending(s, "d1", 3, 0)
	h.wantPending(s, "d1", 99, 0)
	h.wantPending(mailbox.UserStream("nobody"), "d1", 0, 0)
}

func testStreamsIndependent(t *testing.T, f LogFactory) {
	h := setup(t, f, mailbox.Config{})
	streams := []mailbox.Stream{
		mailbox.UserStream("a"),
		mailbox.UserStream("b"),
		mailbox.RoomStream("a"),
		mailbox.AllStream,
		mailbox.UserStream("x{y}:z"), // braces must not break a store's key hashing
		mailbox.RoomStream("{a}"),
	}
	for _, s := range streams {
		h.add(s, "same-id", 1) // one id, created once per stream
	}
	h.add(streams[0], "next", 2)
	for _, s := range streams[1:] {
		h.add(s, "next", 2)
	}
	h.ack(streams[0], "dev", 1, 2)
	h.wantPending(streams[0], "dev", 0, 0)
	for _, s := range streams[1:] {
		h.wantPending(s, "dev", 0, 0, 1, 2)
	}
}

func testIdempotentAppend(t *testing.T, f LogFactory) {
	h := setup(t, f, mailbox.Config{})
	s := mailbox.UserStream("u")
	h.add(s, "x", 1)
	h.add(s, "y", 2)
	again := h.msg("x", time.Hour)
	again.Data = []byte(`"changed"`)
	if seq, created := h.append(s, again); seq != 1 || created {
		t.Fatalf("re-Append(x) = %d, created=%v; want 1, false", seq, created)
	}
	got := h.pending(s, "d", 0, 0)
	if len(got) != 2 || string(got[0].Data) != `{"id":"x"}` {
		t.Fatalf("after re-Append Pending = %+v; want the original x and y", got)
	}
	// An empty id is never deduplicated.
	h.add(s, "", 3)
	h.add(s, "", 4)
	h.wantPending(s, "d", 0, 0, 1, 2, 3, 4)
}

func testLimitTrim(t *testing.T, f LogFactory) {
	h := setup(t, f, mailbox.Config{Limit: 3})
	s := mailbox.RoomStream("r")
	for i, id := range []string{"m1", "m2", "m3", "m4", "m5"} {
		h.add(s, id, uint64(i+1))
	}
	h.wantPending(s, "d", 0, 0, 3, 4, 5) // seq keeps rising: the client sees 1 and 2 are gone
	h.wantCount(s, 3)
	h.add(s, "m1", 6) // trimmed, so no longer held: a new message
	if seq, created := h.append(s, h.msg("m5", time.Hour)); seq != 5 || created {
		t.Fatalf("re-Append(m5) = %d, created=%v; want 5, false", seq, created)
	}
	h.wantPending(s, "d", 0, 0, 4, 5, 6)
}

func testExpiry(t *testing.T, f LogFactory) {
	h := setup(t, f, mailbox.Config{})
	s := mailbox.UserStream("u")
	h.addTTL(s, "a", 10*time.Second, 1)
	h.addTTL(s, "b", 60*time.Second, 2)
	h.addTTL(s, "c", 30*time.Second, 3)
	h.wantPending(s, "d", 0, 0, 1, 2, 3)

	h.clk.Advance(10 * time.Second) // Expires == now is expired
	h.wantCount(s, 2)
	h.wantPending(s, "d", 0, 0, 2, 3)
	h.clk.Advance(20 * time.Second) // c, in the middle, expires before b
	h.wantPending(s, "other", 0, 0, 2)
	h.wantCount(s, 1)
	h.addTTL(s, "a", time.Minute, 4) // an expired id is no longer held

	h.clk.Advance(2 * time.Minute)
	h.wantPending(s, "d", 0, 0)
	h.wantCount(s, 0)
	h.add(s, "e", 5) // the counter outlives the messages
	h.wantPending(s, "d", 0, 0, 5)
}
