package node

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"courier/node/api"
	"courier/node/command"
	"courier/node/errcode"
	"courier/node/hub"
	"courier/node/peers"
	"courier/node/push"
	"courier/node/trace"
	"courier/router/opsbus"
	"courier/router/registry"
)

// The api.Service adapter: each call of the push API goes to the package
// that owns it.

var _ api.Service = (*Node)(nil)

// Push implements api.Service (node/hub).
func (n *Node) Push(ctx context.Context, req *push.Request) (push.Result, error) {
	start := time.Now()
	res, err := n.hub.Push(ctx, req)
	n.metrics.pushTime.Observe(time.Since(start).Seconds())
	if err == nil {
		n.tracePush(ctx, req, res.ID)
		// Stamped when the call came in: its deliveries happen before it returns.
		n.record(ctx, opsbus.Event{TS: start, Type: opsbus.TypePush, ID: res.ID, Event: req.Event, Users: len(req.To.Users), Room: strings.Join(req.To.Rooms, ",")})
	}
	return res, err
}

// JoinRoom implements api.Service (node/hub).
func (n *Node) JoinRoom(ctx context.Context, room string, users []string) error {
	err := n.hub.JoinRoom(ctx, room, users)
	if err == nil {
		n.record(ctx, opsbus.Event{Type: opsbus.TypeJoin, Room: room, Users: len(users)})
	}
	return err
}

// LeaveRoom implements api.Service (node/hub).
func (n *Node) LeaveRoom(ctx context.Context, room string, users []string) error {
	err := n.hub.LeaveRoom(ctx, room, users)
	if err == nil {
		n.record(ctx, opsbus.Event{Type: opsbus.TypeLeave, Room: room, Users: len(users)})
	}
	return err
}

// User implements api.Service (node/hub).
func (n *Node) User(ctx context.Context, user string) (hub.UserInfo, error) {
	return n.hub.User(ctx, user)
}

// Room implements api.Service (node/hub).
func (n *Node) Room(ctx context.Context, room string) (hub.RoomInfo, error) {
	return n.hub.Room(ctx, room)
}

// DisconnectUser implements api.Service (node/hub).
func (n *Node) DisconnectUser(ctx context.Context, user string) (int, error) {
	count, err := n.hub.DisconnectUser(ctx, user)
	if err == nil {
		n.record(ctx, opsbus.Event{Type: opsbus.TypeDisconnect, User: user, Reason: "kicked", Users: count})
	}
	return count, err
}

// Cluster implements api.Service (node/peers).
func (n *Node) Cluster(ctx context.Context) (peers.ClusterInfo, error) {
	info, err := n.peers.Cluster(ctx)
	if err != nil {
		return info, err
	}
	// Each node's own figures, where it reported lately; a gap otherwise.
	figures, err := n.stores.ops.Figures(ctx)
	if err != nil {
		n.log.Warn("node figures not read", "trace", trace.ID(ctx), "err", err)
	}
	byNode := make(map[string]opsbus.NodeFigures, len(figures))
	for _, f := range figures {
		byNode[f.Node] = f
	}
	for i := range info.Nodes {
		if f, ok := byNode[info.Nodes[i].ID]; ok {
			nd := &info.Nodes[i]
			nd.MsgsPerSec, nd.MemoryBytes, nd.LogLevel = &f.MsgsPerSec, &f.MemoryBytes, f.LogLevel
		}
	}
	return info, nil
}

// SetDye implements api.Service: the registry keeps dyes.
func (n *Node) SetDye(ctx context.Context, user, env string, ttl time.Duration) error {
	if !push.ValidName(user) {
		return push.BadName("user")
	}
	if err := n.stores.registry.SetDye(ctx, user, env, ttl); err != nil {
		n.log.Warn("dye not stored", "trace", trace.ID(ctx), "user", user, "err", err)
		return errcode.New(errcode.Unavailable, "store unavailable; retry")
	}
	n.log.Info("dye set", "trace", trace.ID(ctx), "user", user, "env", env, "ttl", ttl)
	n.dyes.mu.Lock()
	n.dyes.at = time.Time{} // seen at the next use, here at once
	n.dyes.mu.Unlock()
	return nil
}

// Dyes implements api.Service.
func (n *Node) Dyes(ctx context.Context) ([]registry.Dye, error) {
	dyes, err := n.stores.registry.Dyes(ctx)
	if err != nil {
		n.log.Warn("dyes not read", "trace", trace.ID(ctx), "err", err)
		return nil, errcode.New(errcode.Unavailable, "store unavailable; retry")
	}
	return dyes, nil
}

// Call implements api.Service for POST /v1/call/ (node/command), within
// the user's call rate and calls in flight.
func (n *Node) Call(ctx context.Context, req command.Request) (json.RawMessage, error) {
	l := &n.limits
	if !l.callRates.Allow(req.User) {
		n.metrics.refused.WithLabelValues("call_rate").Inc()
		return nil, errcode.New(errcode.RateLimited, "too many calls for this user; slow down")
	}
	if !l.callsInFlight.Add(req.User) {
		n.metrics.refused.WithLabelValues("call_in_flight").Inc()
		return nil, errcode.New(errcode.RateLimited, "too many calls in flight for this user; wait for their answers")
	}
	defer l.callsInFlight.Done(req.User)
	return n.commands.Caller.Call(ctx, req)
}
