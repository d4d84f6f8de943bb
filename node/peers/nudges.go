package peers

import (
	"context"
	"time"
)

// takeNudgesLoop catches up this node's sessions reading the streams other
// nodes nudged it for (a message they could not hand over live), one store
// read per NudgeInterval.
func (p *Peers) takeNudgesLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.NudgeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			tctx, cancel := context.WithTimeout(ctx, storeTimeout)
			p.takeNudges(tctx)
			cancel()
		}
	}
}

func (p *Peers) takeNudges(ctx context.Context) {
	const batch = 1000
	for ctx.Err() == nil {
		streams, err := p.cfg.Mailbox.TakeNudges(ctx, p.cfg.Node, batch)
		if err != nil {
			p.log.Debug("nudges not read", "err", err)
			return
		}
		for _, st := range streams {
			for _, s := range p.hub.StreamReaders(st) {
				s.CatchUp(st)
			}
		}
		if len(streams) < batch {
			return
		}
	}
}
