package session

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"courier/node/auth"
	"courier/node/engine"
	"courier/router/mailbox"
	"courier/router/opsbus"
	"courier/router/testkit"
)

// ackingConn is a client that acknowledges every message at once, through
// the engine's token path: what a lean connection does, minus the network.
type ackingConn struct {
	onAck func(uint64)
	sent  atomic.Int64
}

func (c *ackingConn) ID() string                                { return "bench" }
func (c *ackingConn) Emit(string, []any, func([]any)) error     { return nil }
func (c *ackingConn) OnEvent(func(string, []any, func(...any))) {}
func (c *ackingConn) OnClose(func(string))                      {}
func (c *ackingConn) Disconnect()                               {}
func (c *ackingConn) CloseTransport()                           {}
func (c *ackingConn) OnAckToken(fn func(uint64))                { c.onAck = fn }
func (c *ackingConn) EmitPreparedToken(p *engine.Prepared, tok uint64) error {
	c.sent.Add(1)
	c.onAck(tok)
	return nil
}

type nopMetrics struct{}

func (nopMetrics) Delivered()          {}
func (nopMetrics) Acked()              {}
func (nopMetrics) Retried()            {}
func (nopMetrics) Disconnected(string) {}

// BenchmarkRoomFanOut: one room message to 100 sessions, each acknowledging
// it (flight, token ack, batched mailbox ack): allocations per op / 100 are
// allocations per delivered message. Its cases are the tracer a node may
// have: none, the ops bus with nobody traced (every node, nearly always),
// and with someone else traced (a lookup per delivery, no event).
func BenchmarkRoomFanOut(b *testing.B) {
	b.Run("no-tracer", func(b *testing.B) { benchRoomFanOut(b, nil) })
	b.Run("nobody-traced", func(b *testing.B) {
		bus := opsbus.NewMemory(opsbus.Config{Node: "n1"})
		defer bus.Close()
		benchRoomFanOut(b, bus)
	})
	b.Run("another-user-traced", func(b *testing.B) {
		bus := opsbus.NewMemory(opsbus.Config{Node: "n1"})
		defer bus.Close()
		if _, err := bus.Watch(b.Context(), "somebody-else"); err != nil {
			b.Fatal(err)
		}
		benchRoomFanOut(b, bus)
	})
}

func benchRoomFanOut(b *testing.B, tracer Tracer) {
	const members = 100
	mb := mailbox.NewMemory(mailbox.Config{Limit: 1 << 20})
	defer mb.Close()
	opt := &Options{Node: "n1", Mailbox: mb, Metrics: nopMetrics{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		AckTimeout: time.Hour, AckRetries: 3, QueueLimit: 1024, Window: 128, Now: time.Now, Tracer: tracer}
	room := mailbox.RoomStream("bench")
	var sessions []*Session
	var conns []*ackingConn
	for i := range members {
		c := &ackingConn{}
		s := New(opt, c, auth.Claims{Sub: "u" + string(rune('a'+i%26)) + string(rune('a'+i/26))}, "d")
		s.Subscribe(room)
		sessions, conns = append(sessions, s), append(conns, c)
	}
	ready := func() bool {
		for _, s := range sessions {
			s.mu.Lock()
			st := s.state(room)
			ok := st.ready && !st.fetching && !st.replay && !s.running
			s.mu.Unlock()
			if !ok {
				return false
			}
		}
		return true
	}
	testkit.Eventually(b, 5*time.Second, "the sessions' first read", ready)
	// Messages made up front: appending is the API's work, not the fan-out's.
	msgs := make([]*mailbox.Message, b.N)
	for i := range msgs {
		m := mailbox.Message{ID: mailbox.NewID(time.Now()), Event: "e", Data: []byte(`{"k":1}`), TS: 1, Expires: time.Now().Add(time.Hour).UnixMilli()}
		seq, _, err := mb.Append(context.Background(), room, m)
		if err != nil {
			b.Fatal(err)
		}
		m.Seq = seq
		msgs[i] = &m
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, m := range msgs {
		d := Delivery{Stream: room, Msg: m, Prepared: Prepare(m)}
		for _, s := range sessions {
			s.Deliver(d)
		}
	}
	b.StopTimer()
	var sent int64
	for _, c := range conns {
		sent += c.sent.Load()
	}
	if sent != int64(b.N*members) {
		b.Fatalf("%d sent, want %d: a delivery left the fast path", sent, b.N*members)
	}
	b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "msgs/s")
	for _, s := range sessions {
		s.Closed("bench over")
	}
	opt.FlushAcks(context.Background())
}
