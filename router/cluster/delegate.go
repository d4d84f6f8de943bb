package cluster

import (
	"encoding/json"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
)

// delegate receives memberlist's callbacks. memberlist calls most of them while
// holding its node lock, so none may block: they update the table and queue events.
type delegate struct{ c *Cluster }

var (
	_ memberlist.Delegate         = delegate{}
	_ memberlist.EventDelegate    = delegate{}
	_ memberlist.AliveDelegate    = delegate{}
	_ memberlist.MergeDelegate    = delegate{}
	_ memberlist.ConflictDelegate = delegate{}
	_ memberlist.PingDelegate     = delegate{}
)

// User messages of the leave handshake. memberlist's NotifyLeave does not say whether
// a node failed or left (its Node.State is never set in v0.7.0), so a leaving node
// first tells every peer (msgLeave) and waits for their msgLeaveAck: only then does it
// broadcast memberlist's leave, so each peer has recorded the intent before it hears
// of the departure (a TCP message and a UDP broadcast would otherwise race).
const (
	msgLeave    byte = 'L'
	msgLeaveAck byte = 'A'
)

type leaveMsg struct {
	ID      string `json:"id"`
	Started int64  `json:"started,omitempty"`
}

// --- memberlist.Delegate

func (d delegate) NodeMeta(limit int) []byte {
	b := d.c.metaBytes()
	if len(b) > limit {
		// Validate and UpdateMeta check the size, so this is a bug, not input.
		d.c.log.Error("node metadata exceeds memberlist's limit; sending none", "size", len(b), "limit", limit)
		return nil
	}
	return b
}

func (d delegate) NotifyMsg(b []byte) {
	if len(b) == 0 || (b[0] != msgLeave && b[0] != msgLeaveAck) {
		return
	}
	var m leaveMsg
	if err := json.Unmarshal(b[1:], &m); err != nil {
		d.c.log.Warn("bad leave message", "err", err)
		return
	}
	if b[0] == msgLeaveAck {
		d.c.leaveAcked(m.ID)
		return
	}
	d.c.table.intendsToLeave(m.ID, m.Started)
	if peer, ok := d.c.table.get(m.ID); ok {
		go d.c.send(peer, msgLeaveAck, leaveMsg{ID: d.c.id}) // not on memberlist's goroutine
	}
}

func (delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (delegate) LocalState(join bool) []byte                { return nil }
func (delegate) MergeRemoteState(buf []byte, join bool)     {}

// --- memberlist.EventDelegate

func (d delegate) NotifyJoin(n *memberlist.Node) {
	if n.Name != d.c.id {
		d.c.emit(d.c.table.alive(d.c.member(n)))
	}
}

func (d delegate) NotifyLeave(n *memberlist.Node) {
	if n.Name != d.c.id {
		d.c.emit(d.c.table.gone(d.c.member(n)))
	}
}

func (d delegate) NotifyUpdate(n *memberlist.Node) {
	if n.Name != d.c.id {
		d.c.emit(d.c.table.update(d.c.member(n)))
	}
}

// --- memberlist.AliveDelegate: filters every alive message, gossiped or merged, so a
// node of another store never enters this node's view even by passive gossip.
// memberlist logs the refusal with the error's text.

func (d delegate) NotifyAlive(n *memberlist.Node) error {
	if n.Name == d.c.id {
		return nil // memberlist's own conflict handling covers our name
	}
	return d.c.admit(n.Name, n.Meta)
}

// --- memberlist.MergeDelegate: vets a joining side's whole view. Refusing here fails
// the join, which is how New learns it was refused.

func (d delegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, n := range peers {
		var err error
		if n.Name == d.c.id {
			err = d.c.checkDuplicate(n)
		} else {
			err = d.c.admit(n.Name, n.Meta)
		}
		if err != nil {
			d.c.refused(err)
			d.c.log.Error("refusing to merge with a cluster", "peer", n.Name, "addr", n.Address(), "err", err)
			return err
		}
	}
	return nil
}

// --- memberlist.ConflictDelegate: two live nodes claim one name; memberlist keeps
// the one it knew and ignores the other.

func (d delegate) NotifyConflict(existing, other *memberlist.Node) {
	d.c.log.Error("duplicate node id: two nodes claim it; the one at the other address is ignored",
		"node", existing.Name, "known_addr", existing.Address(), "other_addr", other.Address())
}

// --- memberlist.PingDelegate: a successful probe ends any suspicion we noted.

func (delegate) AckPayload() []byte { return nil }

func (d delegate) NotifyPingComplete(n *memberlist.Node, _ time.Duration, _ []byte) {
	d.c.table.acked(n.Name)
}

// admit says whether a peer with this metadata may share our cluster.
func (c *Cluster) admit(id string, meta []byte) error {
	pm, err := decodeMeta(meta)
	if err != nil {
		return fmt.Errorf("%w: node %q sent unreadable metadata (not a courier node?): %v", ErrStoreMismatch, id, err)
	}
	return compatible(c.selfMeta(), id, pm)
}

// checkDuplicate refuses a join when the cluster already has a live node with our id at
// another address. The same address is this node's previous process: memberlist
// refutes it with a higher incarnation.
func (c *Cluster) checkDuplicate(n *memberlist.Node) error {
	if n.Address() == c.addr || (n.State != memberlist.StateAlive && n.State != memberlist.StateSuspect) {
		return nil
	}
	pm, _ := decodeMeta(n.Meta)
	return fmt.Errorf("%w: node %q is already alive at %s (started %s); another process uses this NodeID, "+
		"or this node restarted at a new address before the cluster declared the old one dead (then retry shortly)",
		ErrDuplicateID, n.Name, n.Address(), time.UnixMilli(pm.Started).UTC().Format(time.RFC3339))
}

// member converts a memberlist node, copying what it needs while memberlist holds
// the node lock.
func (c *Cluster) member(n *memberlist.Node) Member {
	m := Member{ID: n.Name, Addr: n.Address()}
	pm, err := decodeMeta(n.Meta)
	if err != nil {
		c.log.Warn("member with unreadable metadata", "peer", n.Name, "err", err)
	}
	m.APIAddr, m.PeerAddr, m.Store, m.Started = reachableAt(pm.APIAddr, n.Addr), reachableAt(pm.PeerAddr, n.Addr), pm.Store, pm.Started
	return m
}

// reachableAt is addr as another node can dial it: a node listening on
// every interface (0.0.0.0:7950 in a container) announces an address that
// means "this host" to whoever dials it, so its gossip IP stands in.
func reachableAt(addr string, ip net.IP) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || len(ip) == 0 {
		return addr
	}
	if h := net.ParseIP(host); host != "" && (h == nil || !h.IsUnspecified()) {
		return addr
	}
	return net.JoinHostPort(ip.String(), port)
}

// refused remembers why the last merge was refused, for New.
func (c *Cluster) refused(err error) {
	c.mu.Lock()
	c.refusal = err
	c.mu.Unlock()
}

// takeRefusal returns and clears the last refusal.
func (c *Cluster) takeRefusal() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.refusal
	c.refusal = nil
	return err
}
