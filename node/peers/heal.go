package peers

import (
	"context"
	"errors"
	"net"
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
	if n, err := h.RegisterMissing(ctx); err != nil {
		p.log.Warn("sessions whose registration failed are not registered yet", "registered", n, "err", err)
	} else if n > 0 {
		p.log.Info("registered sessions whose registration had failed", "sessions", n)
	}
	if n, err := h.RemoveLeft(ctx); err != nil {
		p.log.Warn("closed sessions are not unregistered yet", "err", err)
	} else if n > 0 {
		p.log.Info("unregistered closed sessions whose removal had failed", "sessions", n)
	}
	held := h.RegisteredCount()
	registered, err := p.cfg.Registry.KeepNode(ctx, p.cfg.Node)
	// Unreachable means refused or failing, not slow: a check that timed out
	// on a loaded store says nothing its arrivals do not (they wait, and
	// past --max-connecting the node sheds as store_slow), and refusing
	// every client for a heal interval on one late answer would turn a
	// slow moment into an outage.
	p.storeDown.Store(err != nil && !isTimeout(err))
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

// isTimeout reports an error that is the store being slow: a deadline (the
// check's context) or a network timeout (the client's read timeout).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
