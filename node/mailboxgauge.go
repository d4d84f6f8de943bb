package node

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// courier_mailbox_messages on Redis. The in-memory store keeps its count as
// it goes (a gauge read at scrape time, metrics.go); Redis must scan every
// stream for it, so one node counts, once a minute: the alive member with
// the smallest id (each node decides from its own view of the members; two
// that disagree for a moment count twice, which costs a scan, not a wrong
// figure). The counting node reports the figure; the others report none,
// so sum() over the cluster is the count either way.

const mailboxCountEvery = time.Minute

type mailboxGauge struct {
	desc *prometheus.Desc

	mu    sync.Mutex
	count int
	at    time.Time
	every time.Duration
}

func newMailboxGauge(every time.Duration) *mailboxGauge {
	return &mailboxGauge{every: every, desc: prometheus.NewDesc("courier_mailbox_messages",
		"Messages cached in mailboxes and room logs, counted by one node of the cluster (Redis) or held by this node (in-memory store).", nil, nil)}
}

func (g *mailboxGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// Collect reports the latest count while it is fresh: a node that stopped
// counting (another took over) stops reporting it.
func (g *mailboxGauge) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	count, at := g.count, g.at
	g.mu.Unlock()
	if !at.IsZero() && time.Since(at) < 2*g.every+g.every/2 {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(count))
	}
}

func (g *mailboxGauge) set(count int) {
	g.mu.Lock()
	g.count, g.at = count, time.Now()
	g.mu.Unlock()
}

// countsMailbox reports whether this node is the one that counts.
func (n *Node) countsMailbox() bool {
	for _, id := range n.peers.Others() {
		if id < n.cfg.NodeID {
			return false
		}
	}
	return true
}

// countMailboxes counts the Redis mailbox every interval while this node
// is the counting one, until the node stops.
func (n *Node) countMailboxes(g *mailboxGauge) {
	tick := time.NewTicker(g.every)
	defer tick.Stop()
	for {
		if n.countsMailbox() {
			ctx, cancel := context.WithTimeout(n.ctx, g.every)
			start := time.Now()
			count, err := n.stores.mailbox.CountHeld(ctx)
			cancel()
			if err != nil {
				n.log.Warn("mailbox not counted", "err", err)
			} else {
				g.set(count)
				n.log.Debug("mailbox counted", "messages", count, "took", time.Since(start))
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
	}
}
