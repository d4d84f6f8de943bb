package node

import (
	"errors"
	"testing"
	"time"

	"courier/node/auth"
	"courier/node/engine/enginetest"
	"courier/node/errcode"
	"courier/router/testkit"
)

func connectWith(t *testing.T, n *Node, claims auth.Claims) *enginetest.Conn {
	t.Helper()
	connSeq++
	c := &enginetest.Conn{Id: "exp-" + time.Now().Format("150405.000000000")}
	n.Connected(c, accepted{claims: claims, device: "d"})
	return c
}

func expiresIn(d time.Duration) float64 { return float64(time.Now().Add(d).UnixNano()) / 1e9 }

// At its token's exp a connection is told token_expired and its transport
// closed, so that the client reconnects with a fresh token.
func TestConnectionClosesAtItsTokensExpiry(t *testing.T) {
	n := newTestNode(t, nil)
	c := connectWith(t, n, auth.Claims{Sub: "alice", Exp: expiresIn(300 * time.Millisecond)})
	forever := connectWith(t, n, auth.Claims{Sub: "bob"})
	start := time.Now()
	testkit.Eventually(t, 5*time.Second, "closed at exp", func() bool { return c.TransportsClosed.Load() == 1 })
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Fatalf("closed after %v, before its exp", took)
	}
	got := c.EmitsOf("courier:disconnect")
	if len(got) != 1 || got[0].Args[0].(map[string]string)["reason"] != "token_expired" {
		t.Fatalf("goodbye %v", got)
	}
	time.Sleep(100 * time.Millisecond)
	if forever.TransportsClosed.Load() != 0 {
		t.Fatal("a token without exp was closed")
	}
}

// A refresh with a valid token of the same user moves the expiry and
// replaces the room rights (rooms no longer allowed are left); one of
// another user, or an invalid one, is refused and changes nothing.
func TestRefreshMovesTheExpiryAndNarrowsTheRooms(t *testing.T) {
	n := newTestNode(t, nil)
	c := connectWith(t, n, auth.Claims{Sub: "alice", Exp: expiresIn(2 * time.Second), Rooms: []string{"game:*", "lobby"}})
	for _, room := range []string{"game:1", "lobby"} {
		if ack := c.Ask(time.Second, "join", map[string]any{"room": room})[0].(map[string]any); ack["ok"] != true {
			t.Fatalf("join %s: %v", room, ack)
		}
	}
	refresh := func(claims auth.Claims) map[string]any {
		tok, err := auth.Sign([]byte("s"), claims)
		if err != nil {
			t.Fatal(err)
		}
		return c.Ask(time.Second, "refresh", map[string]any{"token": tok})[0].(map[string]any)
	}
	codeOf := func(ack map[string]any) errcode.Code {
		var e *errcode.Error
		if err, _ := ack["error"].(error); errors.As(err, &e) {
			return e.Code
		}
		return ""
	}
	if ack := refresh(auth.Claims{Sub: "mallory", Exp: expiresIn(time.Hour)}); codeOf(ack) != errcode.Forbidden {
		t.Fatalf("another user's token: %v", ack)
	}
	if ack := refresh(auth.Claims{Sub: "alice", Exp: expiresIn(-time.Second)}); codeOf(ack) != errcode.Unauthorized {
		t.Fatalf("an expired token: %v", ack)
	}
	if ack := refresh(auth.Claims{Sub: "alice", Exp: expiresIn(time.Hour), Rooms: []string{"lobby"}}); ack["ok"] != true {
		t.Fatalf("refresh: %v", ack)
	}
	time.Sleep(2300 * time.Millisecond) // past the first token's exp
	if c.TransportsClosed.Load() != 0 {
		t.Fatal("closed at the old exp after a refresh")
	}
	if rooms := n.hub.RoomsOf(n.hub.Sessions()[0]); len(rooms) != 1 || rooms[0] != "lobby" {
		t.Fatalf("rooms after the refresh %v, want [lobby]", rooms)
	}
	if ack := c.Ask(time.Second, "join", map[string]any{"room": "game:2"})[0].(map[string]any); ack["ok"] != false {
		t.Fatalf("a join the new token does not allow: %v", ack)
	}
}
