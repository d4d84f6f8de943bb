package peers

import (
	"context"
	"time"
)

// healRegistryLoop registers this node's sessions again when the registry
// lost them: a store restarted empty, or the other nodes purged this one
// while a partition hid it. It compares counts, so it costs one read per
// HealInterval while all is well (KeepNode, which also keeps the node's
// index from the store-side expiry). Each session then reads its streams
// again, since pushes made meanwhile reached no one live.
func (p *Peers) healRegistryLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.HealInterval)
	defer t.Stop()
	short := false // the last check found the registry short
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			short = p.healRegistry(ctx, short)
		}
	}
}

// healRegistry is one check; it returns whether the registry was short.
func (p *Peers) healRegistry(ctx context.Context, wasShort bool) bool {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.HealInterval)
	defer cancel()
	h := p.hub
	// Held first: each of those sessions was registered before it entered
	// the hub, so the registry can only show fewer when it lost some, or
	// when one left in between (the hub forgets a session before the
	// registry does). A surplus is such leavers, not a loss; a shortfall
	// counts only when the next check sees it too.
	held := h.RegisteredCount()
	registered, err := p.cfg.Registry.KeepNode(ctx, p.cfg.Node)
	p.storeDown.Store(err != nil)
	if err != nil {
		return wasShort
	}
	if registered >= held {
		return false
	}
	if !wasShort {
		return true
	}
	sessions := h.Sessions()
	p.log.Warn("registry lost sessions of this node; registering them again", "registry", registered, "held", len(sessions))
	for _, s := range sessions {
		if err := h.Reregister(ctx, s); err != nil {
			return false // still down: next check
		}
		s.Resync()
	}
	return false
}
