package peers

import (
	"context"

	"courier/node/api"
	"courier/node/errcode"
	"courier/node/trace"
)

// Cluster lists the nodes with their sessions (GET /v1/cluster); a node
// without gossip is a cluster of one.
func (p *Peers) Cluster(ctx context.Context) (api.ClusterInfo, error) {
	cl := p.cluster.Load()
	if cl == nil {
		p.mu.RLock()
		addr := p.apiAddr
		p.mu.RUnlock()
		return api.ClusterInfo{Nodes: []api.NodeInfo{{
			ID: p.cfg.Node, Addr: addr, State: "alive", Sessions: p.cfg.Hub.Count(),
		}}}, nil
	}
	counts, err := p.cfg.Registry.NodeSessions(ctx)
	if err != nil {
		p.log.Warn("session counts not read", "trace", trace.ID(ctx), "err", err)
		return api.ClusterInfo{}, errcode.New(errcode.Unavailable, "registry unavailable; retry")
	}
	members := cl.Members()
	out := api.ClusterInfo{Nodes: make([]api.NodeInfo, 0, len(members))}
	for _, m := range members {
		out.Nodes = append(out.Nodes, api.NodeInfo{ID: m.ID, Addr: m.APIAddr, State: string(m.State), Sessions: counts[m.ID]})
	}
	return out, nil
}
