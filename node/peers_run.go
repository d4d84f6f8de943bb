package node

import (
	"context"
	"fmt"
	"time"

	"courier/router/cluster"
	"courier/router/forward"
)

// startPeers joins the cluster and opens the delivery links once the API
// address is known. A node without gossip only forgets what a previous run
// under its id left in the registry.
func (n *Node) startPeers(apiAddr string) error {
	if n.cfg.GossipListen == "" && n.cfg.GossipTransport == nil {
		n.purgeSelf()
		n.startHealing()
		return nil
	}
	peerAddr := ""
	if n.cfg.PeerListen != "" {
		srv, err := forward.NewServer(forward.ServerConfig{
			Listen: n.cfg.PeerListen, Secret: n.cfg.ClusterSecret, NodeID: n.cfg.NodeID,
			Log: n.log.With("component", "peer-server"), Handler: n.onPeerEnvelopes,
		})
		if err != nil {
			return fmt.Errorf("--peer-listen: %w", err)
		}
		links, err := forward.NewLinks(forward.LinksConfig{
			NodeID: n.cfg.NodeID, Secret: n.cfg.ClusterSecret, Log: n.log.With("component", "peer-links"),
			NetDial: n.cfg.PeerDial,
		})
		if err != nil {
			_ = srv.Close()
			return err
		}
		n.peers.server, n.peers.links, peerAddr = srv, links, srv.Addr()
		n.metrics.registerLinks(links.Stats)
	}
	cl, err := cluster.New(cluster.Config{
		NodeID:       n.cfg.NodeID,
		GossipListen: n.cfg.GossipListen,
		Join:         n.cfg.Join,
		Secret:       n.cfg.ClusterSecret,
		Meta:         cluster.NodeMeta{APIAddr: apiAddr, PeerAddr: peerAddr, Store: storeID(n.cfg.Redis)},
		Log:          n.log.With("component", "cluster"),
		Events: cluster.Events{
			OnAlive:  func(m cluster.Member) { n.peers.setAlive(m, true) },
			OnUpdate: func(m cluster.Member) { n.peers.setAlive(m, true) },
			OnDead:   n.peerGone,
			OnLeft:   n.peerGone,
		},
		Tuning:    n.cfg.GossipTuning,
		Transport: n.cfg.GossipTransport,
	})
	if err != nil {
		n.stopPeers()
		return fmt.Errorf("cluster: %w", err)
	}
	n.peers.cluster.Store(cl)
	// Joined under this id (a duplicate is refused above): whatever the
	// registry still holds for it is from a previous run.
	n.purgeSelf()
	n.startHealing()
	return nil
}

func (n *Node) peerGone(m cluster.Member) {
	n.peers.setAlive(m, false)
	if n.peers.links != nil {
		n.peers.links.Remove(m.ID)
	}
	n.purgeOnce(m)
}

func (n *Node) purgeSelf() {
	ctx, cancel := n.storeContext()
	defer cancel()
	if removed, err := n.registry.PurgeNode(ctx, n.cfg.NodeID); err != nil {
		n.log.Warn("could not clear this node's sessions of a previous run", "err", err)
	} else if removed > 0 {
		n.log.Info("cleared this node's sessions of a previous run", "sessions", removed)
	}
}

// stopPeers leaves the cluster gracefully, so the others see "left" at once
// rather than waiting to declare this node dead, then closes the links.
func (n *Node) stopPeers() {
	if n.stopHealing != nil {
		n.stopHealing()
	}
	if cl := n.peers.cluster.Load(); cl != nil {
		if err := cl.Leave(2 * time.Second); err != nil {
			n.log.Warn("leaving the cluster", "err", err)
		}
		_ = cl.Shutdown()
	}
	if n.peers.links != nil {
		_ = n.peers.links.Close()
	}
	if n.peers.server != nil {
		_ = n.peers.server.Close()
	}
	n.purgeSelf()
}

// startHealing re-registers this node's sessions when the registry lost
// them: a store restarted empty, or the other nodes purged this one while a
// partition hid it. It compares counts, so it costs one read per period
// while all is well. Each session then reads its streams again, since
// pushes made meanwhile reached no one live. In a cluster it also takes the
// nudges of the other nodes (one read per NudgeInterval).
func (n *Node) startHealing() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	n.stopHealing = func() { cancel(); <-done }
	clustered := n.peers.enabled()
	go func() {
		defer close(done)
		t := time.NewTicker(n.cfg.HealInterval)
		defer t.Stop()
		var nudges <-chan time.Time
		if clustered {
			nt := time.NewTicker(n.cfg.NudgeInterval)
			defer nt.Stop()
			nudges = nt.C
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				n.healRegistry(ctx)
			case <-nudges:
				nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				n.takeNudges(nctx)
				cancel()
			}
		}
	}()
}

func (n *Node) healRegistry(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.HealInterval)
	defer cancel()
	// Held first: each of those sessions was registered before it entered
	// the hub, so the registry can only show fewer when it lost some, or
	// when one left in between (the hub forgets a session before the
	// registry does). A surplus is such leavers, not a loss; a shortfall
	// counts only when the next period sees it too.
	held := n.hub.count()
	counts, err := n.registry.NodeSessions(ctx)
	if err != nil {
		return
	}
	if counts[n.cfg.NodeID] >= held {
		n.healShort = false
		return
	}
	if !n.healShort {
		n.healShort = true
		return
	}
	n.healShort = false
	sessions := n.hub.all()
	n.log.Warn("registry lost sessions of this node; registering them again", "registry", counts[n.cfg.NodeID], "held", len(sessions))
	for _, s := range sessions {
		entry := n.registryEntry(s)
		if err := n.registry.Add(ctx, entry); err != nil {
			return // still down: next period
		}
		for _, room := range n.hub.roomsOf(s) {
			_ = n.registry.Join(ctx, room, entry)
		}
		s.Resync()
	}
}
