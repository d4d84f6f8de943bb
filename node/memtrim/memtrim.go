// Package memtrim returns memory to the OS after connection surges.
//
// A surge of handshakes (a deploy, a reconnect storm) leaves garbage worth
// several times the connections it opened: HTTP request buffers, tokens,
// JSON. Once the surge is over nothing allocates, so the collector does not
// run again until its 2-minute forced cycle, and the freed pages go back to
// the OS only after that. Run shortens the wait: when the number of
// sessions has moved by MinChange since the last trim and then held steady
// for one Every, it collects once and returns free memory to the OS. That
// costs one GC cycle per surge, never one per connection.
package memtrim

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"
)

const (
	Every     = 5 * time.Second
	MinChange = 1000
)

// Run watches count (the sessions held) until ctx ends.
func Run(ctx context.Context, count func() int, log *slog.Logger) {
	t := time.NewTicker(Every)
	defer t.Stop()
	trimmedAt, prev := count(), count()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := count()
		steady := absDiff(cur, prev) <= max(10, prev/100)
		if steady && absDiff(cur, trimmedAt) >= MinChange {
			start := time.Now()
			debug.FreeOSMemory()
			log.Debug("memory returned after a change in sessions", "sessions", cur, "was", trimmedAt, "took", time.Since(start))
			trimmedAt = cur
		}
		prev = cur
	}
}

func absDiff(a, b int) int {
	if a > b {
		return a - b
	}
	return b - a
}
