package mailbox_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"courier/router/mailbox"
	"courier/router/mailbox/mailboxtest"
	"courier/router/testkit"
)

func newMemory(t testing.TB, cfg mailbox.Config) *mailbox.Memory {
	m := mailbox.NewMemory(cfg)
	t.Cleanup(m.Close)
	return m
}

func TestMemoryContract(t *testing.T) {
	mailboxtest.Run(t, func(t *testing.T, cfg mailbox.Config) mailbox.Mailbox {
		return newMemory(t, cfg)
	})
}

// TestMemoryStaysBounded: Sweep forgets what nobody can need any more.
func TestMemoryStaysBounded(t *testing.T) {
	ctx := t.Context()
	clk := testkit.ClockAt(time.UnixMilli(1_700_000_000_000))
	m := newMemory(t, mailbox.Config{Limit: 10, DeviceTTL: time.Hour, Now: clk.Now})
	exp := clk.Now().Add(time.Minute).UnixMilli()
	for u := range 100 {
		s := mailbox.UserStream(fmt.Sprint(u))
		for i := range 20 {
			if _, _, err := m.Append(ctx, s, mailbox.Message{ID: fmt.Sprint(i), Expires: exp}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := m.Pending(ctx, s, "d", 0, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Claim(ctx, fmt.Sprint("k", u), "id", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := m.Stats(), (mailbox.Stats{Streams: 100, Messages: 1000, Claims: 100}); got != want {
		t.Fatalf("Stats = %+v; want %+v (limit 10 per stream)", got, want)
	}
	clk.Advance(time.Minute)
	m.Sweep()
	if got, want := m.Stats(), (mailbox.Stats{Streams: 100}); got != want {
		t.Fatalf("after expiry Stats = %+v; want %+v (devices still known)", got, want)
	}
	clk.Advance(time.Hour)
	m.Sweep()
	if got := m.Stats(); got != (mailbox.Stats{}) {
		t.Fatalf("after device ttl Stats = %+v; want all zero", got)
	}
	// A forgotten stream starts over.
	if seq, _, _ := m.Append(ctx, mailbox.UserStream("0"), mailbox.Message{ID: "x", Expires: clk.Now().Add(time.Minute).UnixMilli()}); seq != 1 {
		t.Fatalf("Append to a forgotten stream = seq %d; want 1", seq)
	}
	if m.Size() != 1 {
		t.Fatalf("Size = %d; want 1", m.Size())
	}
}

// TestMemoryCloseIdempotent: Close may be called twice and the Memory stays usable.
func TestMemoryCloseIdempotent(t *testing.T) {
	m := mailbox.NewMemory(mailbox.Config{})
	m.Close()
	m.Close()
	if _, _, err := m.Append(t.Context(), mailbox.AllStream, mailbox.Message{ID: "a", Expires: time.Now().Add(time.Minute).UnixMilli()}); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (mailbox.Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	for _, c := range []mailbox.Config{{Limit: -1}, {DeviceTTL: -time.Second}} {
		if c.Validate() == nil {
			t.Errorf("Validate(%+v) = nil; want an error", c)
		}
	}
}

// BenchmarkAppend: pushes to many users in parallel, streams full (steady state).
func BenchmarkAppend(b *testing.B) {
	m := newMemory(b, mailbox.Config{Limit: 100})
	ctx := b.Context()
	exp := time.Now().Add(time.Hour).UnixMilli()
	data := []byte(`{"hello":"world"}`)
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprint("id-", i)
	}
	var g atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		n := int(g.Add(1))
		streams := make([]mailbox.Stream, 16)
		for i := range streams {
			streams[i] = mailbox.UserStream(fmt.Sprintf("user-%d-%d", n, i))
		}
		i := 0
		for pb.Next() {
			msg := mailbox.Message{ID: ids[i%len(ids)], Event: "ev", Data: data, Expires: exp}
			if _, _, err := m.Append(ctx, streams[i%len(streams)], msg); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkPendingAck: one device replays a small mailbox and acks it, the
// reconnect path.
func BenchmarkPendingAck(b *testing.B) {
	m := newMemory(b, mailbox.Config{})
	ctx := b.Context()
	s := mailbox.UserStream("bench")
	exp := time.Now().Add(time.Hour).UnixMilli()
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = fmt.Sprint(i)
	}
	var last uint64
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for k := range 4 {
			seq, _, err := m.Append(ctx, s, mailbox.Message{ID: ids[(i*4+k)%len(ids)], Expires: exp})
			if err != nil {
				b.Fatal(err)
			}
			last = seq
		}
		ms, err := m.Pending(ctx, s, "dev", 0, 0)
		if err != nil || len(ms) != 4 || ms[3].Seq != last {
			b.Fatalf("Pending = %d messages, %v", len(ms), err)
		}
		// Out of order, as concurrent acks arrive.
		for _, k := range []int{1, 0, 3, 2} {
			if err := m.Ack(ctx, s, "dev", ms[k].Seq); err != nil {
				b.Fatal(err)
			}
		}
	}
}
