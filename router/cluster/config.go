package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Defaults taken by zero fields of Config and Tuning.
const (
	// DefaultRememberDead is how long a dead or left member stays in Members(), so
	// /v1/cluster can show what went away.
	DefaultRememberDead = 5 * time.Minute
	// DefaultRejoinMin and DefaultRejoinMax bound the backoff of the background rejoin.
	DefaultRejoinMin = time.Second
	DefaultRejoinMax = 30 * time.Second
	// DefaultDeadNodeReclaim lets a node that died come back under the same id from a
	// new address (a rescheduled pod) once this long has passed. memberlist's own
	// default (0) would refuse the new address forever; the delay keeps stale gossip
	// about the old address from flipping the entry back.
	DefaultDeadNodeReclaim = 10 * time.Second
)

// Config of one cluster member. The zero value of every optional field is a default.
type Config struct {
	// NodeID is this node's unique name in the cluster (required).
	NodeID string
	// GossipListen is the "ip:port" memberlist binds to; port 0 picks a free port (tests),
	// and the bound port is advertised. An empty ip means all interfaces, and then
	// memberlist advertises a private address of this host. Required unless Transport
	// is set.
	GossipListen string
	// Join lists seeds ("host:port", DNS names allowed; memberlist resolves them).
	// Empty: this node starts a cluster of its own and waits for others to join it.
	Join []string
	// Secret encrypts gossip with AES-256 (the key is the SHA-256 of the secret).
	// Nodes with different secrets cannot understand each other. Empty: no encryption.
	Secret string
	// Meta is what the other members learn about this node.
	Meta NodeMeta
	// Log receives the package's logs and memberlist's own; nil discards them.
	Log *slog.Logger
	// Events are called on a goroutine of this package, one at a time, in order.
	Events Events
	// RememberDead is how long dead and left members stay listed (default 5 min).
	RememberDead time.Duration
	// Tuning overrides memberlist's LAN timers (tests make them fast).
	Tuning Tuning
	// Transport, when set, replaces memberlist's UDP+TCP transport (already bound;
	// GossipListen is then ignored). Tests pass a PartitionableTransport. The Cluster
	// owns it: Shutdown shuts it down.
	Transport memberlist.NodeAwareTransport
}

// Tuning overrides the failure detector's timers; zero keeps courier's default:
// memberlist's DefaultLANConfig (push/pull every 30 s, ...) with a longer probe and a
// shorter suspicion (DefaultProbeInterval, DefaultProbeTimeout, DefaultSuspicionMult).
type Tuning struct {
	ProbeInterval    time.Duration
	ProbeTimeout     time.Duration
	GossipInterval   time.Duration
	PushPullInterval time.Duration
	SuspicionMult    int
	// SuspicionMaxTimeoutMult stretches the suspicion while few peers confirm it
	// (LAN default 6): a node cut off from everyone takes that much longer to declare
	// the others dead than they take to declare it dead.
	SuspicionMaxTimeoutMult int
	TCPTimeout              time.Duration
	// GossipToTheDead is how long dead nodes still get gossip (a chance to refute).
	GossipToTheDead time.Duration
	// DeadNodeReclaim: see DefaultDeadNodeReclaim.
	DeadNodeReclaim time.Duration
	// RejoinMin and RejoinMax bound the backoff of the background rejoin.
	RejoinMin, RejoinMax time.Duration
}

// Events are the membership callbacks. Each may be nil. They run on one goroutine of
// the package, never on memberlist's, so a slow callback delays later events but not
// gossip. Events are about other nodes; this node's own changes are not reported.
type Events struct {
	// OnAlive: a node joined, or came back after being dead or left (maybe restarted:
	// compare Started).
	OnAlive func(Member)
	// OnDead: memberlist declared the node failed (it stopped answering probes), or a
	// node restarted under the same id before it was declared failed (then OnDead
	// reports the old incarnation and OnAlive follows with the new one).
	OnDead func(Member)
	// OnLeft: the node announced a graceful Leave before going away.
	OnLeft func(Member)
	// OnUpdate: a live node changed its metadata (UpdateMeta).
	OnUpdate func(Member)
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	if c.NodeID == "" {
		return errors.New("cluster: NodeID is empty")
	}
	if c.Transport == nil {
		if _, _, err := splitListen(c.GossipListen); err != nil {
			return err
		}
	}
	for _, s := range c.Join {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return fmt.Errorf("cluster: join seed %q: want host:port: %v", s, err)
		}
	}
	if c.RememberDead < 0 {
		return fmt.Errorf("cluster: RememberDead %v is negative", c.RememberDead)
	}
	if err := c.Tuning.validate(); err != nil {
		return err
	}
	if b, err := c.Meta.withDefaults().encode(); err != nil {
		return err
	} else if len(b) > memberlist.MetaMaxSize {
		return fmt.Errorf("cluster: node metadata is %d bytes, memberlist allows %d", len(b), memberlist.MetaMaxSize)
	}
	return nil
}

func (t Tuning) validate() error {
	for name, d := range map[string]time.Duration{
		"ProbeInterval": t.ProbeInterval, "ProbeTimeout": t.ProbeTimeout,
		"GossipInterval": t.GossipInterval, "PushPullInterval": t.PushPullInterval,
		"TCPTimeout": t.TCPTimeout, "GossipToTheDead": t.GossipToTheDead,
		"DeadNodeReclaim": t.DeadNodeReclaim, "RejoinMin": t.RejoinMin, "RejoinMax": t.RejoinMax,
	} {
		if d < 0 {
			return fmt.Errorf("cluster: Tuning.%s %v is negative", name, d)
		}
	}
	if t.SuspicionMult < 0 || t.SuspicionMaxTimeoutMult < 0 {
		return fmt.Errorf("cluster: Tuning.SuspicionMult %d or SuspicionMaxTimeoutMult %d is negative", t.SuspicionMult, t.SuspicionMaxTimeoutMult)
	}
	if t.RejoinMin > 0 && t.RejoinMax > 0 && t.RejoinMin > t.RejoinMax {
		return fmt.Errorf("cluster: Tuning.RejoinMin %v exceeds RejoinMax %v", t.RejoinMin, t.RejoinMax)
	}
	return nil
}

// splitListen checks "ip:port" (ip may be empty: all interfaces). memberlist binds
// IP literals only, so a host name is refused here rather than deep in memberlist.
func splitListen(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("cluster: GossipListen %q: want ip:port: %v", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("cluster: GossipListen %q: bad port", addr)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("cluster: GossipListen %q: host must be an IP address", addr)
	}
	return host, port, nil
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.RememberDead == 0 {
		c.RememberDead = DefaultRememberDead
	}
	if c.Tuning.RejoinMin == 0 {
		c.Tuning.RejoinMin = DefaultRejoinMin
	}
	if c.Tuning.RejoinMax == 0 {
		c.Tuning.RejoinMax = max(DefaultRejoinMax, c.Tuning.RejoinMin)
	}
	if c.Tuning.DeadNodeReclaim == 0 {
		c.Tuning.DeadNodeReclaim = DefaultDeadNodeReclaim
	}
	c.Meta = c.Meta.withDefaults()
	return c
}

// courier's failure detection, in place of the LAN default's (probe every 1 s, wait
// 500 ms for the ack, suspect for 4 probe intervals). A probe fails when neither the
// ping, nor the indirect pings through 3 other nodes, nor the TCP fallback brought an
// ack within one probe interval. On a box saturated by a connect storm a node's
// process can go that long without the CPU to answer (10 nodes, a 150,000-connection
// ramp on 2 cores: a few suspicions per run, each refuted), so the probe gets 1.5 s.
// The suspicion is shortened to keep a dead node's purge within 10 s: in a 3-node
// cluster at worst 2 probe intervals until one of the 2 others probes it, 1.5 s of
// probe, 3 s of suspicion (2 × max(1, log10 n) probe intervals, n ≤ 10), the node's
// 500 ms purge grace: 8 s. An alive node stalled past its probe still has those 3 s to
// refute once it runs again.
const (
	DefaultProbeInterval = 1500 * time.Millisecond
	DefaultProbeTimeout  = time.Second
	DefaultSuspicionMult = 2
)

// memberlistConfig is DefaultLANConfig with courier's failure detection and the tuning
// applied; the caller sets the name, addresses, transport and delegates.
func (t Tuning) memberlistConfig() *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.ProbeInterval, mc.ProbeTimeout = DefaultProbeInterval, DefaultProbeTimeout
	mc.SuspicionMult = DefaultSuspicionMult
	set := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	set(&mc.ProbeInterval, t.ProbeInterval)
	set(&mc.ProbeTimeout, t.ProbeTimeout)
	set(&mc.GossipInterval, t.GossipInterval)
	set(&mc.PushPullInterval, t.PushPullInterval)
	set(&mc.TCPTimeout, t.TCPTimeout)
	set(&mc.GossipToTheDeadTime, t.GossipToTheDead)
	set(&mc.DeadNodeReclaimTime, t.DeadNodeReclaim)
	if t.SuspicionMult > 0 {
		mc.SuspicionMult = t.SuspicionMult
	}
	if t.SuspicionMaxTimeoutMult > 0 {
		mc.SuspicionMaxTimeoutMult = t.SuspicionMaxTimeoutMult
	}
	return mc
}
