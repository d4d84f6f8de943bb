package node

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"courier/node/auth"
	"courier/node/engine"
	"courier/node/engine/enginetest"
	"courier/node/errcode"
)

// handshake runs a new session's first request through the node's handler
// from remote (ip:port), as a browser behind xff (or none) with agent ua.
func handshake(n *Node, remote, xff, ua string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=polling", nil)
	r.RemoteAddr = remote
	if xff != "" {
		r.Header.Set("X-Forwarded-For", xff)
	}
	r.Header.Set("User-Agent", ua)
	rec := httptest.NewRecorder()
	n.Handler().ServeHTTP(rec, r)
	return rec
}

// Handshakes per second per client IP and per user agent are refused past
// their rate with 429 and Retry-After, before any session exists; the
// client IP is the socket's, or X-Forwarded-For's from a trusted proxy only.
func TestHandshakeRatesPerIPAndAgent(t *testing.T) {
	n := newTestNode(t, func(c *Config) {
		c.HandshakeRatePerIP, c.HandshakeRatePerUA = 5, 50
		c.TrustedProxies = []string{"10.0.0.0/8"}
	})
	passed := 0
	start := time.Now()
	for range 30 {
		if handshake(n, "203.0.113.9:1000", "", "ua-1").Code == http.StatusOK {
			passed++
		}
	}
	// the burst, and what refilled meanwhile (5 a second)
	if refilled := int(time.Since(start).Seconds()*5) + 1; passed < 10 || passed > 10+refilled {
		t.Fatalf("%d handshakes from one IP passed, want the burst of 10 (+%d refilled)", passed, refilled)
	}
	rec := handshake(n, "203.0.113.9:1001", "", "ua-1")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("over the rate: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	// An untrusted peer's X-Forwarded-For is its own word: still that IP.
	if rec := handshake(n, "203.0.113.9:1002", "198.51.100.1", "ua-1"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("a spoofed X-Forwarded-For got %d", rec.Code)
	}
	// Behind a trusted proxy each client has its own rate.
	for i := range 5 {
		if rec := handshake(n, "10.1.1.1:2000", "198.51.100."+strconv.Itoa(i+1), "ua-2"); rec.Code != http.StatusOK {
			t.Fatalf("client %d behind the proxy: %d", i, rec.Code)
		}
	}
	// One agent from many IPs: its own bound (50/s, burst 100).
	agentPassed := 0
	start = time.Now()
	for i := range 150 {
		if handshake(n, "192.0.2."+strconv.Itoa(i%250)+":3000", "", "botnet/1.0").Code == http.StatusOK {
			agentPassed++
		}
	}
	if refilled := int(time.Since(start).Seconds()*50) + 1; agentPassed < 100 || agentPassed > 100+refilled {
		t.Fatalf("%d handshakes of one agent passed, want the burst of 100 (+%d refilled)", agentPassed, refilled)
	}
	if got := counterValue(n.metrics.refused.WithLabelValues("ip_rate")); got != float64(32-passed) {
		t.Errorf("ip_rate refusals %v, want %d", got, 32-passed)
	}
	if got := counterValue(n.metrics.refused.WithLabelValues("ua_rate")); got != float64(150-agentPassed) {
		t.Errorf("ua_rate refusals %v, want %d", got, 150-agentPassed)
	}
}

// Connections per client IP and per node: past them a new session gets 503
// before its upgrade and connect_error {code: 503} at its CONNECT; a closed
// connection frees its place.
func TestConnectionsPerIPAndPerNode(t *testing.T) {
	n := newTestNode(t, func(c *Config) { c.MaxConnectionsPerIP = 2; c.MaxConnections = 3 })
	token, _ := auth.Sign([]byte("s"), auth.Claims{Sub: "alice"})
	hsFrom := func(ip string) *engine.Handshake {
		return &engine.Handshake{Auth: map[string]any{"token": token}, RemoteAddr: ip + ":4000", Header: http.Header{}, Transport: "websocket"}
	}
	open := func(ip string) (*enginetest.Conn, error) {
		acc, err := n.Authenticate(hsFrom(ip))
		if err != nil {
			return nil, err
		}
		c := &enginetest.Conn{Id: "c-" + ip + "-" + time.Now().Format("150405.000000000")}
		n.Connected(c, acc)
		return c, nil
	}
	code := func(err error) any {
		var ce *engine.ConnectError
		if !errors.As(err, &ce) {
			return nil
		}
		return ce.Data.(map[string]any)["code"]
	}
	a1, err := open("198.51.100.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open("198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := open("198.51.100.1"); code(err) != 503 {
		t.Fatalf("a third connection from one IP: %v", err)
	}
	if rec := handshake(n, "198.51.100.1:5000", "", "ua"); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("a third before the upgrade: %d", rec.Code)
	}
	if _, err := open("198.51.100.2"); err != nil {
		t.Fatalf("another IP: %v", err)
	}
	if _, err := open("198.51.100.3"); code(err) != 503 {
		t.Fatalf("a fourth connection on a node of 3: %v", err)
	}
	a1.Close("transport close")
	if _, err := open("198.51.100.1"); err != nil {
		t.Fatalf("after a close: %v", err)
	}
	if got := counterValue(n.metrics.refused.WithLabelValues("ip_connections")); got != 2 {
		t.Errorf("ip_connections refusals %v, want 2", got)
	}
	if got := counterValue(n.metrics.refused.WithLabelValues("node_full")); got != 1 {
		t.Errorf("node_full refusals %v, want 1", got)
	}
}

// Commands and joins per second per connection: past the burst the ack is
// rate_limited, counted, and the connection stays.
func TestCommandAndJoinRatesPerConnection(t *testing.T) {
	n := newTestNode(t, func(c *Config) { c.CmdRate, c.JoinRate = 5, 2 })
	c := connect(t, n, "alice", "d", "*")
	var took time.Duration
	limited := func(event string, arg map[string]any) int {
		count := 0
		start := time.Now()
		defer func() { took = time.Since(start) }()
		for range 20 {
			res := c.Ask(3*time.Second, event, arg)[0].(map[string]any)
			var e *errcode.Error
			if err, _ := res["error"].(error); errors.As(err, &e) && e.Code == errcode.RateLimited {
				count++
			}
		}
		return count
	}
	// past the burst, less what refilled while the 20 were sent
	if got := limited("cmd", map[string]any{"name": "/nowhere.N/M"}); got > 10 || got < 10-int(took.Seconds()*5)-1 {
		t.Fatalf("%d of 20 commands rate limited in %v, want 10 (burst 10, 5/s)", got, took)
	}
	cmdLimited := counterValue(n.metrics.refused.WithLabelValues("cmd_rate"))
	if got := limited("join", map[string]any{"room": "r"}); got > 16 || got < 16-int(took.Seconds()*2)-1 {
		t.Fatalf("%d of 20 joins rate limited in %v, want 16 (burst 4, 2/s)", got, took)
	}
	if c.Kicked.Load() != 0 {
		t.Fatal("a rate-limited connection was closed")
	}
	if cmdLimited == 0 {
		t.Errorf("no cmd_rate refusal counted")
	}
}
