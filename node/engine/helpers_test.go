package engine

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"courier/router/testkit"
)

// recorder is a Handler that remembers what happens.
type recorder struct {
	mu     sync.Mutex
	refuse error
	conns  []Conn
	hss    []*Handshake
	events []string
	closes []string
	// onConnected runs inside Connected (after OnEvent/OnClose are set).
	onConnected func(c Conn, auth any)
	onEvent     func(c Conn, ev string, args []any, ack func(...any))
}

func (r *recorder) Authenticate(hs *Handshake) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hss = append(r.hss, hs)
	if r.refuse != nil {
		return nil, r.refuse
	}
	return hs.Auth, nil
}

func (r *recorder) Connected(c Conn, auth any) {
	r.mu.Lock()
	r.conns = append(r.conns, c)
	oe, oc := r.onEvent, r.onConnected
	r.mu.Unlock()
	c.OnEvent(func(ev string, args []any, ack func(...any)) {
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
		if oe != nil {
			oe(c, ev, args, ack)
		}
	})
	c.OnClose(func(reason string) {
		r.mu.Lock()
		r.closes = append(r.closes, reason)
		r.mu.Unlock()
	})
	if oc != nil {
		oc(c, auth)
	}
}

func (r *recorder) snapshot() (conns []Conn, events, closes []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Conn(nil), r.conns...), append([]string(nil), r.events...), append([]string(nil), r.closes...)
}

// connected counts the conns handed to Connected: the engine counts a
// connection before it calls Connected, so a test waits for both.
func (r *recorder) connected() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

// startSIO serves a SocketIO on 127.0.0.1:0.
func startSIO(t testing.TB, cfg Config, h Handler, opts ...Option) (*SocketIO, *httptest.Server) {
	t.Helper()
	s, err := NewSocketIO(cfg, h, testkit.LoggerAt(t, slog.LevelWarn), opts...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", s)
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return s, ts
}

func wsURL(ts *httptest.Server, path, query string) string {
	return "ws" + strings.TrimPrefix(ts.URL, "http") + path + "?EIO=4&transport=websocket" + query
}

// wsClient is a raw WebSocket client speaking Engine.IO frames.
type wsClient struct {
	t    testing.TB
	conn net.Conn
	r    io.Reader
}

func dialWS(t testing.TB, url string) *wsClient {
	t.Helper()
	c, err := tryDialWS(url)
	if err != nil {
		t.Fatal(err)
	}
	c.t = t
	t.Cleanup(func() { c.conn.Close() })
	return c
}

func tryDialWS(url string) (*wsClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	c := &wsClient{conn: conn, r: conn}
	if br != nil {
		// the server's first frames may already sit in br
		c.r = io.MultiReader(br, conn)
	}
	return c, nil
}

type rw struct {
	io.Reader
	io.Writer
}

// read returns the next message (text or binary) within d.
func (c *wsClient) read(d time.Duration) (string, ws.OpCode, error) {
	c.conn.SetReadDeadline(time.Now().Add(d))
	b, op, err := wsutil.ReadServerData(rw{c.r, c.conn})
	return string(b), op, err
}

// next returns the next text message that is not a PING, answering PINGs.
func (c *wsClient) next() string {
	c.t.Helper()
	for {
		m, _, err := c.read(5 * time.Second)
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if m == "2" {
			c.send("3")
			continue
		}
		return m
	}
}

func (c *wsClient) send(m string) {
	if err := wsutil.WriteClientText(c.conn, []byte(m)); err != nil && c.t != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *wsClient) sendBinary(b []byte) {
	if err := wsutil.WriteClientBinary(c.conn, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// openPacket decodes an Engine.IO OPEN packet.
type openPacket struct {
	Sid          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

func parseOpen(t testing.TB, m string) openPacket {
	t.Helper()
	if !strings.HasPrefix(m, "0") {
		t.Fatalf("want OPEN, got %q", m)
	}
	var o openPacket
	if err := json.Unmarshal([]byte(m[1:]), &o); err != nil {
		t.Fatal(err)
	}
	return o
}

// connectWS opens a socket.io connection on "/" and returns the client after
// the CONNECT answer.
func connectWS(t testing.TB, ts *httptest.Server, auth string) *wsClient {
	t.Helper()
	c := dialWS(t, wsURL(ts, "/socket.io/", ""))
	parseOpen(t, c.next())
	c.send("40" + auth)
	if m := c.next(); !strings.HasPrefix(m, `40{"sid":`) {
		t.Fatalf("want CONNECT answer, got %q", m)
	}
	return c
}

// polling helpers
func pollURL(ts *httptest.Server, path, sid string) string {
	u := ts.URL + path + "?EIO=4&transport=polling"
	if sid != "" {
		u += "&sid=" + sid
	}
	return u
}

func httpDo(t testing.TB, method, url, body string, timeout time.Duration) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	cl := &http.Client{Timeout: timeout}
	res, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func openPolling(t testing.TB, ts *httptest.Server, path string) openPacket {
	t.Helper()
	code, body := httpDo(t, http.MethodGet, pollURL(ts, path, ""), "", 5*time.Second)
	if code != 200 {
		t.Fatalf("handshake: %d %s", code, body)
	}
	return parseOpen(t, body)
}
