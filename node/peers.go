package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"courier/router/cluster"
	"courier/router/forward"
)

// peers is the node's view of the rest of the cluster: who is alive, where
// their delivery links listen, and the links themselves. Without gossip it
// is empty and every method is a no-op, so a single node pays nothing.
type peers struct {
	self string
	// cluster is set once joined; membership events may arrive before.
	cluster atomic.Pointer[cluster.Cluster]
	links   *forward.Links  // nil: no peer links; set before the cluster starts
	server  *forward.Server // nil: no peer links; set before the cluster starts

	mu    sync.RWMutex
	alive map[string]cluster.Member // by id, without self
}

func (p *peers) enabled() bool { return p != nil && p.cluster.Load() != nil }

// peerAddr is where node's delivery links listen; "" when it is not alive.
func (p *peers) peerAddr(node string) string {
	if !p.enabled() {
		return ""
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.alive[node].PeerAddr
}

// others lists the alive nodes other than self.
func (p *peers) others() []string {
	if !p.enabled() {
		return nil
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]string, 0, len(p.alive))
	for id := range p.alive {
		out = append(out, id)
	}
	return out
}

func (p *peers) setAlive(m cluster.Member, alive bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if alive {
		p.alive[m.ID] = m
	} else if cur, ok := p.alive[m.ID]; ok && cur.Started <= m.Started {
		delete(p.alive, m.ID)
	}
}

// send hands env to node's link. False: no link, or the link dropped it; the
// mailbox still holds any message, and replay delivers it.
func (p *peers) send(node string, env forward.Envelope) bool {
	addr := p.peerAddr(node)
	if addr == "" || p.links == nil {
		return false
	}
	return p.links.Send(node, addr, env)
}

// storeID names the shared store for the cluster's admission check without
// leaking its credentials: nodes on different stores refuse each other.
func storeID(redisURL string) string {
	if redisURL == "" {
		return cluster.StoreMemory
	}
	if u, err := url.Parse(redisURL); err == nil {
		u.User = nil
		redisURL = u.String()
	}
	sum := sha256.Sum256([]byte(redisURL))
	return "redis:" + hex.EncodeToString(sum[:8])
}

// purgeOnce forgets the sessions of a dead node. Every survivor hears of the
// death; a claim in the store lets exactly one of them do the purge.
func (n *Node) purgeOnce(m cluster.Member) {
	// A node that restarted under its id purged its old sessions itself on
	// start; purging now would take its new ones.
	if cl := n.peers.cluster.Load(); cl != nil {
		for _, cur := range cl.Members() {
			if cur.ID == m.ID && cur.Started > m.Started && cur.State == cluster.StateAlive {
				return
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := "purge:" + m.ID + ":" + time.UnixMilli(m.Started).UTC().Format(time.RFC3339Nano)
	winner, err := n.mailbox.Claim(ctx, key, n.cfg.NodeID, time.Hour)
	if err != nil {
		n.log.Warn("purge of a dead node not claimed; purging anyway (idempotent)", "dead", m.ID, "err", err)
	} else if winner != n.cfg.NodeID {
		return
	}
	removed, err := n.registry.PurgeNode(ctx, m.ID)
	if err != nil {
		n.log.Error("purge of a dead node failed", "dead", m.ID, "err", err)
		return
	}
	n.log.Info("purged the sessions of a dead node", "dead", m.ID, "sessions", removed)
}
