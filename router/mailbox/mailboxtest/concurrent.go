package mailboxtest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"courier/router/mailbox"
)

// testConcurrentAppend: many writers on one stream get unique, contiguous
// seqs, and Pending hands each message back under the seq its writer got.
func testConcurrentAppend(t *testing.T, f LogFactory) {
	const writers, each = 16, 40
	h := setup(t, f, mailbox.Config{Limit: writers * each})
	s := mailbox.RoomStream("busy")
	var mu sync.Mutex
	bySeq := make(map[uint64]string)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			own := mailbox.UserStream(fmt.Sprintf("w%d", w)) // a stream of its own too
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				seq, created, err := h.mb.Append(h.ctx, s, h.msg(id, time.Hour))
				if err != nil || !created {
					t.Errorf("Append(%s) = %d, %v, %v", id, seq, created, err)
					return
				}
				if oseq, _, err := h.mb.Append(h.ctx, own, h.msg(id, time.Hour)); err != nil || oseq != uint64(i+1) {
					t.Errorf("Append(own %s) = %d, %v; want %d", id, oseq, err, i+1)
				}
				mu.Lock()
				if prev, dup := bySeq[seq]; dup {
					t.Errorf("seq %d given to both %s and %s", seq, prev, id)
				}
				bySeq[seq] = id
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	got := h.pending(s, "d", 0, 0)
	if want := seqRange(1, writers*each); !slices.Equal(seqs(got), want) {
		t.Fatalf("Pending seqs = %v; want 1..%d", seqs(got), writers*each)
	}
	for _, m := range got {
		if bySeq[m.Seq] != m.ID {
			t.Fatalf("seq %d holds %q; its writer got it for %q", m.Seq, m.ID, bySeq[m.Seq])
		}
	}
}

// testConcurrentSameID: racing appends of one id create it exactly once.
func testConcurrentSameID(t *testing.T, f LogFactory) {
	const racers = 16
	h := setup(t, f, mailbox.Config{})
	s := mailbox.UserStream("u")
	h.add(s, "before", 1)
	var mu sync.Mutex
	created := 0
	var wg sync.WaitGroup
	for range racers {
		wg.Go(func() {
			seq, c, err := h.mb.Append(h.ctx, s, h.msg("dup", time.Hour))
			if err != nil || seq != 2 {
				t.Errorf("Append(dup) = %d, %v; want 2", seq, err)
			}
			if c {
				mu.Lock()
				created++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if created != 1 {
		t.Fatalf("%d racing appends of one id created it %d times; want 1", racers, created)
	}
	h.wantPending(s, "d", 0, 0, 1, 2)
}

// testConcurrentAcks: acks racing in random order from many goroutines and
// two devices leave nothing pending.
func testConcurrentAcks(t *testing.T, f LogFactory) {
	const n, ackers = 200, 8
	h := setup(t, f, mailbox.Config{})
	s := mailbox.UserStream("u")
	for i := uint64(1); i <= n; i++ {
		h.add(s, id(i), i)
	}
	var wg sync.WaitGroup
	for _, dev := range []string{"A", "B"} {
		order := rand.Perm(n)
		for a := range ackers {
			wg.Go(func() {
				for k := a; k < n; k += ackers {
					if err := h.mb.Ack(h.ctx, s, dev, uint64(order[k]+1)); err != nil {
						t.Errorf("Ack(%s, %d): %v", dev, order[k]+1, err)
					}
				}
			})
		}
		wg.Go(func() { // readers racing the acks
			for range 10 {
				if _, err := h.mb.Pending(h.ctx, s, dev, 0, 10); err != nil {
					t.Errorf("Pending: %v", err)
				}
			}
		})
	}
	wg.Wait()
	h.wantPending(s, "A", 0, 0)
	h.wantPending(s, "B", 0, 0)
	h.wantCount(s, 0)
}
