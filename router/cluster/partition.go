package cluster

import (
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// This file is a test helper, exported so node-level tests can cut a node off too.

// Partitioner decides which addresses may reach each other. The transports of one test
// share one: every send and dial is checked at the sender against the pair (sender,
// receiver), so nothing needs to recognise the sender of an incoming TCP stream (its
// source port is ephemeral). Cuts are symmetric. Other seams (peer links) may consult
// Blocked with their own addresses. Safe for concurrent use.
type Partitioner struct {
	mu  sync.RWMutex
	cut map[[2]string]struct{}
}

// NewPartitioner returns a partitioner with every pair connected.
func NewPartitioner() *Partitioner {
	return &Partitioner{cut: map[[2]string]struct{}{}}
}

func pairOf(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// Cut stops all traffic between a and each of others, both ways.
func (p *Partitioner) Cut(a string, others ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range others {
		p.cut[pairOf(a, b)] = struct{}{}
	}
}

// Heal restores traffic between a and each of others.
func (p *Partitioner) Heal(a string, others ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range others {
		delete(p.cut, pairOf(a, b))
	}
}

// HealAll restores every pair.
func (p *Partitioner) HealAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.cut)
}

// Blocked says whether traffic between from and to is cut.
func (p *Partitioner) Blocked(from, to string) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	_, ok := p.cut[pairOf(from, to)]
	return ok
}

// PartitionableTransport is memberlist's NetTransport with a Partitioner in front of
// its sends: a packet to a cut address is dropped silently (as UDP loss would be), a
// dial to one fails (as an unreachable host would). Every node of a test must use one
// on the same Partitioner, since only senders check.
type PartitionableTransport struct {
	*memberlist.NetTransport
	p    *Partitioner
	addr string
}

var _ memberlist.NodeAwareTransport = (*PartitionableTransport)(nil)

// NewPartitionableTransport binds a NetTransport on bind ("ip:port", port 0 picks one)
// for Config.Transport.
func NewPartitionableTransport(p *Partitioner, bind string, logger *slog.Logger) (*PartitionableTransport, error) {
	if p == nil {
		return nil, errors.New("cluster: NewPartitionableTransport needs a Partitioner")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	nt, err := listen(bind, log.New(&logBridge{log: logger.With("component", "transport")}, "", 0))
	if err != nil {
		return nil, err
	}
	ip, port, err := nt.FinalAdvertiseAddr("", 0)
	if err != nil {
		_ = nt.Shutdown()
		return nil, err
	}
	return &PartitionableTransport{NetTransport: nt.(*memberlist.NetTransport), p: p,
		addr: net.JoinHostPort(ip.String(), fmt.Sprint(port))}, nil
}

// Addr is the transport's bound address, as memberlist advertises it.
func (t *PartitionableTransport) Addr() string { return t.addr }

// Block cuts this transport off from addrs (both ways); Unblock restores them.
func (t *PartitionableTransport) Block(addrs ...string)   { t.p.Cut(t.addr, addrs...) }
func (t *PartitionableTransport) Unblock(addrs ...string) { t.p.Heal(t.addr, addrs...) }

func (t *PartitionableTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.p.Blocked(t.addr, addr) {
		return time.Now(), nil
	}
	return t.NetTransport.WriteTo(b, addr)
}

func (t *PartitionableTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.p.Blocked(t.addr, a.Addr) {
		return time.Now(), nil
	}
	return t.NetTransport.WriteToAddress(b, a)
}

func (t *PartitionableTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.p.Blocked(t.addr, addr) {
		return nil, blockedDial(addr)
	}
	return t.NetTransport.DialTimeout(addr, timeout)
}

func (t *PartitionableTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.p.Blocked(t.addr, a.Addr) {
		return nil, blockedDial(a.Addr)
	}
	return t.NetTransport.DialAddressTimeout(a, timeout)
}

// blockedDial looks like a failed dial to memberlist (a *net.OpError with Op "dial"),
// so it treats the peer as failed rather than as a local error.
func blockedDial(addr string) error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("partitioned from %s (test transport)", addr)}
}
