package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"courier/node/auth"
	"courier/node/engine/enginetest"
	"courier/router/mailbox"
	"courier/router/testkit"
)

// fakeConn is the shared in-memory conn, read as (event, meta) pairs.
type fakeConn struct{ enginetest.Conn }

type emitted struct {
	event string
	meta  Meta
	ack   func([]any)
}

func (c *fakeConn) sent() []emitted {
	var out []emitted
	for _, e := range c.Emits() {
		if strings.HasPrefix(e.Event, "courier:") {
			continue
		}
		m := emitted{event: e.Event, ack: e.Ack}
		if len(e.Args) == 2 {
			m.meta, _ = e.Args[1].(Meta)
		}
		out = append(out, m)
	}
	return out
}

type countingMetrics struct{ delivered, acked, retried, disconnected atomic.Int32 }

func (m *countingMetrics) Delivered()          { m.delivered.Add(1) }
func (m *countingMetrics) Acked()              { m.acked.Add(1) }
func (m *countingMetrics) Retried()            { m.retried.Add(1) }
func (m *countingMetrics) Disconnected(string) { m.disconnected.Add(1) }

type harness struct {
	t    *testing.T
	mb   *mailbox.Memory
	conn *fakeConn
	m    *countingMetrics
	s    *Session
	opt  *Options
}

func newHarness(t *testing.T, tune func(*Options)) *harness {
	t.Helper()
	mb := mailbox.NewMemory(mailbox.Config{})
	t.Cleanup(mb.Close)
	h := &harness{t: t, mb: mb, conn: &fakeConn{enginetest.Conn{Id: "sid-1"}}, m: &countingMetrics{}}
	h.opt = &Options{
		Node: "n1", Mailbox: mb, Metrics: h.m,
		Log:        testkit.LoggerAt(t, slog.LevelDebug),
		AckTimeout: time.Hour, AckRetries: 3, QueueLimit: 1000, Window: 100, Now: time.Now,
	}
	if tune != nil {
		tune(h.opt)
	}
	h.s = New(h.opt, h.conn, auth.Claims{Sub: "alice"}, "phone")
	t.Cleanup(func() { h.s.Closed("test over") })
	return h
}

func (h *harness) push(stream mailbox.Stream, n int) []*mailbox.Message {
	h.t.Helper()
	var out []*mailbox.Message
	for i := 0; i < n; i++ {
		m := mailbox.Message{ID: fmt.Sprintf("m%d-%d", i, time.Now().UnixNano()), Event: "news", Data: []byte(`1`),
			TS: time.Now().UnixMilli(), Expires: time.Now().Add(time.Hour).UnixMilli()}
		seq, _, err := h.mb.Append(context.Background(), stream, m)
		if err != nil {
			h.t.Fatal(err)
		}
		m.Seq = seq
		out = append(out, &m)
	}
	return out
}

func (h *harness) waitSent(n int) []emitted {
	h.t.Helper()
	testkit.Eventually(h.t, 5*time.Second, fmt.Sprintf("%d emits", n), func() bool { return len(h.conn.sent()) >= n })
	return h.conn.sent()
}

func TestReplayOnStartThenLiveInOrder(t *testing.T) {
	h := newHarness(t, nil)
	user := mailbox.UserStream("alice")
	h.push(user, 3)
	h.s.Start()
	h.waitSent(3)
	for _, m := range h.push(user, 2) {
		h.s.Deliver(Delivery{Stream: user, Msg: m})
	}
	sent := h.waitSent(5)
	for i, e := range sent {
		if e.meta.Seq != uint64(i+1) {
			t.Fatalf("emit %d has seq %d, want %d", i, e.meta.Seq, i+1)
		}
	}
}

func TestLiveGapIsFilledFromMailbox(t *testing.T) {
	h := newHarness(t, nil)
	user := mailbox.UserStream("alice")
	h.s.Start()
	testkit.Eventually(t, 5*time.Second, "first replay", func() bool { h.s.mu.Lock(); defer h.s.mu.Unlock(); return h.s.state(user).ready })
	msgs := h.push(user, 3)
	h.s.Deliver(Delivery{Stream: user, Msg: msgs[2]}) // 1 and 2 went past us
	sent := h.waitSent(3)
	for i, e := range sent {
		if e.meta.Seq != uint64(i+1) {
			t.Fatalf("emit %d has seq %d, want %d", i, e.meta.Seq, i+1)
		}
	}
}

func TestAckIsStoredAndNotReplayed(t *testing.T) {
	h := newHarness(t, nil)
	user := mailbox.UserStream("alice")
	h.push(user, 2)
	h.s.Start()
	sent := h.waitSent(2)
	sent[0].ack(nil)
	testkit.Eventually(t, 5*time.Second, "ack stored", func() bool {
		p, _ := h.mb.Pending(context.Background(), user, h.s.DeviceKey(), 0, 0)
		return len(p) == 1 && p[0].Seq == 2
	})
}

func TestUnackedIsRetriedBoundedTimes(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.AckTimeout = 20 * time.Millisecond; o.AckRetries = 2 })
	h.push(mailbox.UserStream("alice"), 1)
	h.s.Start()
	h.waitSent(3) // first send + 2 retries
	testkit.Eventually(t, 5*time.Second, "gave up", func() bool { _, inflight := h.s.Pending(); return inflight == 0 })
	time.Sleep(60 * time.Millisecond) // three more ack timeouts: nothing more may come
	if n := len(h.conn.sent()); n != 3 {
		t.Fatalf("sent %d times, want 3", n)
	}
	if got := h.m.retried.Load(); got != 2 {
		t.Fatalf("retries counted %d, want 2", got)
	}
	for _, e := range h.conn.sent() {
		if e.meta.Seq != 1 {
			t.Fatalf("retry carried seq %d", e.meta.Seq)
		}
	}
}

func TestWindowBoundsMessagesInFlight(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Window = 4 })
	h.push(mailbox.UserStream("alice"), 10)
	h.s.Start()
	sent := h.waitSent(4)
	time.Sleep(20 * time.Millisecond)
	if len(h.conn.sent()) != 4 {
		t.Fatalf("%d in flight, window is 4", len(h.conn.sent()))
	}
	sent[0].ack(nil)
	sent[1].ack(nil)
	h.waitSent(6)
}

func TestSlowConsumerIsDisconnected(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Window = 1; o.QueueLimit = 5 })
	user := mailbox.UserStream("alice")
	h.s.Start()
	testkit.Eventually(t, 5*time.Second, "first replay", func() bool { h.s.mu.Lock(); defer h.s.mu.Unlock(); return h.s.state(user).ready })
	for _, m := range h.push(user, 20) {
		h.s.Deliver(Delivery{Stream: user, Msg: m})
	}
	testkit.Eventually(t, 5*time.Second, "transport closed", func() bool { return h.conn.TransportsClosed.Load() == 1 })
	if h.m.disconnected.Load() != 1 {
		t.Fatal("disconnect not counted")
	}
	p, _ := h.mb.Pending(context.Background(), user, h.s.DeviceKey(), 0, 0)
	if len(p) != 20 {
		t.Fatalf("mailbox keeps %d messages for the next connection, want 20", len(p))
	}
}

func TestFireAndForgetHasNoSeqAndNoRetry(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.AckTimeout = 10 * time.Millisecond })
	h.s.Start()
	h.s.Deliver(Delivery{Stream: mailbox.UserStream("alice"), Msg: &mailbox.Message{ID: "x", Event: "e", Data: []byte(`1`)}})
	sent := h.waitSent(1)
	time.Sleep(50 * time.Millisecond)
	if len(h.conn.sent()) != 1 || sent[0].meta.Seq != 0 {
		t.Fatalf("fire-and-forget sent %d times with seq %d", len(h.conn.sent()), sent[0].meta.Seq)
	}
}

// failingMailbox fails reads until healed.
type failingMailbox struct {
	mailbox.Mailbox
	broken atomic.Bool
}

func (f *failingMailbox) Pending(ctx context.Context, s mailbox.Stream, d string, after uint64, limit int) ([]mailbox.Message, error) {
	if f.broken.Load() {
		return nil, errors.New("store down")
	}
	return f.Mailbox.Pending(ctx, s, d, after, limit)
}

func TestReplayRetriesAfterStoreFailure(t *testing.T) {
	h := newHarness(t, nil)
	fm := &failingMailbox{Mailbox: h.mb}
	fm.broken.Store(true)
	h.opt.Mailbox = fm
	h.push(mailbox.UserStream("alice"), 2)
	h.s.Start()
	time.Sleep(50 * time.Millisecond)
	if len(h.conn.sent()) != 0 {
		t.Fatal("sent while the store was down")
	}
	fm.broken.Store(false)
	h.waitSent(2) // within storeRetry, without any new kick
}
