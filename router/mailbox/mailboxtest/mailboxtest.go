// Package mailboxtest is the contract test suite of the mailbox, one per
// role (mailbox.Log, mailbox.Claims, mailbox.Nudges): every implementation
// passes the suite of each role it plays, the in-memory one always, Redis
// against a real server. Run runs all three against a mailbox.Mailbox.
//
// Time moves only through the Config.Now the suite passes to the factory,
// starting at the real time of day: implementations judge expiry of messages,
// claims and devices by that clock (store-side TTLs, if any, may only be a
// safety net at least as long as the logical ones).
package mailboxtest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"courier/router/mailbox"
	"courier/router/testkit"
)

// Factory returns a fresh, empty Mailbox built from cfg, isolated from every
// other test (e.g. a unique Redis key prefix) and cleaned up with t.Cleanup.
// LogFactory, ClaimsFactory and NudgesFactory are the same for one role.
type (
	Factory       func(t *testing.T, cfg mailbox.Config) mailbox.Mailbox
	LogFactory    func(t *testing.T, cfg mailbox.Config) mailbox.Log
	ClaimsFactory func(t *testing.T, cfg mailbox.Config) mailbox.Claims
	NudgesFactory func(t *testing.T, cfg mailbox.Config) mailbox.Nudges
)

// Run runs the suite of every role against the implementation newMailbox
// builds. Subtests run in parallel, each with its own Mailbox and clock.
func Run(t *testing.T, newMailbox Factory) {
	RunLog(t, func(t *testing.T, cfg mailbox.Config) mailbox.Log { return newMailbox(t, cfg) })
	RunClaims(t, func(t *testing.T, cfg mailbox.Config) mailbox.Claims { return newMailbox(t, cfg) })
	RunNudges(t, func(t *testing.T, cfg mailbox.Config) mailbox.Nudges { return newMailbox(t, cfg) })
	RunInspector(t, func(t *testing.T, cfg mailbox.Config) interface {
		mailbox.Log
		mailbox.Inspector
	} {
		return newMailbox(t, cfg)
	})
}

// RunLog runs the suite of mailbox.Log against the implementation newLog
// builds. Subtests run in parallel, each with its own Log and clock.
func RunLog(t *testing.T, newLog LogFactory) {
	tests := []struct {
		name string
		fn   func(*testing.T, LogFactory)
	}{
		{"SeqOrder", testSeqOrder},
		{"StreamsIndependent", testStreamsIndependent},
		{"IdempotentAppend", testIdempotentAppend},
		{"LimitTrimKeepsSeqGap", testLimitTrim},
		{"Expiry", testExpiry},
		{"AckOutOfOrder", testAckOutOfOrder},
		{"AckBatch", testAckBatch},
		{"AckAcrossTrim", testAckAcrossTrim},
		{"AckAcrossExpiry", testAckAcrossExpiry},
		{"TwoDevicesIndependent", testTwoDevices},
		{"PendingCount", testPendingCount},
		{"DeviceTTL", testDeviceTTL},
		{"Held", testHeld},
		{"ResultsAreCopies", testResultsAreCopies},
		{"ConcurrentAppend", testConcurrentAppend},
		{"ConcurrentSameID", testConcurrentSameID},
		{"ConcurrentAcks", testConcurrentAcks},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newLog)
		})
	}
}

// harness is one Log with its clock and terse, failing-fast helpers.
type harness struct {
	t   *testing.T
	mb  mailbox.Log
	clk *testkit.Clock
	ctx context.Context
}

func setup(t *testing.T, newLog LogFactory, cfg mailbox.Config) *harness {
	t.Helper()
	clk := testkit.NewClock()
	cfg.Now = clk.Now
	return &harness{t: t, mb: newLog(t, cfg), clk: clk, ctx: t.Context()}
}

// msg builds a message living ttl from now.
func (h *harness) msg(id string, ttl time.Duration) mailbox.Message {
	now := h.clk.Now()
	return mailbox.Message{
		ID:      id,
		Event:   "ev-" + id,
		Data:    []byte(fmt.Sprintf(`{"id":%q}`, id)),
		TS:      now.UnixMilli(),
		Expires: now.Add(ttl).UnixMilli(),
	}
}

func (h *harness) append(s mailbox.Stream, m mailbox.Message) (uint64, bool) {
	h.t.Helper()
	seq, created, err := h.mb.Append(h.ctx, s, m)
	if err != nil {
		h.t.Fatalf("Append(%q, %q): %v", s, m.ID, err)
	}
	return seq, created
}

// add appends a fresh message that lives an hour and expects seq want.
func (h *harness) add(s mailbox.Stream, id string, want uint64) {
	h.t.Helper()
	h.addTTL(s, id, time.Hour, want)
}

func (h *harness) addTTL(s mailbox.Stream, id string, ttl time.Duration, want uint64) {
	h.t.Helper()
	seq, created := h.append(s, h.msg(id, ttl))
	if seq != want || !created {
		h.t.Fatalf("Append(%q, %q) = %d, created=%v; want %d, true", s, id, seq, created, want)
	}
}

func (h *harness) pending(s mailbox.Stream, dev string, after uint64, limit int) []mailbox.Message {
	h.t.Helper()
	ms, err := h.mb.Pending(h.ctx, s, dev, after, limit)
	if err != nil {
		h.t.Fatalf("Pending(%q, %q, %d, %d): %v", s, dev, after, limit, err)
	}
	return ms
}

// wantPending checks the seqs Pending returns.
func (h *harness) wantPending(s mailbox.Stream, dev string, after uint64, limit int, want ...uint64) {
	h.t.Helper()
	if got := seqs(h.pending(s, dev, after, limit)); !slices.Equal(got, want) {
		h.t.Fatalf("Pending(%q, %q, after=%d, limit=%d) seqs = %v; want %v", s, dev, after, limit, got, want)
	}
}

func (h *harness) ack(s mailbox.Stream, dev string, seqs ...uint64) {
	h.t.Helper()
	for _, seq := range seqs {
		if err := h.mb.Ack(h.ctx, s, dev, seq); err != nil {
			h.t.Fatalf("Ack(%q, %q, %d): %v", s, dev, seq, err)
		}
	}
}

func (h *harness) wantCount(s mailbox.Stream, want int) {
	h.t.Helper()
	n, err := h.mb.PendingCount(h.ctx, s)
	if err != nil {
		h.t.Fatalf("PendingCount(%q): %v", s, err)
	}
	if n != want {
		h.t.Fatalf("PendingCount(%q) = %d; want %d", s, n, want)
	}
}

func seqs(ms []mailbox.Message) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func sameMessage(a, b mailbox.Message) bool {
	return a.ID == b.ID && a.Seq == b.Seq && a.Event == b.Event && bytes.Equal(a.Data, b.Data) &&
		a.TS == b.TS && a.Expires == b.Expires && a.Room == b.Room
}

func id(i uint64) string { return fmt.Sprintf("m%d", i) }
