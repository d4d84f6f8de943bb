package mailboxtest

import (
	"slices"
	"testing"
	"time"

	"courier/router/mailbox"
)

// InspectorFactory returns a fresh Log that can be inspected; see Factory.
type InspectorFactory func(t *testing.T, cfg mailbox.Config) interface {
	mailbox.Log
	mailbox.Inspector
}

// RunInspector runs the suite of mailbox.Inspector.
func RunInspector(t *testing.T, f InspectorFactory) {
	t.Run("InspectShowsCursorsAndPending", func(t *testing.T) { t.Parallel(); testInspect(t, f) })
	t.Run("InspectChangesNothing", func(t *testing.T) { t.Parallel(); testInspectReadOnly(t, f) })
	t.Run("CountHeld", func(t *testing.T) { t.Parallel(); testCountHeld(t, f) })
}

func inspectSetup(t *testing.T, f InspectorFactory, cfg mailbox.Config) (*harness, mailbox.Inspector) {
	var in mailbox.Inspector
	h := setup(t, func(t *testing.T, cfg mailbox.Config) mailbox.Log {
		l := f(t, cfg)
		in = l
		return l
	}, cfg)
	return h, in
}

func (h *harness) inspect(in mailbox.Inspector, s mailbox.Stream, limit int) mailbox.StreamView {
	h.t.Helper()
	v, err := in.Inspect(h.ctx, s, limit)
	if err != nil {
		h.t.Fatalf("Inspect(%q): %v", s, err)
	}
	return v
}

func testInspect(t *testing.T, f InspectorFactory) {
	h, in := inspectSetup(t, f, mailbox.Config{DeviceTTL: time.Hour})
	s := mailbox.UserStream("u")
	if v := h.inspect(in, s, 0); v.Last != 0 || v.Held != 0 || len(v.Recent) != 0 || len(v.Devices) != 0 {
		t.Fatalf("Inspect of a stream never written = %+v; want empty", v)
	}
	for i := uint64(1); i <= 5; i++ {
		h.add(s, id(i), i)
	}
	h.addTTL(s, "m6", time.Minute, 6)
	h.ack(s, "phone", 1, 2, 4)
	h.ack(s, "tablet", 1)
	h.wantPending(s, "laptop", 0, 0, seqRange(1, 6)...) // known, acknowledged nothing
	h.clk.Advance(2 * time.Minute)                      // m6 expires

	v := h.inspect(in, s, 2)
	if v.Last != 6 || v.Held != 5 {
		t.Fatalf("Last, Held = %d, %d; want 6, 5", v.Last, v.Held)
	}
	if got := seqs(v.Recent); !slices.Equal(got, []uint64{5, 4}) {
		t.Fatalf("Recent seqs (limit 2) = %v; want [5 4], newest first without the expired 6", got)
	}
	if v.Recent[0].ID != "m5" || v.Recent[0].Event != "ev-m5" || string(v.Recent[0].Data) != `{"id":"m5"}` {
		t.Fatalf("Recent[0] = %+v; want message m5 whole", v.Recent[0])
	}
	want := []struct {
		device  string
		cursor  uint64
		pending []uint64
	}{
		{"laptop", 0, []uint64{1, 2}},
		{"phone", 2, []uint64{3, 5}}, // 4 acknowledged out of order
		{"tablet", 1, []uint64{2, 3}},
	}
	if len(v.Devices) != len(want) {
		t.Fatalf("Devices = %+v; want %d", v.Devices, len(want))
	}
	for i, w := range want {
		d := v.Devices[i]
		if d.Device != w.device || d.Cursor != w.cursor || !slices.Equal(seqs(d.Pending), w.pending) {
			t.Fatalf("device %d = %s cursor %d pending %v; want %s cursor %d pending %v",
				i, d.Device, d.Cursor, seqs(d.Pending), w.device, w.cursor, w.pending)
		}
	}

	h.ack(s, "phone", 3, 5)
	for _, d := range h.inspect(in, s, 0).Devices {
		if d.Device == "phone" && (d.Cursor != 6 || len(d.Pending) != 0) {
			t.Fatalf("phone after acking everything: cursor %d pending %v; want 6 (the newest seq) and none", d.Cursor, seqs(d.Pending))
		}
	}
}

// An operator's look must not make a device known, keep an idle one alive,
// or drop what expired: the node's own reads decide those.
func testInspectReadOnly(t *testing.T, f InspectorFactory) {
	h, in := inspectSetup(t, f, mailbox.Config{DeviceTTL: time.Hour})
	s := mailbox.UserStream("u")
	h.addTTL(s, "m1", 3*time.Hour, 1)
	h.addTTL(s, "m2", 3*time.Hour, 2)
	h.ack(s, "phone", 1)
	for range 3 {
		h.clk.Advance(30 * time.Minute)
		h.inspect(in, s, 0)
	}
	// 90 minutes idle: phone is forgotten despite the looks, and its ack with it.
	if v := h.inspect(in, s, 0); len(v.Devices) != 0 {
		t.Fatalf("Devices after the device TTL = %+v; want none (Inspect must not keep devices alive)", v.Devices)
	}
	h.wantCount(s, 2) // with no device known, every held message counts
}

func testCountHeld(t *testing.T, f InspectorFactory) {
	h, in := inspectSetup(t, f, mailbox.Config{Limit: 3})
	count := func(want int) {
		t.Helper()
		if n, err := in.CountHeld(h.ctx); err != nil || n != want {
			t.Fatalf("CountHeld = %d, %v; want %d", n, err, want)
		}
	}
	count(0)
	for i := uint64(1); i <= 4; i++ { // one trimmed: the limit is 3
		h.add(mailbox.UserStream("a"), id(i), i)
	}
	h.addTTL(mailbox.RoomStream("lobby"), "short", time.Minute, 1)
	h.add(mailbox.AllStream, "all", 1)
	h.ack(mailbox.UserStream("a"), "d", 2, 3, 4) // acknowledged messages are still held
	count(5)
	h.clk.Advance(2 * time.Minute)
	count(4)
}
