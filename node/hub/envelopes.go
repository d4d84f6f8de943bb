package hub

import (
	"context"

	"courier/node/session"
	"courier/router/forward"
)

// HandleEnvelopes carries out what another node asks of this one: deliver a
// message to the sessions here, put users' sessions in a room or take them
// out, or close a user's sessions. Unknown kinds are skipped, so a newer
// peer cannot break an older node.
func (h *Hub) HandleEnvelopes(ctx context.Context, from string, envs []forward.Envelope) {
	for i := range envs {
		env := &envs[i]
		if err := checkEnvelope(env, h.cfg.Limits); err != nil {
			h.cfg.Metrics.PeerRefused()
			h.log.Warn("envelope from a peer refused", "from", from, "kind", env.Kind, "err", err)
			continue
		}
		switch env.Kind {
		case forward.KindDeliver:
			m := env.Msg
			h.deliverLocal(addressed{stream: env.Stream, user: env.User, room: env.Room}, &m)
		case forward.KindJoin:
			_ = h.eachUserSession(env.Room, env.Users, func(s *session.Session) { h.Join(ctx, s, env.Room) })
		case forward.KindLeave:
			_ = h.eachUserSession(env.Room, env.Users, func(s *session.Session) { h.Leave(ctx, s, env.Room) })
		case forward.KindDisconnect:
			for _, s := range h.local.user(env.User) {
				s.Close(session.ReasonKicked)
			}
		case forward.KindReplace:
			h.closeReplaced(env.User, env.Users)
		default:
			h.log.Debug("unknown envelope kind from a peer", "from", from, "kind", env.Kind)
		}
	}
}
