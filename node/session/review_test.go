package session

import (
	"context"
	"sync"
	"testing"
	"time"

	"courier/router/mailbox"
	"courier/router/testkit"
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
	testkit.Eventually(t, 5*time.Second, "expired flight dropped", func() bool { _, inflight := h.s.Pending(); return inflight == 0 })
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
	testkit.Eventually(t, 5*time.Second, "flights given up", func() bool { _, inflight := h.s.Pending(); return inflight == 0 })

	gm := &gatedMailbox{Mailbox: h.mb, gate: make(chan struct{})}
	h.opt.Mailbox = gm
	later := h.push(room, 2)
	h.s.Deliver(Delivery{Stream: room, Msg: later[1]}) // seq 5 after 3: a gap read, held at the gate
	testkit.Eventually(t, 5*time.Second, "gap read under way", func() bool { h.s.mu.Lock(); defer h.s.mu.Unlock(); return h.s.state(room).fetching })
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

// swappableMailbox lets a test replace the store under a running session.
type swappableMailbox struct {
	mailbox.Mailbox
	mu  sync.Mutex
	cur mailbox.Mailbox
}

func (w *swappableMailbox) get() mailbox.Mailbox { w.mu.Lock(); defer w.mu.Unlock(); return w.cur }
func (w *swappableMailbox) Pending(ctx context.Context, s mailbox.Stream, d string, after uint64, limit int) ([]mailbox.Message, error) {
	return w.get().Pending(ctx, s, d, after, limit)
}
func (w *swappableMailbox) AckBatch(ctx context.Context, acks []mailbox.Ack) error {
	return w.get().AckBatch(ctx, acks)
}

// A store that starts over (Redis restarted empty) numbers a stream from 1
// again: a new message at an old seq must not pass for one already sent.
func TestStreamStartingOverIsReadAgain(t *testing.T) {
	h := newHarness(t, nil)
	sw := &swappableMailbox{Mailbox: h.mb, cur: h.mb}
	h.opt.Mailbox = sw
	user := mailbox.UserStream("alice")
	h.push(user, 3)
	h.s.Start()
	for _, e := range h.waitSent(3) {
		e.ack(nil)
	}
	testkit.Eventually(t, 5*time.Second, "acks stored in the old store", func() bool {
		p, _ := h.mb.Pending(context.Background(), user, h.s.DeviceKey(), 0, 0)
		return len(p) == 0
	})
	fresh := mailbox.NewMemory(mailbox.Config{})
	t.Cleanup(fresh.Close)
	// message ids rise with time: "~" sorts after the harness's "m..." ids
	m := mailbox.Message{ID: "~later", Event: "news", Data: []byte(`1`), TS: time.Now().UnixMilli(), Expires: time.Now().Add(time.Hour).UnixMilli()}
	seq, _, err := fresh.Append(context.Background(), user, m)
	if err != nil || seq != 1 {
		t.Fatalf("fresh store: seq %d, %v", seq, err)
	}
	m.Seq = seq
	sw.mu.Lock()
	sw.cur = fresh
	sw.mu.Unlock()
	h.s.Deliver(Delivery{Stream: user, Msg: &m})
	sent := h.waitSent(4)
	if got := sent[3].meta; got.ID != m.ID || got.Seq != 1 {
		t.Fatalf("after the store started over got %+v, want id %s seq 1", got, m.ID)
	}
}

// Ids are made before the append that numbers them: two concurrent pushes
// can number the newer id lower. That is no stream starting over, and
// must not send the stream again.
func TestConcurrentIdsAtLowerSeqAreNoReset(t *testing.T) {
	h := newHarness(t, nil)
	user := mailbox.UserStream("alice")
	h.s.Start()
	testkit.Eventually(t, 5*time.Second, "first replay", func() bool { h.s.mu.Lock(); defer h.s.mu.Unlock(); return h.s.state(user).ready })
	now := time.Now()
	older, newer := mailbox.NewID(now), mailbox.NewID(now.Add(30*time.Millisecond))
	var msgs []*mailbox.Message
	for _, id := range []string{newer, older} { // appended in this order: seq 1 has the newer id
		m := mailbox.Message{ID: id, Event: "news", Data: []byte(`1`), TS: now.UnixMilli(), Expires: now.Add(time.Hour).UnixMilli()}
		seq, _, err := h.mb.Append(context.Background(), user, m)
		if err != nil {
			t.Fatal(err)
		}
		m.Seq = seq
		msgs = append(msgs, &m)
	}
	h.s.Deliver(Delivery{Stream: user, Msg: msgs[1]}) // seq 2 first: a gap read sends 1 and 2
	h.waitSent(2)
	h.s.Deliver(Delivery{Stream: user, Msg: msgs[0]}) // seq 1 arrives late, with the newer id
	time.Sleep(50 * time.Millisecond)
	if n := len(h.conn.sent()); n != 2 {
		t.Fatalf("sent %d messages, want 2: a late live message was taken for a store that started over", n)
	}
}

// countingMailbox counts reads, and holds them while gate is set.
type countingMailbox struct {
	mailbox.Mailbox
	mu    sync.Mutex
	reads int
	gate  chan struct{}
}

func (c *countingMailbox) Pending(ctx context.Context, s mailbox.Stream, d string, after uint64, limit int) ([]mailbox.Message, error) {
	c.mu.Lock()
	c.reads++
	gate := c.gate
	c.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return c.Mailbox.Pending(ctx, s, d, after, limit)
}

func (c *countingMailbox) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.reads }

// A read that filled the window owes no other when the live queue holds
// what comes next: the rest comes live. (It used to read again, and a
// member of a busy room whose window was the bottleneck read every message
// from the mailbox in small batches.)
func TestFullReadOwesNoOtherWhenLiveContinues(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Window = 3 })
	cm := &countingMailbox{Mailbox: h.mb, gate: make(chan struct{})}
	h.opt.Mailbox = cm
	room := mailbox.RoomStream("r")
	h.push(room, 3)
	h.s.Subscribe(room) // reads 1..3 (the window), held at the gate
	testkit.Eventually(t, 5*time.Second, "read under way", func() bool { return cm.count() == 1 })
	for _, m := range h.push(room, 2) { // 4, 5 arrive live meanwhile
		h.s.Deliver(Delivery{Stream: room, Msg: m})
	}
	close(cm.gate)
	for _, e := range h.waitSent(3) {
		e.ack(nil)
	}
	sent := h.waitSent(5)
	for i, e := range sent {
		if e.meta.Seq != uint64(i+1) {
			t.Fatalf("emit %d has seq %d", i, e.meta.Seq)
		}
	}
	if n := cm.count(); n != 1 {
		t.Fatalf("%d mailbox reads, want 1: the live queue held what came next", n)
	}
}

// A live message one ahead of its stream waits for the one before it,
// which concurrent pushes deliver a moment later: no mailbox read.
func TestLiveAheadWaitsForTheOneBefore(t *testing.T) {
	h := newHarness(t, nil)
	cm := &countingMailbox{Mailbox: h.mb}
	h.opt.Mailbox = cm
	room := mailbox.RoomStream("r")
	h.s.Subscribe(room)
	testkit.Eventually(t, 5*time.Second, "first read", func() bool { h.s.mu.Lock(); defer h.s.mu.Unlock(); return h.s.state(room).ready })
	msgs := h.push(room, 2)
	h.s.Deliver(Delivery{Stream: room, Msg: msgs[1]}) // 2 before 1
	h.s.Deliver(Delivery{Stream: room, Msg: msgs[0]})
	sent := h.waitSent(2)
	if sent[0].meta.Seq != 1 || sent[1].meta.Seq != 2 {
		t.Fatalf("sent seqs %d, %d; want 1, 2", sent[0].meta.Seq, sent[1].meta.Seq)
	}
	if n := cm.count(); n != 1 {
		t.Fatalf("%d mailbox reads, want 1 (the first): a message one ahead was read from the mailbox", n)
	}
}
