package session

import (
	"context"
	"sync"
	"testing"
	"time"

	"courier/router/mailbox"
)

func TestExpiredMessagesAreNeitherSentNorRetried(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.AckTimeout = 30 * time.Millisecond; o.AckRetries = 5 })
	user := mailbox.UserStream("alice")
	m := mailbox.Message{ID: "short", Event: "e", Data: []byte(`1`), TS: time.Now().UnixMilli(), Expires: time.Now().Add(50 * time.Millisecond).UnixMilli()}
	if _, _, err := h.mb.Append(context.Background(), user, m); err != nil {
		t.Fatal(err)
	}
	h.s.Start()
	h.waitSent(1)
	waitFor(t, "expired flight dropped", func() bool { _, inflight := h.s.Pending(); return inflight == 0 })
	n := len(h.conn.sent())
	time.Sleep(100 * time.Millisecond) // three more ack timeouts
	if got := len(h.conn.sent()); got != n || got > 3 {
		t.Fatalf("a 50 ms message was sent %d times (then %d) with a 30 ms ack timeout", n, got)
	}
}

func TestReplayBacklogIsNoSlowConsumer(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Window = 10; o.QueueLimit = 50 })
	h.s.Start()
	for r := 0; r < 12; r++ {
		stream := mailbox.RoomStream(string(rune('a' + r)))
		h.push(stream, 100)
		h.s.Subscribe(stream)
	}
	h.waitSent(10)
	user := mailbox.UserStream("alice")
	h.s.Deliver(Delivery{Stream: user, Msg: h.push(user, 1)[0]})
	time.Sleep(20 * time.Millisecond)
	if h.conn.TransportsClosed.Load() != 0 {
		t.Fatal("a client catching up on a backlog was cut off as a slow consumer")
	}
	// it keeps catching up as it acks
	for sent := 0; sent < 40; {
		for _, e := range h.conn.sent()[sent:] {
			e.ack(nil)
			sent++
		}
		h.waitSent(sent + 1)
	}
}

func TestRetriesGoOutInPushOrder(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.AckTimeout = 20 * time.Millisecond; o.AckRetries = 1 })
	h.push(mailbox.UserStream("alice"), 8)
	h.s.Start()
	sent := h.waitSent(16)
	for i, e := range sent[8:] {
		if e.meta.Seq != uint64(i+1) {
			t.Fatalf("resend %d has seq %d: resends out of push order", i, e.meta.Seq)
		}
	}
}

// gatedMailbox holds reads until released.
type gatedMailbox struct {
	mailbox.Mailbox
	mu   sync.Mutex
	gate chan struct{}
}

func (g *gatedMailbox) Pending(ctx context.Context, s mailbox.Stream, d string, after uint64, limit int) ([]mailbox.Message, error) {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return g.Mailbox.Pending(ctx, s, d, after, limit)
}

// A rejoin starts the room afresh: what the device has not acknowledged is
// read again from the start, whatever an older read still under way says.
func TestStaleReadAfterLeaveAndRejoinIsIgnored(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.AckTimeout = 20 * time.Millisecond; o.AckRetries = 0 })
	room := mailbox.RoomStream("r")
	h.push(room, 3)
	h.s.Subscribe(room)
	h.waitSent(3)
	waitFor(t, "flights given up", func() bool { _, inflight := h.s.Pending(); return inflight == 0 })

	gm := &gatedMailbox{Mailbox: h.mb, gate: make(chan struct{})}
	h.opt.Mailbox = gm
	later := h.push(room, 2)
	h.s.Deliver(Delivery{Stream: room, Msg: later[1]}) // seq 5 after 3: a gap read, held at the gate
	waitFor(t, "gap read under way", func() bool { h.s.mu.Lock(); defer h.s.mu.Unlock(); return h.s.streams[room].fetching })
	h.s.Unsubscribe(room)
	h.s.Subscribe(room)
	gm.mu.Lock()
	close(gm.gate)
	gm.gate = nil
	gm.mu.Unlock()

	sent := h.waitSent(8) // 3 first sends, then all 5 again for the rejoined room
	for i, e := range sent[3:] {
		if e.meta.Seq != uint64(i+1) {
			t.Fatalf("after the rejoin, emit %d has seq %d", i, e.meta.Seq)
		}
	}
}
