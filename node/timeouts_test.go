package node

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"courier/router/testkit"
)

// SPEC, Limits: the HTTP server bounds reading a request, headers and body,
// and an idle keep-alive connection. Each hostile connection here is
// closed by the node within its bound (plus scheduling slack), and an
// honest request on the same node is served meanwhile.
func TestHTTPServerClosesStalledAndSilentConnections(t *testing.T) {
	const read, idle = 400 * time.Millisecond, 600 * time.Millisecond
	n := newTestNode(t, func(c *Config) { c.HTTPReadTimeout, c.HTTPIdleTimeout = read, idle })
	addr := serve(t, n)
	holdHostileConnections(t, addr, read, idle, "POST /v1/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"to\":")
}

// The same bounds hold on the listener of --metrics-listen.
func TestMetricsListenerClosesStalledAndSilentConnections(t *testing.T) {
	const read, idle = 400 * time.Millisecond, 600 * time.Millisecond
	n := newTestNode(t, func(c *Config) { c.HTTPReadTimeout, c.HTTPIdleTimeout, c.MetricsListen = read, idle, "127.0.0.1:0" })
	serve(t, n)
	var addr string
	testkit.Eventually(t, 5*time.Second, "metrics address known", func() bool { addr = n.MetricsAddr(); return addr != "" })
	holdHostileConnections(t, addr, read, idle, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
}

// holdHostileConnections opens, on the HTTP listener at addr, a silent
// connection, one stalled in its headers, one stalled in its body (the
// request stalledBody) and an idle keep-alive after an honest GET /healthz
// or /metrics, and checks that the listener closes each within its bound
// (read, or idle for the keep-alive) plus scheduling slack.
func holdHostileConnections(t *testing.T, addr string, read, idle time.Duration, stalledBody string) {
	t.Helper()
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
	_, _ = io.WriteString(stalledHeaders, "GET /metrics HTTP/1.1\r\nHost: x\r\n")
	stalledInBody := dial()
	_, _ = io.WriteString(stalledInBody, stalledBody)
	keptAlive := dial()
	_, _ = io.WriteString(keptAlive, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	// the answer is read whole, so the connection is idle from here
	res, err := http.ReadResponse(bufio.NewReader(keptAlive), nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("honest request: %v %v", res, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()

	closedWithin("silent connection", silent, read)
	closedWithin("stalled headers", stalledHeaders, read)
	closedWithin("stalled body", stalledInBody, read)
	closedWithin("idle keep-alive", keptAlive, idle)
}
