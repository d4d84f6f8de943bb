// Package cluster is courier's membership: which nodes are up, where to reach them,
// and callbacks when that changes. It runs hashicorp/memberlist (SWIM gossip) tuned
// for a LAN; see README.md.
package cluster

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Cluster is this node's membership. Its methods are safe for concurrent use.
type Cluster struct {
	id     string
	cfg    Config
	log    *slog.Logger
	ml     *memberlist.Memberlist
	addr   string // advertised gossip address, ip:port
	table  *table
	events *eventQueue
	since  time.Time

	mu      sync.Mutex
	meta    NodeMeta
	encoded []byte
	refusal error // set by the merge delegate, read by New
	left    bool
	// leaveWait collects acknowledgements while Leave announces itself.
	leaveWait *leaveWait

	// life orders Leave against Shutdown: memberlist panics on Leave after Shutdown.
	life     sync.Mutex
	shutdown bool

	stop       chan struct{} // closed by Leave or Shutdown: stops the rejoin loop
	stopOnce   sync.Once
	rejoinDone chan struct{}
}

// New starts memberlist on cfg.GossipListen and joins cfg.Join. It fails when the
// seeds refuse this node (another store, the in-memory store, a live node with the
// same id). Seeds that do not answer are not fatal: the node runs alone and keeps
// retrying them in the background.
func New(cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Cluster{
		id:         cfg.NodeID,
		cfg:        cfg,
		log:        cfg.Log,
		meta:       cfg.Meta,
		events:     newEventQueue(),
		since:      time.Now(),
		stop:       make(chan struct{}),
		rejoinDone: make(chan struct{}),
	}
	var err error
	if c.encoded, err = c.meta.encode(); err != nil {
		return nil, err
	}
	mc := cfg.Tuning.memberlistConfig()
	c.table = newTable(cfg.RememberDead, longestSuspicion(mc))
	bridge := &logBridge{log: cfg.Log.With("from", "memberlist"), onSuspect: c.table.markSuspect}
	logger := newStdLogger(bridge)

	transport := cfg.Transport
	if transport == nil {
		if transport, err = listen(cfg.GossipListen, logger); err != nil {
			c.events.close()
			return nil, err
		}
	}
	ip, port, err := transport.FinalAdvertiseAddr("", 0)
	if err != nil {
		_ = transport.Shutdown()
		c.events.close()
		return nil, fmt.Errorf("cluster: advertise address: %w", err)
	}
	c.addr = net.JoinHostPort(ip.String(), strconv.Itoa(port))

	mc.Name = cfg.NodeID
	mc.Transport = transport
	mc.BindPort, mc.AdvertiseAddr, mc.AdvertisePort = port, ip.String(), port
	mc.Logger = logger
	d := delegate{c}
	mc.Delegate, mc.Events, mc.Alive, mc.Merge, mc.Conflict, mc.Ping = d, d, d, d, d, d
	if cfg.Secret != "" {
		key := sha256.Sum256([]byte(cfg.Secret))
		mc.SecretKey = key[:] // 32 bytes: AES-256-GCM
	}
	if c.ml, err = memberlist.Create(mc); err != nil {
		_ = transport.Shutdown()
		c.events.close()
		return nil, fmt.Errorf("cluster: start memberlist: %w", err)
	}
	c.log.Info("gossip listening", "addr", c.addr, "encrypted", cfg.Secret != "")

	if seeds := c.seeds(); len(seeds) > 0 {
		if err := c.join(seeds); err != nil {
			if refusal := c.takeRefusal(); refusal != nil {
				_ = c.ml.Shutdown()
				c.events.close()
				return nil, fmt.Errorf("cluster: join refused: %w", refusal)
			}
			if secretMismatch(err) {
				_ = c.ml.Shutdown()
				c.events.close()
				return nil, fmt.Errorf("%w (set the same --cluster-secret on every node): %v", ErrSecretMismatch, err)
			}
			c.log.Warn("no seed answered; running alone and retrying in the background", "seeds", seeds, "err", err)
		}
	}
	go c.rejoinLoop()
	return c, nil
}

// listen binds memberlist's UDP+TCP transport. With port 0 the kernel picks the TCP
// port and the UDP one must match, which can collide: retry like memberlist does.
func listen(addr string, logger *log.Logger) (memberlist.NodeAwareTransport, error) {
	host, port, err := splitListen(addr)
	if err != nil {
		return nil, err
	}
	tries := 1
	if port == 0 {
		tries = 10
	}
	for range tries {
		var nt *memberlist.NetTransport
		nt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{host}, BindPort: port, Logger: logger})
		if err == nil {
			return nt, nil
		}
	}
	return nil, fmt.Errorf("cluster: listen on %s: %w", addr, err)
}

// longestSuspicion bounds how long a failed probe of ours can leave a node suspect
// before memberlist declares it dead or it refutes (memberlist's maximum suspicion
// timeout for up to 10 nodes, plus a probe interval); a later ack clears it sooner.
func longestSuspicion(mc *memberlist.Config) time.Duration {
	return time.Duration(mc.SuspicionMaxTimeoutMult*mc.SuspicionMult)*mc.ProbeInterval + mc.ProbeInterval
}

// seeds returns the configured seeds other than this node's own address (every node
// may be given the same list).
func (c *Cluster) seeds() []string {
	var out []string
	for _, s := range c.cfg.Join {
		if s != c.addr {
			out = append(out, s)
		}
	}
	return out
}

var errNoSeed = errors.New("cluster: no seed answered")

// join contacts the targets one by one; nil if any answered.
func (c *Cluster) join(targets []string) error {
	c.takeRefusal()
	n, err := c.ml.Join(targets)
	if n > 0 {
		return nil
	}
	if err == nil {
		return errNoSeed
	}
	// memberlist returns a go-multierror whose text spans lines; keep logs on one.
	if me, ok := err.(interface{ WrappedErrors() []error }); ok {
		var parts []string
		for _, e := range me.WrappedErrors() {
			parts = append(parts, e.Error())
		}
		err = errors.New(strings.Join(parts, "; "))
	}
	return err
}

// secretMismatch recognises memberlist's encryption errors in a failed join. They
// reach us only as text (memberlist formats join errors with %v), and every one of
// them (no key could decrypt, remote state (not) encrypted) mentions "crypt".
func secretMismatch(err error) bool {
	return err != nil && strings.Contains(err.Error(), "crypt")
}

// emit queues events for the callbacks.
func (c *Cluster) emit(evs []event) {
	for _, ev := range evs {
		var f func(Member)
		switch ev.kind {
		case evAlive:
			f = c.cfg.Events.OnAlive
		case evDead:
			f = c.cfg.Events.OnDead
		case evLeft:
			f = c.cfg.Events.OnLeft
		case evUpdate:
			f = c.cfg.Events.OnUpdate
		}
		c.log.Info("member "+string(ev.m.State), "event", ev.kind.String(), "peer", ev.m.ID, "addr", ev.m.Addr, "started", ev.m.Started)
		if f != nil {
			m := ev.m
			c.events.push(func() { f(m) })
		}
	}
}

func (k eventKind) String() string {
	return [...]string{"alive", "dead", "left", "update"}[k]
}

// Addr is the gossip address this node advertises (the bound port when GossipListen
// asked for port 0); other nodes can use it as a seed.
func (c *Cluster) Addr() string { return c.addr }

// Self describes this node.
func (c *Cluster) Self() Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	state := StateAlive
	if c.left {
		state = StateLeft
	}
	return Member{ID: c.id, Addr: c.addr, APIAddr: c.meta.APIAddr, PeerAddr: c.meta.PeerAddr,
		Store: c.meta.Store, Started: c.meta.Started, State: state, Since: c.since}
}

// Members lists this node and every other node it knows, sorted by id: live ones
// (alive or suspect) and, for RememberDead, those that died or left.
func (c *Cluster) Members() []Member {
	peers := c.table.list()
	out := make([]Member, 0, len(peers)+1)
	self := c.Self()
	placed := false
	for _, m := range peers {
		if !placed && self.ID < m.ID {
			out, placed = append(out, self), true
		}
		out = append(out, m)
	}
	if !placed {
		out = append(out, self)
	}
	return out
}

func (c *Cluster) metaBytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.encoded
}

func (c *Cluster) selfMeta() NodeMeta {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.meta
}

// UpdateMeta changes the addresses this node advertises and gossips them, waiting up
// to timeout for the broadcast to go out. Started and Store are fixed for the life of
// the process: zero keeps them, another value is an error.
func (c *Cluster) UpdateMeta(meta NodeMeta, timeout time.Duration) error {
	c.mu.Lock()
	if meta.Started == 0 {
		meta.Started = c.meta.Started
	}
	if meta.Store == "" {
		meta.Store = c.meta.Store
	}
	if meta.Started != c.meta.Started || meta.Store != c.meta.Store {
		c.mu.Unlock()
		return fmt.Errorf("cluster: UpdateMeta cannot change Started or Store")
	}
	b, err := meta.encode()
	if err == nil && len(b) > memberlist.MetaMaxSize {
		err = fmt.Errorf("cluster: node metadata is %d bytes, memberlist allows %d", len(b), memberlist.MetaMaxSize)
	}
	if err != nil {
		c.mu.Unlock()
		return err
	}
	c.meta, c.encoded = meta, b
	c.mu.Unlock()

	c.life.Lock()
	defer c.life.Unlock()
	if c.shutdown {
		return fmt.Errorf("cluster: UpdateMeta after Shutdown")
	}
	return c.ml.UpdateNode(timeout)
}
