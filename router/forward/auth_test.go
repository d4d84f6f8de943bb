package forward

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"courier/router/testkit"
)

// A refused link reports down, keeps envelopes up to the queue bound and
// then drops them, counted as link_down; nothing reaches the handler.
func TestLinkRefused(t *testing.T) {
	for name, cfg := range map[string]LinksConfig{
		"wrong secret":     {Secret: "not-the-secret"},
		"no secret":        {},
		"stale timestamp":  {Secret: secret, Now: func() time.Time { return time.Now().Add(-31 * time.Second) }},
		"future timestamp": {Secret: secret, Now: func() time.Time { return time.Now().Add(time.Minute) }},
	} {
		t.Run(name, func(t *testing.T) {
			srv, rec := startServer(t, ServerConfig{Secret: secret})
			cfg.QueueLimit = 10
			links := startLinks(t, cfg)
			for i := range 15 {
				if ok := links.Send("b", srv.Addr(), deliver("u", uint64(i))); ok != (i < 10) {
					t.Fatalf("Send %d = %v", i, ok)
				}
			}
			testkit.Eventually(t, 5*time.Second, "link down", func() bool {
				return links.State("b") == StateDown && links.Stats().DialErrors >= 2
			})
			st := links.Stats()
			if st.DroppedLinkDown != 5 || st.Queued != 10 || st.LinksUp != 0 {
				t.Fatalf("stats %+v", st)
			}
			if srv.Stats().Refused < 2 || srv.Stats().Accepted != 0 || rec.count() != 0 {
				t.Fatalf("server %+v, %d delivered", srv.Stats(), rec.count())
			}
		})
	}
}

func dialRaw(addr, path string, h http.Header) error {
	d := ws.Dialer{Timeout: 5 * time.Second, Header: ws.HandshakeHeaderHTTP(h)}
	c, _, _, err := d.Dial(context.Background(), "ws://"+addr+path)
	if c != nil {
		c.Close()
	}
	return err
}

func wantStatus(t *testing.T, err error, code int) {
	t.Helper()
	var se ws.StatusError
	if !errors.As(err, &se) || int(se) != code {
		t.Fatalf("err = %v, want HTTP %d", err, code)
	}
}

func TestHandshakeChecks(t *testing.T) {
	srv, _ := startServer(t, ServerConfig{Secret: secret})
	t.Run("bad mac", func(t *testing.T) {
		h := authHeader(secret, "a", time.Now())
		m := []byte(h.Get(headerMAC))
		if m[0] == '0' { // change the first digit, whatever it was
			m[0] = '1'
		} else {
			m[0] = '0'
		}
		h.Set(headerMAC, string(m))
		wantStatus(t, dialRaw(srv.Addr(), linkPath, h), http.StatusUnauthorized)
	})
	t.Run("mac for another node", func(t *testing.T) {
		h := authHeader(secret, "a", time.Now())
		h.Set(headerNode, "c")
		wantStatus(t, dialRaw(srv.Addr(), linkPath, h), http.StatusUnauthorized)
	})
	t.Run("no headers", func(t *testing.T) {
		wantStatus(t, dialRaw(srv.Addr(), linkPath, http.Header{}), http.StatusUnauthorized)
	})
	t.Run("replayed handshake", func(t *testing.T) {
		h := authHeader(secret, "a", time.Now())
		if err := dialRaw(srv.Addr(), linkPath, h); err != nil {
			t.Fatalf("first use: %v", err)
		}
		wantStatus(t, dialRaw(srv.Addr(), linkPath, h), http.StatusUnauthorized)
	})
	t.Run("wrong path", func(t *testing.T) {
		wantStatus(t, dialRaw(srv.Addr(), "/other", authHeader(secret, "a", time.Now())), http.StatusNotFound)
	})
}

// Without a secret there is no MAC to check: only loopback peers get in.
func TestNoSecretLoopbackOnly(t *testing.T) {
	srv, rec := startServer(t, ServerConfig{})
	links := startLinks(t, LinksConfig{})
	links.Send("b", srv.Addr(), deliver("u", 1))
	testkit.Eventually(t, 5*time.Second, "delivery", func() bool { return rec.count() == 1 })

	a := &authenticator{skew: 30 * time.Second}
	h := handshake{node: "a"}
	if err := a.verify(h, &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 9}, time.Now()); !errors.Is(err, errLoopback) {
		t.Fatalf("remote peer without secret: %v", err)
	}
	if err := a.verify(h, &net.TCPAddr{IP: net.IPv6loopback, Port: 9}, time.Now()); err != nil {
		t.Fatalf("::1: %v", err)
	}
}
