package peers

import (
	"context"

	"courier/node/errcode"
	"courier/node/trace"
)

// NodeInfo is one node of GET /v1/cluster.
type NodeInfo struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	State    string `json:"state"`
	Sessions int    `json:"sessions"`
	// From the node's own latest report (node/opsbus), when there is one.
	MsgsPerSec  *float64 `json:"msgs_per_s,omitempty"`
	MemoryBytes *uint64  `json:"memory_bytes,omitempty"`
	LogLevel    string   `json:"log_level,omitempty"`
}

// ClusterInfo answers GET /v1/cluster.
type ClusterInfo struct {
	Nodes []NodeInfo `json:"nodes"`
}

// Cluster lists the nodes with their sessions (GET /v1/cluster); a node
// without gossip is a cluster of one.
func (p *Peers) Cluster(ctx context.Context) (ClusterInfo, error) {
	cl := p.cluster.Load()
	if cl == nil {
		p.mu.RLock()
		addr := p.apiAddr
		p.mu.RUnlock()
		return ClusterInfo{Nodes: []NodeInfo{{
			ID: p.cfg.Node, Addr: addr, State: "alive", Sessions: p.hub.Count(),
		}}}, nil
	}
	members := cl.Members()
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID
	}
	counts, err := p.cfg.Registry.NodeSessions(ctx, ids)
	if err != nil {
		p.log.Warn("session counts not read", "trace", trace.ID(ctx), "err", err)
		return ClusterInfo{}, errcode.New(errcode.Unavailable, "registry unavailable; retry")
	}
	out := ClusterInfo{Nodes: make([]NodeInfo, 0, len(members))}
	for _, m := range members {
		out.Nodes = append(out.Nodes, NodeInfo{ID: m.ID, Addr: m.APIAddr, State: string(m.State), Sessions: counts[m.ID]})
	}
	return out, nil
}

// MemberStates counts the members this node sees by state (alive, suspect,
// dead, left), itself included; a node without gossip is one alive member.
func (p *Peers) MemberStates() map[string]int {
	cl := p.cluster.Load()
	if cl == nil {
		return map[string]int{"alive": 1}
	}
	out := map[string]int{}
	for _, m := range cl.Members() {
		out[string(m.State)]++
	}
	return out
}
