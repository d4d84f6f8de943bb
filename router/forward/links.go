package forward

import (
	"log/slog"
	"sync"
	"sync/atomic"
)

// Links holds one outgoing link per peer node. Send never blocks: it queues
// the envelope for the peer's writer goroutine, which dials lazily, batches
// whatever is queued into frames, and redials with backoff when the link
// fails. Safe for concurrent use.
type Links struct {
	cfg LinksConfig
	log *slog.Logger

	mu     sync.RWMutex
	links  map[string]*link
	closed bool
	wg     sync.WaitGroup // one per link writer

	sentEnvelopes, sentFrames                 atomic.Uint64
	droppedFull, droppedDown, droppedTooLarge atomic.Uint64
	reconnects, dialErrors                    atomic.Uint64
}

// Stats are cumulative counters plus current gauges, for metrics.
type Stats struct {
	SentEnvelopes uint64
	SentFrames    uint64 // batches written; SentEnvelopes/SentFrames is the batching factor
	// Dropped envelopes, by reason: the queue was full while the link was
	// up (the peer is slower than we push), the link was down long enough
	// for the queue to fill (or the peer was removed, or Links closed, with
	// envelopes still queued), or the envelope was over MaxEnvelope.
	DroppedQueueFull uint64
	DroppedLinkDown  uint64
	DroppedTooLarge  uint64
	Reconnects       uint64 // links re-established after having been up
	DialErrors       uint64 // failed dials, including refused handshakes
	Links            int    // peers with a link (in any state)
	LinksUp          int
	Queued           int // envelopes waiting in all queues
}

// State of one peer's link.
type State int

const (
	StateNone       State = iota // no link to that peer
	StateConnecting              // first dial in progress
	StateUp
	StateDown // lost or never established; redialing with backoff
)

func (s State) String() string {
	return [...]string{"none", "connecting", "up", "down"}[s]
}

// NewLinks makes an empty pool; links appear on first Send to a peer.
func NewLinks(cfg LinksConfig) (*Links, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	return &Links{
		cfg:   cfg,
		log:   cfg.Log.With("component", "forward.links", "node", cfg.NodeID),
		links: make(map[string]*link),
	}, nil
}

// Send queues env for peer peerID at peerAddr (host:port of its Server),
// creating the link on first use; a changed address is used from the next
// dial on. It never blocks. It returns false when the envelope is dropped:
// the peer's queue is full (the link is slow or down), env is too large,
// or Links is closed. A dropped envelope is not an error: the message is in
// the mailbox, and the client gets it on its next replay.
//
// Envelopes to one peer are written in Send order. env is read after Send
// returns: do not modify it or its slices.
func (l *Links) Send(peerID, peerAddr string, env Envelope) bool {
	size := env.size()
	if size > l.cfg.MaxEnvelope {
		l.droppedTooLarge.Add(1)
		return false
	}
	l.mu.RLock()
	lk := l.links[peerID]
	l.mu.RUnlock()
	if lk == nil {
		if lk = l.create(peerID, peerAddr); lk == nil {
			l.droppedDown.Add(1)
			return false
		}
	}
	return lk.enqueue(env, size, peerAddr)
}

func (l *Links) create(peerID, peerAddr string) *link {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	lk := l.links[peerID]
	if lk == nil {
		lk = newLink(l, peerID, peerAddr)
		l.links[peerID] = lk
		l.wg.Add(1)
		go lk.run()
	}
	return lk
}

// Remove closes the link to a peer that died or left, dropping what was
// queued for it (counted as link_down). It does not wait.
func (l *Links) Remove(peerID string) {
	l.mu.Lock()
	lk := l.links[peerID]
	delete(l.links, peerID)
	l.mu.Unlock()
	if lk != nil {
		lk.stop()
	}
}

// State reports the state of the link to peerID.
func (l *Links) State(peerID string) State {
	l.mu.RLock()
	lk := l.links[peerID]
	l.mu.RUnlock()
	if lk == nil {
		return StateNone
	}
	lk.mu.Lock()
	defer lk.mu.Unlock()
	return lk.state
}

func (l *Links) Stats() Stats {
	st := Stats{
		SentEnvelopes:    l.sentEnvelopes.Load(),
		SentFrames:       l.sentFrames.Load(),
		DroppedQueueFull: l.droppedFull.Load(),
		DroppedLinkDown:  l.droppedDown.Load(),
		DroppedTooLarge:  l.droppedTooLarge.Load(),
		Reconnects:       l.reconnects.Load(),
		DialErrors:       l.dialErrors.Load(),
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	st.Links = len(l.links)
	for _, lk := range l.links {
		lk.mu.Lock()
		st.Queued += lk.n
		if lk.state == StateUp {
			st.LinksUp++
		}
		lk.mu.Unlock()
	}
	return st
}

// Close stops every link, dropping what is queued, and waits for their
// goroutines. Send after Close returns false.
func (l *Links) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	links := l.links
	l.links = make(map[string]*link)
	l.mu.Unlock()
	for _, lk := range links {
		lk.stop()
	}
	l.wg.Wait()
	return nil
}
