package forward

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// closedWithin reports how long the server took to close c (reading until
// EOF), failing the test when it stayed open past limit.
func closedWithin(t *testing.T, c net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("still open after %v", limit)
			}
			return time.Since(start)
		}
	}
}

// The peer-link listener closes a connection that never finishes its
// upgrade (silent, or stalled inside the request) within HandshakeTimeout,
// and an authenticated link that goes silent within ReadTimeout; a link
// made meanwhile is served.
func TestServerClosesStalledAndSilentConnections(t *testing.T) {
	const bound = 300 * time.Millisecond
	s, _ := startServer(t, ServerConfig{Secret: "0123456789abcdef0123456789abcdef", HandshakeTimeout: bound, ReadTimeout: bound})

	silent, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	stalled, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := stalled.Write([]byte("GET " + linkPath + " HTTP/1.1\r\nHost: x\r\nUpgrade: webso")); err != nil {
		t.Fatal(err)
	}

	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(authHeader("0123456789abcdef0123456789abcdef", "a", time.Now()))}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	link, _, _, err := d.Dial(ctx, "ws://"+s.Addr()+linkPath)
	if err != nil {
		t.Fatalf("an honest link was not served: %v", err)
	}
	defer link.Close()

	for name, c := range map[string]net.Conn{"silent before the upgrade": silent, "stalled in the request": stalled, "silent link": link} {
		if took := closedWithin(t, c, 3*time.Second); took > bound+time.Second {
			t.Errorf("%s closed after %v, bound %v", name, took, bound)
		}
	}
	if st := s.Stats(); st.Accepted != 1 {
		t.Fatalf("accepted %d links, want the honest one", st.Accepted)
	}
}
