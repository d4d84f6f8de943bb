package engine

import (
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"courier/router/testkit"
)

// TestWebSocketPeerCloseReleasesConn: after the client's close frame the
// server must close its TCP side (the library leaves it in CLOSE-WAIT).
func TestWebSocketPeerCloseReleasesConn(t *testing.T) {
	s, ts := startSIO(t, fastCfg(), &recorder{})
	before := countFDs(t)
	const n = 20
	cs := make([]*wsClient, n)
	for i := range cs {
		cs[i] = connectWS(t, ts, "")
	}
	testkit.Eventually(t, 2*time.Second, "connected", func() bool { return s.Count() == n })
	for _, c := range cs {
		body := ws.NewCloseFrameBody(ws.StatusNormalClosure, "")
		if err := ws.WriteFrame(c.conn, ws.MaskFrame(ws.NewCloseFrame(body))); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cs {
		// the server answers (or not) and then must close: we read EOF
		deadline := time.Now().Add(3 * time.Second)
		for {
			_, _, err := c.read(time.Until(deadline))
			if err == nil {
				continue
			}
			var ce wsutil.ClosedError
			if errors.As(err, &ce) {
				continue // close frame echoed; the TCP close must follow
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("client %d: server kept the TCP connection open", i)
			}
			break // EOF or reset: the server closed its side
		}
		c.conn.Close()
	}
	testkit.Eventually(t, 3*time.Second, "sessions gone", func() bool { return s.Count() == 0 && s.eio.count() == 0 })
	if before >= 0 {
		testkit.Eventually(t, 3*time.Second, "fds released", func() bool { return countFDs(t) <= before })
	}
}

// countFDs counts this process's open files (-1 where /proc is missing).
func countFDs(t testing.TB) int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(es)
}

// TestMalformedPollingPost: a bad body closes the session with 400.
func TestMalformedPollingPost(t *testing.T) {
	rec := &recorder{}
	_, ts := startSIO(t, fastCfg(), rec)
	for _, body := range []string{"abc", "4hello\x1e", "bnot-base64!", "9x"} {
		o := openPolling(t, ts, "/socket.io/")
		if code, b := httpDo(t, http.MethodPost, pollURL(ts, "/socket.io/", o.Sid), body, 3*time.Second); code != 400 {
			t.Fatalf("POST %q: %d %q, want 400", body, code, b)
		}
		if code, _ := httpDo(t, http.MethodGet, pollURL(ts, "/socket.io/", o.Sid), "", 3*time.Second); code != 400 {
			t.Fatalf("session survived POST %q: GET answered %d", body, code)
		}
	}
	// a packet the library's scanner would silently drop is refused too
	o := openPolling(t, ts, "/socket.io/")
	big := `42["x","` + strings.Repeat("a", 70_000) + `"]`
	if code, _ := httpDo(t, http.MethodPost, pollURL(ts, "/socket.io/", o.Sid), big, 3*time.Second); code != 400 {
		t.Fatalf("oversized packet: %d", code)
	}
	// a binary content type used to hang the request
	o = openPolling(t, ts, "/socket.io/")
	req, _ := http.NewRequest(http.MethodPost, pollURL(ts, "/socket.io/", o.Sid), strings.NewReader("40"))
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := (&http.Client{Timeout: 3 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Fatalf("octet-stream POST: %d", res.StatusCode)
	}
	// a good body still passes
	o = openPolling(t, ts, "/socket.io/")
	if code, b := httpDo(t, http.MethodPost, pollURL(ts, "/socket.io/", o.Sid), "40\x1e3", 3*time.Second); code != 200 || b != "ok" {
		t.Fatalf("good POST: %d %q", code, b)
	}
}

// TestPollingRequestBounded: a GET that nothing answers ends after
// RequestTimeout instead of hanging.
func TestPollingRequestBounded(t *testing.T) {
	cfg := Config{PingInterval: time.Minute, PingTimeout: time.Minute, RequestTimeout: 300 * time.Millisecond}
	_, ts := startSIO(t, cfg, &recorder{})
	o := openPolling(t, ts, "/socket.io/")
	start := time.Now()
	code, _ := httpDo(t, http.MethodGet, pollURL(ts, "/socket.io/", o.Sid), "", 5*time.Second)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("GET lasted %v", d)
	}
	if code != 400 {
		t.Fatalf("bounded GET answered %d, want 400", code)
	}
}

// TestPollAfterUpgradeRace: a GET sent right behind the UPGRADE packet is
// refused like any GET after the upgrade, never answered by the old transport.
func TestPollAfterUpgradeRace(t *testing.T) {
	cfg := fastCfg()
	cfg.RequestTimeout = time.Second // the bound that ends a GET the upgrade left behind
	_, ts := startSIO(t, cfg, &recorder{})
	for i := 0; i < 20; i++ {
		o := openPolling(t, ts, "/socket.io/")
		c := dialWS(t, wsURL(ts, "/socket.io/", "&sid="+o.Sid))
		probe(t, c)
		c.send("5")
		// What matters: no hang past RequestTimeout, and no message handed to
		// a transport the client has left. When the upgrade lands while the
		// GET waits (50 ms is not always enough under -race load), the
		// library ends the old transport with CLOSE or NOOP, or leaves the GET
		// to the request bound, which answers 400; none carries a message.
		if code, b := httpDo(t, http.MethodGet, pollURL(ts, "/socket.io/", o.Sid), "", 3*time.Second); code != 400 && (code != 200 || (b != "1" && b != "6")) {
			t.Fatalf("run %d: GET after upgrade answered %d %q", i, code, b)
		}
		c.conn.Close()
	}
}

// probe sends the upgrade probe and expects its answer (upgrade_hold.go
// keeps the library from dropping it).
func probe(t *testing.T, c *wsClient) {
	t.Helper()
	c.send("2probe")
	if m, _, err := c.read(5 * time.Second); err != nil || m != "3probe" {
		t.Fatalf("probe answered %q %v", m, err)
	}
}
