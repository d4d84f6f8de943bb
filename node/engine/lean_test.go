package engine

import (
	"encoding/binary"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"courier/router/testkit"
)

// Lean-engine specifics; the protocol tests of protocol_test.go already run
// their direct WebSocket cases on it.

func TestLeanServesDirectWebSocketZishangTheRest(t *testing.T) {
	rec := &recorder{}
	s, ts := startSIO(t, fastCfg(), rec)
	if s.lean == nil {
		t.Fatal("lean engine off by default")
	}
	connectWS(t, ts, "")
	testkit.Eventually(t, 2*time.Second, "connected", func() bool { return s.Count() == 1 && rec.connected() == 1 })
	conns, _, _ := rec.snapshot()
	if _, ok := conns[0].(*lconn); !ok {
		t.Fatalf("direct WebSocket served by %T", conns[0])
	}
	if s.lean.count.Load() != 1 || s.count.Load() != 0 {
		t.Fatalf("counts: lean %d zishang %d", s.lean.count.Load(), s.count.Load())
	}
	// the fallback switch: everything on zishang520
	cfg := fastCfg()
	cfg.LegacyWebSocket = true
	rec2 := &recorder{}
	s2, ts2 := startSIO(t, cfg, rec2)
	connectWS(t, ts2, "")
	testkit.Eventually(t, 2*time.Second, "connected", func() bool { return s2.Count() == 1 && rec2.connected() == 1 })
	conns, _, _ = rec2.snapshot()
	if _, ok := conns[0].(*conn); !ok || s2.lean != nil {
		t.Fatalf("legacy switch: served by %T", conns[0])
	}
}

func TestLeanBadQueryAnswers400(t *testing.T) {
	_, ts := startSIO(t, fastCfg(), &recorder{})
	for _, q := range []string{"/socket.io/?transport=websocket", "/socket.io/?EIO=abc&transport=websocket", "/socket.io/?EIO=4", "/socket.io/?EIO=4&transport=abc"} {
		_, err := tryDialWS("ws" + strings.TrimPrefix(ts.URL, "http") + q)
		if err == nil || !strings.Contains(err.Error(), "400") {
			t.Errorf("%s: %v, want a 400 refusal", q, err)
		}
	}
}

// rawFrame writes a masked client frame with any header the test likes.
func rawFrame(t testing.TB, c net.Conn, fin bool, op ws.OpCode, payload []byte, declared int64) {
	t.Helper()
	h := ws.Header{Fin: fin, OpCode: op, Masked: true, Length: declared, Mask: [4]byte{1, 2, 3, 4}}
	if err := ws.WriteHeader(c, h); err != nil {
		t.Fatal(err)
	}
	p := append([]byte(nil), payload...)
	ws.Cipher(p, h.Mask, 0)
	if _, err := c.Write(p); err != nil {
		t.Fatal(err)
	}
}

// closeCode reads until the server's close frame and returns its status.
func (c *wsClient) closeCode(d time.Duration) (ws.StatusCode, bool) {
	c.conn.SetReadDeadline(time.Now().Add(d))
	for {
		h, err := ws.ReadHeader(c.r)
		if err != nil {
			return 0, false
		}
		p := make([]byte, h.Length)
		if _, err := readFull(c.r, p); err != nil {
			return 0, false
		}
		if h.OpCode == ws.OpClose && len(p) >= 2 {
			return ws.StatusCode(binary.BigEndian.Uint16(p)), true
		}
	}
}

func readFull(r interface{ Read([]byte) (int, error) }, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestLeanOversizedFrameCloses1009(t *testing.T) {
	cfg := fastCfg()
	cfg.MaxPayload = 1000
	rec := &recorder{}
	_, ts := startSIO(t, cfg, rec)
	c := connectWS(t, ts, "")
	// only the header: the length alone is refused, nothing is allocated for it
	h := ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Length: 1 << 30}
	if err := ws.WriteHeader(c.conn, h); err != nil {
		t.Fatal(err)
	}
	if code, ok := c.closeCode(3 * time.Second); !ok || code != ws.StatusMessageTooBig {
		t.Fatalf("close %d %v, want 1009", code, ok)
	}
	testkit.Eventually(t, 2*time.Second, "closed", func() bool { _, _, cl := rec.snapshot(); return len(cl) == 1 })
	if _, _, cl := rec.snapshot(); cl[0] != reasonTransportError {
		t.Fatalf("reason %q", cl[0])
	}
}

// A text message that is not UTF-8 fails the connection with 1007 (RFC
// 6455 8.1), whole or split over fragments; nothing of it is delivered.
func TestLeanInvalidUTF8TextCloses1007(t *testing.T) {
	whole := func(c net.Conn, fin bool, op ws.OpCode, payload string) {
		rawFrame(t, c, fin, op, []byte(payload), int64(len(payload)))
	}
	for name, send := range map[string]func(c net.Conn){
		"one frame": func(c net.Conn) { whole(c, true, ws.OpText, "42[\"ev\",\"\xff\xfe\"]") },
		"split rune": func(c net.Conn) {
			whole(c, false, ws.OpText, "42[\"ev\",\"\xe2\x82")
			whole(c, true, ws.OpContinuation, "\"]")
		},
	} {
		rec := &recorder{}
		_, ts := startSIO(t, fastCfg(), rec)
		c := connectWS(t, ts, "")
		send(c.conn)
		if code, ok := c.closeCode(3 * time.Second); !ok || code != ws.StatusInvalidFramePayloadData {
			t.Fatalf("%s: close %d %v, want 1007", name, code, ok)
		}
		if _, ev, _ := rec.snapshot(); len(ev) != 0 {
			t.Fatalf("%s: delivered %v", name, ev)
		}
	}
	// A rune split over two fragments is valid once joined.
	rec := &recorder{onEvent: func(c Conn, ev string, args []any, ack func(...any)) { c.Emit("back", args, nil) }}
	_, ts := startSIO(t, fastCfg(), rec)
	c := connectWS(t, ts, "")
	whole(c.conn, false, ws.OpText, "42[\"ev\",\"\xe2\x82")
	whole(c.conn, true, ws.OpContinuation, "\xac\"]")
	if m := c.next(); m != "42[\"back\",\"\u20ac\"]" {
		t.Fatalf("euro sign over two fragments: %q", m)
	}
}

func TestLeanFragmentsPingsAndUnmasked(t *testing.T) {
	rec := &recorder{onEvent: func(c Conn, ev string, args []any, ack func(...any)) { c.Emit("back", args, nil) }}
	_, ts := startSIO(t, fastCfg(), rec)
	c := connectWS(t, ts, "")
	rawFrame(t, c.conn, false, ws.OpText, []byte(`42["ev","a`), 10)
	rawFrame(t, c.conn, true, ws.OpPing, []byte("hi"), 2) // control frames may interleave
	rawFrame(t, c.conn, true, ws.OpContinuation, []byte(`bc"]`), 4)
	if m := c.next(); m != `42["back","abc"]` {
		t.Fatalf("fragmented event: %q", m)
	}
	// an unmasked client frame is a protocol error
	if _, err := c.conn.Write([]byte{0x81, 0x01, '3'}); err != nil {
		t.Fatal(err)
	}
	if code, ok := c.closeCode(3 * time.Second); !ok || code != ws.StatusProtocolError {
		t.Fatalf("close %d %v, want 1002", code, ok)
	}
}

func TestLeanConnectTimeout(t *testing.T) {
	cfg := fastCfg()
	cfg.ConnectTimeout = 200 * time.Millisecond
	s, ts := startSIO(t, cfg, &recorder{})
	c := dialWS(t, wsURL(ts, "/socket.io/", ""))
	parseOpen(t, c.next())
	if _, ok := c.closeCode(3 * time.Second); !ok {
		t.Fatal("no close without CONNECT")
	}
	testkit.Eventually(t, 2*time.Second, "engine count 0", func() bool { return s.lean.core.count.Load() == 0 })
}

func TestLeanBinaryEmitAndPrepared(t *testing.T) {
	rec := &recorder{}
	s, ts := startSIO(t, fastCfg(), rec)
	c := connectWS(t, ts, "")
	testkit.Eventually(t, 2*time.Second, "connected", func() bool { return s.Count() == 1 && rec.connected() == 1 })
	conns, _, _ := rec.snapshot()
	if err := conns[0].Emit("bin", []any{[]byte{7, 8}, map[string]any{"k": []byte{9}}}, nil); err != nil {
		t.Fatal(err)
	}
	if m := c.next(); m != `452-["bin",{"_placeholder":true,"num":0},{"k":{"_placeholder":true,"num":1}}]` {
		t.Fatalf("binary event: %q", m)
	}
	if m := c.next(); m != "\x07\x08" {
		t.Fatalf("attachment: %q", m)
	}
	if m := c.next(); m != "\x09" {
		t.Fatalf("attachment: %q", m)
	}
	p := NewPrepared("push", []any{map[string]any{"n": 1}})
	acked := make(chan uint64, 1)
	conns[0].OnAckToken(func(token uint64) { acked <- token })
	for i := 0; i < 2; i++ {
		if err := conns[0].EmitPreparedToken(p, uint64(7+i)); err != nil {
			t.Fatal(err)
		}
	}
	if m := c.next(); m != `420["push",{"n":1}]` {
		t.Fatalf("prepared: %q", m)
	}
	if m := c.next(); m != `421["push",{"n":1}]` {
		t.Fatalf("prepared again: %q", m)
	}
	c.send(`431["ok"]`)
	select {
	case token := <-acked:
		if token != 8 {
			t.Fatalf("ack of the second emit ran with token %d, want 8", token)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no ack")
	}
}

// A client that stops reading is closed by the write deadline, with its
// reason, and its queue is freed.
func TestLeanReaderThatNeverReads(t *testing.T) {
	cfg := fastCfg()
	cfg.WriteTimeout = 300 * time.Millisecond
	cfg.PingInterval = 20 * time.Second
	rec := &recorder{}
	s, ts := startSIO(t, cfg, rec)
	c := connectWS(t, ts, "")
	testkit.Eventually(t, 2*time.Second, "connected", func() bool { return s.Count() == 1 && rec.connected() == 1 })
	if tc, ok := c.conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(4 << 10)
	}
	conns, _, _ := rec.snapshot()
	big := strings.Repeat("x", 64<<10)
	for i := 0; i < 400; i++ {
		if conns[0].Emit("flood", []any{big}, nil) != nil {
			break
		}
	}
	testkit.Eventually(t, 5*time.Second, "closed", func() bool { _, _, cl := rec.snapshot(); return len(cl) == 1 })
	if _, _, cl := rec.snapshot(); cl[0] != reasonWriteTimeout && cl[0] != reasonQueueFull {
		t.Fatalf("reason %q", cl[0])
	}
	testkit.Eventually(t, 2*time.Second, "count 0", func() bool { return s.Count() == 0 })
}

// The heartbeat of the lean engine: a PONG that comes back at once is never
// lost (the zishang520 race), and a missing one closes with "ping timeout".
func TestLeanHeartbeat(t *testing.T) {
	cfg := Config{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond, ConnectTimeout: 5 * time.Second}
	rec := &recorder{}
	_, ts := startSIO(t, cfg, rec)
	c := connectWS(t, ts, "")
	deadline := time.Now().Add(1500 * time.Millisecond)
	pings := 0
	for time.Now().Before(deadline) {
		m, _, err := c.read(time.Second)
		if err != nil {
			t.Fatalf("after %d pings: %v", pings, err)
		}
		if m == "2" {
			pings++
			c.send("3")
		}
	}
	if pings < 5 {
		t.Fatalf("only %d pings", pings)
	}
	if _, _, cl := rec.snapshot(); len(cl) != 0 {
		t.Fatalf("closed while answering: %v", cl)
	}
	testkit.Eventually(t, 3*time.Second, "ping timeout", func() bool { _, _, cl := rec.snapshot(); return len(cl) == 1 })
	if _, _, cl := rec.snapshot(); cl[0] != reasonPingTimeout {
		t.Fatalf("reason %q", cl[0])
	}
}

var _ = http.StatusOK
