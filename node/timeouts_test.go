package node

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// SPEC, Limits: the HTTP server bounds reading a request, headers and body,
// and an idle keep-alive connection. Each hostile connection here is
// closed by the node within its bound (plus scheduling slack), and an
// honest request on the same node is served meanwhile.
func TestHTTPServerClosesStalledAndSilentConnections(t *testing.T) {
	const read, idle = 400 * time.Millisecond, 600 * time.Millisecond
	n := newTestNode(t, func(c *Config) { c.HTTPReadTimeout, c.HTTPIdleTimeout = read, idle })
	addr := serve(t, n)

	// closedWithin reads c until the node closes it, and fails the test if
	// that takes longer than bound + slack.
	closedWithin := func(name string, c net.Conn, bound time.Duration) {
		t.Helper()
		start := time.Now()
		_ = c.SetReadDeadline(start.Add(bound + 3*time.Second))
		_, err := io.Copy(io.Discard, c)
		took := time.Since(start)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s: still open after %v (bound %v)", name, took, bound)
		}
		if took > bound+2*time.Second {
			t.Fatalf("%s: closed after %v, bound %v", name, took, bound)
		}
		t.Logf("%s: closed after %v (bound %v)", name, took.Round(time.Millisecond), bound)
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	silent := dial()
	stalledHeaders := dial()
	_, _ = io.WriteString(stalledHeaders, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	stalledBody := dial()
	_, _ = io.WriteString(stalledBody, "POST /v1/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"to\":")
	keptAlive := dial()
	_, _ = io.WriteString(keptAlive, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(keptAlive)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		t.Fatalf("honest request: %q %v", status, err)
	}

	closedWithin("silent connection", silent, read)
	closedWithin("stalled headers", stalledHeaders, read)
	closedWithin("stalled body", stalledBody, read)
	closedWithin("idle keep-alive", keptAlive, idle)
}
