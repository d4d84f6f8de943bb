package node

import (
	"runtime/debug"
	"time"
)

// Memory trimming after connection surges.
//
// A surge of handshakes (a deploy, a reconnect storm) leaves garbage worth
// several times the connections it opened: HTTP request buffers, tokens,
// JSON. Once the surge is over nothing allocates, so the collector does not
// run again until its 2-minute forced cycle, and the freed pages go back to
// the OS only after that. The node shortens the wait: when the number of
// sessions has moved by trimMinChange since the last trim and then held
// steady for one trimEvery, it collects once and returns free memory to the
// OS. That costs one GC cycle per surge, never one per connection.
const (
	trimEvery     = 5 * time.Second
	trimMinChange = 1000
)

// trimLoop runs until stop is closed.
func (n *Node) trimLoop(stop <-chan struct{}) {
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	trimmedAt, prev := n.hub.count(), n.hub.count()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		cur := n.hub.count()
		steady := absDiff(cur, prev) <= max(10, prev/100)
		if steady && absDiff(cur, trimmedAt) >= trimMinChange {
			start := time.Now()
			debug.FreeOSMemory()
			n.log.Debug("memory returned after a change in sessions", "sessions", cur, "was", trimmedAt, "took", time.Since(start))
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
