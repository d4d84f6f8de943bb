package node

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"courier/node/push"
	"courier/node/trace"
	"courier/router/opsbus"
)

// A dyed user's pushes are traced: the push API logs each one addressed to
// the user (trace id, message id, env) and every node logs its delivery to
// the user's sessions there, so a tester's message can be followed across
// the cluster; the deliveries, resends and acks join the push's trace
// record (GET /v1/trace?trace=ID), as a watched user's do. Dyes are few (testers), so each node keeps them all: a
// snapshot refreshed in the background at most every dyeRefresh, never on
// the delivery path.

const dyeRefresh = 2 * time.Second

type dyeSnapshot struct {
	mu     sync.RWMutex
	at     time.Time
	byUser map[string]string

	refreshing atomic.Bool
	// some: at least one user was dyed at the last refresh; while none is,
	// asking whether a user is dyed costs one atomic load (dyed).
	some atomic.Bool
}

// dyeOf is user's environment as last seen ("" when undyed), refreshing the
// snapshot in the background when it is old.
func (n *Node) dyeOf(user string) string {
	d := &n.dyes
	d.mu.RLock()
	env, stale := d.byUser[user], time.Since(d.at) > dyeRefresh
	d.mu.RUnlock()
	if stale && d.refreshing.CompareAndSwap(false, true) {
		go n.refreshDyes()
	}
	return env
}

func (n *Node) refreshDyes() {
	d := &n.dyes
	defer d.refreshing.Store(false)
	ctx, cancel := context.WithTimeout(n.ctx, time.Second)
	defer cancel()
	list, err := n.stores.registry.Dyes(ctx)
	if err != nil {
		return // the old snapshot serves; the next use tries again
	}
	m := make(map[string]string, len(list))
	for _, dye := range list {
		m[dye.User] = dye.Env
	}
	d.mu.Lock()
	d.byUser, d.at = m, time.Now()
	d.mu.Unlock()
	d.some.Store(len(m) > 0)
}

// dyed reports whether user is dyed as last seen. It is on the delivery
// path (a dyed user's deliveries and acks join their push's trace record),
// so while nobody is dyed it is one atomic load; the snapshot is kept
// fresh by the node's figures loop (ops.go), not by this call.
func (n *Node) dyed(user string) bool {
	if !n.dyes.some.Load() {
		return false
	}
	return n.dyeOf(user) != ""
}

// opsTracer is what the hub and the sessions trace through: the users
// someone watches (GET /v1/trace?user=) and the dyed ones, whose events
// are recorded under their pushes' trace ids.
type opsTracer struct{ n *Node }

func (t opsTracer) Traced(user string) bool {
	return t.n.stores.ops.Traced(user) || t.n.dyed(user)
}

func (t opsTracer) Publish(ev opsbus.Event) { t.n.stores.ops.Publish(ev) }

// tracePush logs an accepted push's addressees that are dyed.
func (n *Node) tracePush(ctx context.Context, req *push.Request, id string) {
	for _, u := range req.To.Users {
		if env := n.dyeOf(u); env != "" {
			n.log.Info("dyed push", "trace", trace.ID(ctx), "id", id, "user", u, "env", env, "event", req.Event)
		}
	}
}
