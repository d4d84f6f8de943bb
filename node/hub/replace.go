package hub

import (
	"context"
	"slices"
	"time"

	"courier/node/session"
	"courier/router/forward"
	"courier/router/registry"
)

// replaceTimeout bounds the store and peer work of one replacement.
const replaceTimeout = 5 * time.Second

// replaceOldest closes user's n oldest sessions, wherever they are, as
// "replaced" (SPEC, Limits: --max-sessions-per-user): here at once, on
// other nodes through their links. A session a link cannot reach stays
// until the user's next arrival past the bound finds it again.
func (h *Hub) replaceOldest(user string, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), replaceTimeout)
	defer cancel()
	sessions, err := h.cfg.Registry.UserSessions(ctx, user)
	if err != nil {
		h.log.Warn("sessions past the per-user bound not read", "user", user, "err", err)
		return
	}
	slices.SortFunc(sessions, func(a, b registry.Session) int { return a.ConnectedAt.Compare(b.ConnectedAt) })
	byNode := map[string][]string{}
	for _, s := range sessions[:min(n, len(sessions))] {
		byNode[s.Node] = append(byNode[s.Node], s.ID)
	}
	for node, ids := range byNode {
		if node == h.cfg.Node {
			h.closeReplaced(user, ids)
			continue
		}
		if !h.cfg.Peers.Enabled() || !h.cfg.Peers.Send(node, forward.Envelope{Kind: forward.KindReplace, User: user, Users: ids}) {
			h.log.Warn("sessions past the per-user bound left open: their node is not reachable", "user", user, "node", node, "sessions", len(ids))
		}
	}
}

// closeReplaced closes the sessions here of user whose ids are in ids.
func (h *Hub) closeReplaced(user string, ids []string) {
	for _, s := range h.local.user(user) {
		if slices.Contains(ids, s.ID()) {
			s.Close(session.ReasonReplaced)
		}
	}
}
