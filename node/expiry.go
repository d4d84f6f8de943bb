package node

import (
	"context"
	"sync"
	"time"

	"courier/node/auth"
	"courier/node/errcode"
	"courier/node/session"
)

// Rights end when their grant ends (SPEC, Limits): at its token's exp a
// connection is told `courier:disconnect {reason: token_expired}` and its
// transport closed (an SDK reconnects with a fresh token), unless the
// client sent `refresh {token}` with a valid token of the same user first.
// A refresh also narrows the rooms: the session leaves those the new token
// no longer allows.
type expiry struct {
	mu    sync.Mutex
	timer *time.Timer
}

// watchExpiry arms s's close at claims' exp (nothing when it has none).
func (n *Node) watchExpiry(s *session.Session, claims auth.Claims) *expiry {
	e := &expiry{}
	e.arm(s, claims.Expires())
	return e
}

func (e *expiry) arm(s *session.Session, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	if at.IsZero() {
		return
	}
	e.timer = time.AfterFunc(time.Until(at), func() { s.Close(session.ReasonTokenExpired) })
}

func (e *expiry) stop() { e.arm(nil, time.Time{}) }

// refresh serves the `refresh` event: a valid token for the same user
// moves the expiry and replaces the room rights.
func (n *Node) refresh(ctx context.Context, s *session.Session, e *expiry, arg map[string]any) error {
	token, _ := arg["token"].(string)
	claims, err := n.verifyTokenClaims(token)
	if err != nil {
		return errcode.New(errcode.Unauthorized, "refresh: "+err.Error())
	}
	if claims.Sub != s.User {
		return errcode.New(errcode.Forbidden, "refresh: the token is another user's")
	}
	e.arm(s, claims.Expires())
	s.SetRoomPatterns(claims.Rooms)
	for _, room := range n.hub.RoomsOf(s) {
		if !s.MayJoin(room) {
			n.hub.Leave(ctx, s, room) // here at once; a store failure is logged
		}
	}
	return nil
}
