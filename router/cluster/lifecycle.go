package cluster

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Leave tells the cluster this node is going away, waiting up to timeout: first a
// direct "leaving" message to every live peer (so they report OnLeft, not OnDead),
// then memberlist's leave broadcast. The node still answers gossip until Shutdown.
// Calling it again, or after Shutdown, does nothing.
func (c *Cluster) Leave(timeout time.Duration) error {
	c.life.Lock()
	defer c.life.Unlock()
	c.mu.Lock()
	already := c.left
	c.left = true
	started := c.meta.Started
	c.mu.Unlock()
	if already || c.shutdown {
		return nil
	}
	c.stopRejoin() // a leaving node must not rejoin
	deadline := time.Now().Add(timeout)
	c.announceLeave(started, timeout/2)
	if err := c.ml.Leave(time.Until(deadline)); err != nil {
		return errors.Join(errors.New("cluster: leave"), err)
	}
	c.log.Info("left the cluster")
	return nil
}

// announceLeave tells every live peer that this node is leaving, over TCP in
// parallel, and waits at most wait for their acknowledgements. A peer that misses it
// (unreachable just now) will report this node dead rather than left: the safe side.
func (c *Cluster) announceLeave(started int64, wait time.Duration) {
	lw := &leaveWait{pending: map[string]bool{}, done: make(chan struct{})}
	var peers []Member
	for _, m := range c.table.list() {
		if m.State == StateAlive || m.State == StateSuspect {
			peers = append(peers, m)
			lw.pending[m.ID] = true
		}
	}
	if len(peers) == 0 {
		return
	}
	c.mu.Lock()
	c.leaveWait = lw
	c.mu.Unlock()
	for _, m := range peers {
		go c.send(m, msgLeave, leaveMsg{ID: c.id, Started: started})
	}
	select {
	case <-lw.done:
	case <-time.After(wait):
		c.log.Warn("leaving without every peer's acknowledgement; those will report this node dead", "missing", lw.missing())
	}
}

// leaveWait counts the acknowledgements of a leave announcement.
type leaveWait struct {
	mu      sync.Mutex
	pending map[string]bool
	done    chan struct{}
}

func (c *Cluster) leaveAcked(peer string) {
	c.mu.Lock()
	lw := c.leaveWait
	c.mu.Unlock()
	if lw == nil {
		return
	}
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.pending[peer] {
		delete(lw.pending, peer)
		if len(lw.pending) == 0 {
			close(lw.done)
		}
	}
}

func (lw *leaveWait) missing() []string {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	out := make([]string, 0, len(lw.pending))
	for id := range lw.pending {
		out = append(out, id)
	}
	return out
}

// send delivers one user message to a peer over TCP (blocking up to memberlist's
// TCPTimeout); failures are only logged, the leave handshake being best effort.
func (c *Cluster) send(to Member, kind byte, body leaveMsg) {
	node, err := nodeAt(to)
	if err != nil {
		return
	}
	b, _ := json.Marshal(body)
	if err := c.ml.SendReliable(node, append([]byte{kind}, b...)); err != nil {
		c.log.Debug("leave message not delivered", "peer", to.ID, "kind", string(kind), "err", err)
	}
}

// nodeAt builds the memberlist.Node SendReliable needs from our own copy of a
// member (memberlist's node structs may change under us).
func nodeAt(m Member) (*memberlist.Node, error) {
	ap, err := netip.ParseAddrPort(m.Addr)
	if err != nil {
		return nil, err
	}
	return &memberlist.Node{Name: m.ID, Addr: net.IP(ap.Addr().AsSlice()), Port: ap.Port()}, nil
}

// Shutdown stops gossip at once (without Leave the others will declare this node
// dead), stops the rejoin loop and the event callbacks (pending events are dropped;
// one running is waited for). Idempotent.
func (c *Cluster) Shutdown() error {
	c.life.Lock()
	defer c.life.Unlock()
	if c.shutdown {
		return nil
	}
	c.shutdown = true
	c.stopRejoin()
	<-c.rejoinDone
	err := c.ml.Shutdown()
	c.events.close()
	return err
}

func (c *Cluster) stopRejoin() { c.stopOnce.Do(func() { close(c.stop) }) }

// rejoinLoop heals the cluster after failures and partitions. memberlist alone does
// not: a node that was cut off declares everyone dead and, being alone, gossips with
// nobody; the others stop probing it once it is dead. So, with backoff, this node
// contacts (a) its seeds whenever it has no live peer and (b) the address of every
// member it remembers as dead (not left), like Serf's reconnect. Whichever side
// reaches the other first pushes its state; each node that sees itself reported dead
// refutes with a higher incarnation, and all sides come back alive.
func (c *Cluster) rejoinLoop() {
	defer close(c.rejoinDone)
	minWait, maxWait := c.cfg.Tuning.RejoinMin, c.cfg.Tuning.RejoinMax
	wait := minWait
	timer := time.NewTimer(jitter(wait))
	defer timer.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-timer.C:
		}
		targets := c.rejoinTargets()
		if len(targets) == 0 {
			wait = minWait
		} else {
			for _, t := range targets {
				select {
				case <-c.stop:
					return
				default:
				}
				if err := c.join([]string{t}); err != nil {
					c.log.Debug("rejoin attempt failed", "target", t, "err", err)
					if refusal := c.takeRefusal(); refusal != nil {
						c.log.Error("rejoin refused", "target", t, "err", refusal)
					}
				} else {
					c.log.Info("rejoined through", "target", t)
				}
			}
			wait = min(2*wait, maxWait)
		}
		timer.Reset(jitter(wait))
	}
}

// rejoinTargets lists whom the rejoin loop should contact now.
func (c *Cluster) rejoinTargets() []string {
	anyLive, dead := c.table.rejoinState()
	var out []string
	seen := map[string]bool{c.addr: true}
	if !anyLive {
		for _, s := range c.seeds() {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	for _, a := range dead {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// jitter spreads retries of many nodes over ±20% so they do not arrive together.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}
