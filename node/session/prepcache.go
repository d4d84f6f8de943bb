package session

import (
	"sync"

	"courier/node/engine"
	"courier/router/mailbox"
)

// prepCache shares the encoding of replayed messages between sessions: the
// members of a room that read the same messages from the mailbox (after a
// join, a reconnect, a gap) encode each once, not once per member. It is
// bounded; when full, an arbitrary entry goes. The zero value is ready.
type prepCache struct {
	mu sync.Mutex
	m  map[prepKey]*engine.Prepared
}

type prepKey struct {
	stream mailbox.Stream
	id     string
	seq    uint64
}

const prepCacheSize = 4096

// prepared returns the shared encoding of m in stream.
func (o *Options) prepared(stream mailbox.Stream, m *mailbox.Message) *engine.Prepared {
	c := &o.prep
	key := prepKey{stream: stream, id: m.ID, seq: m.Seq}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.m[key]; p != nil {
		return p
	}
	if c.m == nil {
		c.m = make(map[prepKey]*engine.Prepared)
	}
	if len(c.m) >= prepCacheSize {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	p := Prepare(m)
	c.m[key] = p
	return p
}
