package peers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"time"

	"courier/router/cluster"
)

// purgeDead forgets the sessions of a dead node. Every survivor hears of the
// death; a claim in the store lets exactly one of them do the purge.
func (p *Peers) purgeDead(m cluster.Member) {
	// Alive again: a node that restarted under its id purged its old
	// sessions itself on start, and purging now would take its new ones; a
	// node that was only starved refuted its death and still holds its own.
	if cl := p.cluster.Load(); cl != nil {
		for _, cur := range cl.Members() {
			if cur.ID == m.ID && cur.Started >= m.Started && cur.State == cluster.StateAlive {
				p.log.Info("a node declared dead is alive again; not purged", "node", m.ID)
				return
			}
		}
	}
	ctx, cancel := context.WithTimeout(p.ctx, 2*storeTimeout)
	defer cancel()
	key := "purge:" + m.ID + ":" + time.UnixMilli(m.Started).UTC().Format(time.RFC3339Nano)
	winner, err := p.cfg.Mailbox.Claim(ctx, key, p.cfg.Node, time.Hour)
	if err != nil {
		p.log.Warn("purge of a dead node not claimed; purging anyway (idempotent)", "dead", m.ID, "err", err)
	} else if winner != p.cfg.Node {
		return
	}
	removed, err := p.cfg.Registry.PurgeNode(ctx, m.ID)
	if err != nil {
		p.log.Error("purge of a dead node failed", "dead", m.ID, "err", err)
		return
	}
	if p.cfg.Metrics != nil {
		p.cfg.Metrics.Purged()
	}
	p.log.Info("purged the sessions of a dead node", "dead", m.ID, "sessions", removed)
}

// purgeSelf forgets what the registry holds for this node's id: sessions
// of a previous run on start, this run's on stop.
func (p *Peers) purgeSelf(ctx context.Context) {
	if removed, err := p.cfg.Registry.PurgeNode(ctx, p.cfg.Node); err != nil {
		p.log.Warn("could not clear this node's sessions in the registry", "err", err)
	} else if removed > 0 {
		p.log.Info("cleared this node's sessions in the registry", "sessions", removed)
	}
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
