// Package peers is this node's part in the cluster: membership over gossip
// (router/cluster), the delivery links to the other nodes (router/forward),
// and the loops that keep the shared registry true to what the node holds:
//
//   - peers.go: join and leave, who is alive, sending envelopes;
//   - purge.go: forgetting the sessions of a dead node, exactly once;
//   - heal.go: the registry healer, which registers this node's sessions
//     again when the registry lost them;
//   - nudges.go: the nudge taker, which catches up sessions whose messages
//     another node could not hand over live.
//
// A node without gossip still runs the healer (one node on Redis); every
// other method is then a no-op, so a single node pays nothing.
package peers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"courier/node/hub"
	"courier/router/cluster"
	"courier/router/forward"
	"courier/router/mailbox"
	"courier/router/registry"
)

// Metrics receives what the peers count. Safe for concurrent use.
type Metrics interface {
	// Purged counts a dead node whose sessions this node purged.
	Purged()
	// LinksOpened hands over the links' counters, read when scraped; it is
	// called at most once, when the peer links start.
	LinksOpened(stats func() forward.Stats)
}

// Config builds Peers. Zero durations take the defaults.
type Config struct {
	Node string
	// APIAddr is the API address announced until Start learns the real one.
	APIAddr      string
	GossipListen string   // empty (and no GossipTransport): no cluster
	Join         []string // gossip seeds
	PeerListen   string   // empty: no delivery links
	Secret       string   // gossip encryption and peer-link authentication
	// Store names the shared store (the --redis URL, "" for memory): nodes
	// on different stores refuse each other.
	Store string

	Registry registry.Sessions
	Mailbox  Store
	Metrics  Metrics
	Log      *slog.Logger

	HealInterval time.Duration // how often the healer compares counts; default 5s
	// PurgeGrace is how long a member declared dead must stay dead before
	// its sessions are purged, default 500ms: a node that was only starved
	// of CPU past the suspicion time refutes its death within it and keeps
	// its sessions.
	PurgeGrace    time.Duration
	NudgeInterval time.Duration // how often nudges are taken; default 250ms

	// Test hooks: a gossip transport that can be cut, fast memberlist
	// timers, and the dialer of peer links.
	GossipTransport memberlist.NodeAwareTransport
	GossipTuning    cluster.Tuning
	PeerDial        func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Store is what the peers need of the mailbox: a claim elects the one
// survivor that purges a dead node; nudges are taken by the nudge loop.
type Store interface {
	mailbox.Claims
	mailbox.Nudges
}

// Clustered reports whether the config joins a cluster.
func (c Config) Clustered() bool { return c.GossipListen != "" || c.GossipTransport != nil }

// Peers is the node's view of the rest of the cluster. Make it with New,
// start it with Start once the API address is known, stop it with Stop.
// Safe for concurrent use.
type Peers struct {
	cfg Config
	log *slog.Logger
	hub *hub.Hub // set by SetHub before Start

	// cluster is set once joined; membership events may arrive before.
	// links and server are set before it and never change after.
	cluster atomic.Pointer[cluster.Cluster]
	links   *forward.Links
	server  *forward.Server

	// ctx is the node's lifetime from Start, ended early by Stop or Halt:
	// the peers' loops, purges and store calls derive from it.
	ctx context.Context

	// storeDown is set while the healer's last look at the registry failed
	// other than by timing out.
	storeDown atomic.Bool

	mu      sync.RWMutex
	alive   map[string]cluster.Member // by id, without self
	apiAddr string
	stopped bool
	stop    context.CancelFunc // ends ctx
	loops   sync.WaitGroup
}

var _ hub.Peers = (*Peers)(nil)

// New makes Peers that are not yet started.
func New(cfg Config) (*Peers, error) {
	if cfg.Node == "" || cfg.Registry == nil || cfg.Mailbox == nil || cfg.Log == nil {
		return nil, errors.New("peers: Config.Node, Registry, Mailbox and Log are required")
	}
	if cfg.HealInterval <= 0 {
		cfg.HealInterval = 5 * time.Second
	}
	if cfg.NudgeInterval <= 0 {
		cfg.NudgeInterval = 250 * time.Millisecond
	}
	if cfg.PurgeGrace <= 0 {
		cfg.PurgeGrace = 500 * time.Millisecond
	}
	return &Peers{cfg: cfg, log: cfg.Log.With("component", "peers"), alive: map[string]cluster.Member{}, apiAddr: cfg.APIAddr}, nil
}

// SetHub gives the peers the hub they deliver to; call it before Start.
func (p *Peers) SetHub(h *hub.Hub) { p.hub = h }

// Start joins the cluster and opens the delivery links, announcing apiAddr
// as this node's API (a node without gossip skips this), forgets what a
// previous run under this id left in the registry, and starts the healer
// and, in a cluster, the nudge taker. The loops end with ctx or Stop.
func (p *Peers) Start(ctx context.Context, apiAddr string) error {
	if p.hub == nil {
		return errors.New("peers: no hub; call SetHub before Start")
	}
	p.mu.Lock()
	p.apiAddr = apiAddr
	// Before the cluster, whose events read it; Stop and Halt cancel it.
	p.ctx, p.stop = context.WithCancel(ctx)
	p.mu.Unlock()
	if p.cfg.Clustered() {
		if err := p.join(ctx, apiAddr); err != nil {
			p.closeLinks()
			return err
		}
	}
	// Joined under this id (a duplicate is refused by the cluster): whatever
	// the registry still holds for it is from a previous run.
	p.purgeSelf(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return errors.New("peers: stopped while starting")
	}
	p.loops.Add(1)
	go func() { defer p.loops.Done(); p.healRegistryLoop(p.ctx) }()
	if p.Enabled() {
		p.loops.Add(1)
		go func() { defer p.loops.Done(); p.takeNudgesLoop(p.ctx) }()
	}
	return nil
}

func (p *Peers) join(ctx context.Context, apiAddr string) error {
	peerAddr := ""
	if p.cfg.PeerListen != "" {
		h := p.hub
		srv, err := forward.NewServer(forward.ServerConfig{
			Listen: p.cfg.PeerListen, Secret: p.cfg.Secret, NodeID: p.cfg.Node,
			Log: p.cfg.Log.With("component", "peer-server"),
			Handler: func(from string, envs []forward.Envelope) {
				ctx, cancel := context.WithTimeout(ctx, storeTimeout)
				defer cancel()
				h.HandleEnvelopes(ctx, from, envs)
			},
		})
		if err != nil {
			return fmt.Errorf("--peer-listen: %w", err)
		}
		links, err := forward.NewLinks(forward.LinksConfig{
			NodeID: p.cfg.Node, Secret: p.cfg.Secret, Log: p.cfg.Log.With("component", "peer-links"),
			NetDial: p.cfg.PeerDial,
		})
		if err != nil {
			_ = srv.Close()
			return err
		}
		p.server, p.links, peerAddr = srv, links, srv.Addr()
		if p.cfg.Metrics != nil {
			p.cfg.Metrics.LinksOpened(links.Stats)
		}
	}
	cl, err := cluster.New(cluster.Config{
		NodeID:       p.cfg.Node,
		GossipListen: p.cfg.GossipListen,
		Join:         p.cfg.Join,
		Secret:       p.cfg.Secret,
		Meta:         cluster.NodeMeta{APIAddr: apiAddr, PeerAddr: peerAddr, Store: storeID(p.cfg.Store)},
		Log:          p.cfg.Log.With("component", "cluster"),
		Events: cluster.Events{
			OnAlive:  func(m cluster.Member) { p.setAlive(m, true) },
			OnUpdate: func(m cluster.Member) { p.setAlive(m, true) },
			OnDead:   p.gone,
			OnLeft:   p.gone,
		},
		Tuning:    p.cfg.GossipTuning,
		Transport: p.cfg.GossipTransport,
	})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	p.cluster.Store(cl)
	return nil
}

// Stop leaves the cluster gracefully, so the others see "left" at once
// rather than waiting to declare this node dead, closes the links, ends the
// loops, and forgets this node's sessions in the registry. It waits for
// the loops; calling it twice, or before Start, is safe.
func (p *Peers) Stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	p.endLoops()
	if cl := p.cluster.Load(); cl != nil {
		if err := cl.Leave(2 * time.Second); err != nil {
			p.log.Warn("leaving the cluster", "err", err)
		}
	}
	p.halt()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	p.purgeSelf(ctx)
}

// Halt stops gossip, the links and the loops without leaving the cluster
// and without purging: what a crashed node leaves behind, for tests that
// play a crash in process. Stop afterwards only purges.
func (p *Peers) Halt() {
	p.endLoops()
	p.halt()
}

// endLoops ends the healer and the nudge taker and waits for them.
func (p *Peers) endLoops() {
	p.mu.Lock()
	stop := p.stop
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
	p.loops.Wait()
}

// halt shuts gossip down and closes the links.
func (p *Peers) halt() {
	if cl := p.cluster.Load(); cl != nil {
		_ = cl.Shutdown()
	}
	p.closeLinks()
}

func (p *Peers) closeLinks() {
	if p.links != nil {
		_ = p.links.Close()
	}
	if p.server != nil {
		_ = p.server.Close()
	}
}

// storeTimeout bounds one store call of the peers' own.
const storeTimeout = 5 * time.Second

// Enabled reports whether this node joined a cluster.
func (p *Peers) Enabled() bool { return p != nil && p.cluster.Load() != nil }

// Others lists the alive nodes other than this one.
func (p *Peers) Others() []string {
	if !p.Enabled() {
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

// Send queues env for node's link. False: no link, or the link dropped it;
// the mailbox still holds any message, and replay delivers it.
func (p *Peers) Send(node string, env forward.Envelope) bool {
	if !p.Enabled() || p.links == nil {
		return false
	}
	p.mu.RLock()
	addr := p.alive[node].PeerAddr
	p.mu.RUnlock()
	if addr == "" {
		return false
	}
	return p.links.Send(node, addr, env)
}

// StoreReachable reports whether the healer's last look at the registry
// (every HealInterval) succeeded or only timed out; true before the first.
func (p *Peers) StoreReachable() bool { return !p.storeDown.Load() }

// PeerAddr is where this node's delivery links listen ("" without them).
func (p *Peers) PeerAddr() string {
	if p.server == nil || !p.Enabled() {
		return ""
	}
	return p.server.Addr()
}

// LinkStats are the links' counters (zero without links).
func (p *Peers) LinkStats() forward.Stats {
	if p.links == nil || !p.Enabled() {
		return forward.Stats{}
	}
	return p.links.Stats()
}

func (p *Peers) setAlive(m cluster.Member, alive bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if alive {
		p.alive[m.ID] = m
	} else if cur, ok := p.alive[m.ID]; ok && cur.Started <= m.Started {
		delete(p.alive, m.ID)
	}
}

// gone is a member declared dead or left: its link goes, and its sessions
// are purged from the registry after purgeGrace, unless it is alive again
// by then. The purge runs off memberlist's event goroutine, which must not
// wait on the store.
func (p *Peers) gone(m cluster.Member) {
	p.setAlive(m, false)
	if p.links != nil {
		p.links.Remove(m.ID)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.loops.Add(1)
	go func() {
		defer p.loops.Done()
		t := time.NewTimer(p.cfg.PurgeGrace)
		defer t.Stop()
		select {
		case <-t.C:
		case <-p.ctx.Done():
			return
		}
		p.purgeDead(m)
	}()
}
