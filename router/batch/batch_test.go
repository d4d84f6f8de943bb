package batch

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Items added while the flushers are busy go together in the next batches,
// none larger than max; Wait returns once every item was sent.
func TestItemsGatherWhileBatchesAreInFlight(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	sent := 0
	q := New(100, 2, func(items []int) {
		<-release
		mu.Lock()
		sizes = append(sizes, len(items))
		sent += len(items)
		mu.Unlock()
	})
	for i := range 1000 {
		q.Add(i)
	}
	close(release)
	q.Wait(context.Background())
	mu.Lock()
	defer mu.Unlock()
	if sent != 1000 {
		t.Fatalf("%d items sent, want 1000", sent)
	}
	// the 2 flushers' first batches, then what came meanwhile in batches of 100
	if len(sizes) > 12 {
		t.Fatalf("%d batches for 1000 items: %v", len(sizes), sizes)
	}
	for _, n := range sizes {
		if n > 100 {
			t.Fatalf("a batch of %d, over the max of 100", n)
		}
	}
}

// Wait gives up when its context ends, even with a batch stuck.
func TestWaitEndsWithItsContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	q := New(10, 1, func([]int) { <-release })
	q.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	q.Wait(ctx)
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("waited %v past its context", waited)
	}
}
