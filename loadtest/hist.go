package main

import (
	"math"
	"sync/atomic"

	"courier/loadtest/stats"
)

// histBucket is one bar of the latency histogram: samples at most UpToMs
// (and above the previous bucket's bound).
type histBucket struct {
	UpToMs float64 `json:"up_to_ms"` // +Inf is written as 0 in the last bucket
	Count  int64   `json:"count"`
}

// histBoundsUs are the bucket bounds, 1-2-5 per decade from 0.1 ms to 60 s:
// latencies on a shared machine span five decades.
var histBoundsUs = func() []int64 {
	var b []int64
	for d := int64(100); d <= 10_000_000; d *= 10 {
		b = append(b, d, 2*d, 5*d)
	}
	return append(b, 60_000_000)
}()

func bucketOf(us int64) int {
	for i, b := range histBoundsUs {
		if us <= b {
			return i
		}
	}
	return len(histBoundsUs)
}

// histogram buckets µs samples.
func histogram(us []int64) []histBucket {
	counts := make([]int64, len(histBoundsUs)+1)
	for _, v := range us {
		counts[bucketOf(v)]++
	}
	return bucketsOf(counts)
}

func bucketsOf(counts []int64) []histBucket {
	out := make([]histBucket, len(counts))
	for i, c := range counts {
		out[i].Count = c
		if i < len(histBoundsUs) {
			out[i].UpToMs = float64(histBoundsUs[i]) / 1000
		}
	}
	return out
}

// atomicHist counts samples without keeping them: a room fan-out receives
// millions, and keeping each would cost more memory than the clients.
// Percentiles come from a reservoir of every stride-th sample instead.
type atomicHist struct {
	counts [32]atomic.Int64
	n      atomic.Int64
	keep   []atomic.Int64 // reservoir
	stride int64
}

func newAtomicHist(expected int64, keep int) *atomicHist {
	return &atomicHist{keep: make([]atomic.Int64, keep), stride: max(1, expected/int64(keep))}
}

func (h *atomicHist) add(us int64) {
	h.counts[bucketOf(us)].Add(1)
	n := h.n.Add(1) - 1
	if n%h.stride == 0 {
		if i := n / h.stride; i < int64(len(h.keep)) {
			h.keep[i].Store(us + 1) // +1: zero marks an empty slot
		}
	}
}

func (h *atomicHist) summary() (stats.Summary, []histBucket) {
	var kept []int64
	for i := range h.keep {
		if v := h.keep[i].Load(); v != 0 {
			kept = append(kept, v-1)
		}
	}
	counts := make([]int64, len(histBoundsUs)+1)
	for i := range counts {
		counts[i] = h.counts[i].Load()
	}
	return stats.Summarize(kept), bucketsOf(counts)
}

// ratio is a/b rounded, 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 || math.IsNaN(b) {
		return 0
	}
	return round3(a / b)
}
