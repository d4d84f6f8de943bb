package engine

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"courier/router/testkit"
)

// Go versions of the main cases of the official v5/v4 suites.

// suiteCfg has the official suites' settings.
func suiteCfg() Config {
	return Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond, ConnectTimeout: time.Second}
}

// fastCfg is for tests not about heartbeats: slack enough for -race.
func fastCfg() Config {
	return Config{PingInterval: 2 * time.Second, PingTimeout: 2 * time.Second, ConnectTimeout: 5 * time.Second}
}

func TestOpenPacketFields(t *testing.T) {
	_, ts := startSIO(t, suiteCfg(), &recorder{})
	o := openPolling(t, ts, "/socket.io/")
	if o.Sid == "" || len(o.Upgrades) != 1 || o.Upgrades[0] != "websocket" || o.PingInterval != 300 || o.PingTimeout != 200 || o.MaxPayload != 1_000_000 {
		t.Fatalf("polling OPEN: %+v", o)
	}
	c := dialWS(t, wsURL(ts, "/socket.io/", ""))
	o = parseOpen(t, c.next())
	if o.Sid == "" || len(o.Upgrades) != 0 {
		t.Fatalf("websocket OPEN: %+v", o)
	}
	for _, q := range []string{"?transport=polling", "?EIO=abc&transport=polling", "?EIO=4", "?EIO=4&transport=abc"} {
		if code, _ := httpDo(t, http.MethodGet, ts.URL+"/socket.io/"+q, "", 5*time.Second); code != 400 {
			t.Errorf("%s: status %d, want 400", q, code)
		}
	}
}

func TestConnectAuthAndEmptyAuth(t *testing.T) {
	rec := &recorder{onConnected: func(c Conn, auth any) { c.Emit("auth", []any{auth}, nil) }}
	_, ts := startSIO(t, fastCfg(), rec)

	c := connectWS(t, ts, "")
	if m := c.next(); m != `42["auth",{}]` {
		t.Fatalf("no auth: got %q", m)
	}
	c2 := connectWS(t, ts, `{"token":"123"}`)
	if m := c2.next(); m != `42["auth",{"token":"123"}]` {
		t.Fatalf("auth: got %q", m)
	}
	_, _, _ = rec.snapshot()
	rec.mu.Lock()
	hs := rec.hss[0]
	rec.mu.Unlock()
	if hs.Auth == nil || len(hs.Auth) != 0 || hs.Transport != "websocket" || hs.RemoteAddr == "" {
		t.Fatalf("handshake: %+v", hs)
	}
}

func TestConnectRefused(t *testing.T) {
	rec := &recorder{refuse: &ConnectError{Message: "unauthorized", Data: map[string]any{"code": 401}}}
	s, ts := startSIO(t, fastCfg(), rec)
	c := dialWS(t, wsURL(ts, "/socket.io/", ""))
	parseOpen(t, c.next())
	c.send(`40{"token":"bad"}`)
	if m := c.next(); m != `44{"data":{"code":401},"message":"unauthorized"}` && m != `44{"message":"unauthorized","data":{"code":401}}` {
		t.Fatalf("got %q", m)
	}
	if conns, _, _ := rec.snapshot(); len(conns) != 0 || s.Count() != 0 {
		t.Fatalf("refused client got connected")
	}
}

func TestBadNamespace(t *testing.T) {
	_, ts := startSIO(t, fastCfg(), &recorder{})
	c := dialWS(t, wsURL(ts, "/socket.io/", ""))
	parseOpen(t, c.next())
	c.send("40/random,")
	if m := c.next(); m != `44/random,{"message":"Invalid namespace"}` {
		t.Fatalf("got %q", m)
	}
}

func TestExtraNamespace(t *testing.T) {
	extra := &recorder{onConnected: func(c Conn, auth any) { c.Emit("auth", []any{auth}, nil) }}
	_, ts := startSIO(t, fastCfg(), &recorder{}, WithNamespace("/custom", extra))
	c := dialWS(t, wsURL(ts, "/socket.io/", ""))
	parseOpen(t, c.next())
	c.send(`40/custom,{"token":"abc"}`)
	if m := c.next(); !strings.HasPrefix(m, `40/custom,{"sid":`) {
		t.Fatalf("got %q", m)
	}
	if m := c.next(); m != `42/custom,["auth",{"token":"abc"}]` {
		t.Fatalf("got %q", m)
	}
}

func TestEventEchoAckAndBinary(t *testing.T) {
	rec := &recorder{onEvent: func(c Conn, ev string, args []any, ack func(...any)) {
		switch ev {
		case "message":
			c.Emit("message-back", args, nil)
		case "message-with-ack":
			ack(args...)
		}
	}}
	_, ts := startSIO(t, fastCfg(), rec)
	c := connectWS(t, ts, "")
	c.send(`42["message",1,"2",{"3":[true]}]`)
	if m := c.next(); m != `42["message-back",1,"2",{"3":[true]}]` {
		t.Fatalf("echo: %q", m)
	}
	c.send(`42456["message-with-ack",1,"2",{"3":[false]}]`)
	if m := c.next(); m != `43456[1,"2",{"3":[false]}]` {
		t.Fatalf("ack: %q", m)
	}
	c.send(`452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	c.sendBinary([]byte{1, 2, 3})
	c.sendBinary([]byte{4, 5, 6})
	if m := c.next(); m != `462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]` {
		t.Fatalf("binary ack: %q", m)
	}
	if m := c.next(); m != "\x01\x02\x03" {
		t.Fatalf("attachment 0: %q", m)
	}
	if m := c.next(); m != "\x04\x05\x06" {
		t.Fatalf("attachment 1: %q", m)
	}
	c.send("42{}") // invalid payload closes the connection
	testkit.Eventually(t, 3*time.Second, "close after invalid packet", func() bool {
		_, closes, _ := rec.snapshot()
		_ = closes
		_, _, cl := rec.snapshot()
		return len(cl) == 1
	})
}

func TestEmitAckOrderAndClose(t *testing.T) {
	var mu sync.Mutex
	var got [][]any
	rec := &recorder{}
	s, ts := startSIO(t, fastCfg(), rec)
	c := connectWS(t, ts, "")
	testkit.Eventually(t, 2*time.Second, "connected", func() bool { return s.Count() == 1 && rec.connected() == 1 })
	conns, _, _ := rec.snapshot()
	sc := conns[0]
	if err := sc.Emit("push", []any{map[string]any{"n": 1}}, func(args []any) {
		mu.Lock()
		got = append(got, args)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if m := c.next(); m != `420["push",{"n":1}]` {
		t.Fatalf("emit: %q", m)
	}
	c.send(`430["ok",2]`)
	testkit.Eventually(t, 2*time.Second, "ack", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 })
	if a := got[0]; len(a) != 2 || a[0] != "ok" {
		t.Fatalf("ack args %v", a)
	}

	// events arrive one at a time, in order
	for i := 0; i < 200; i++ {
		c.send(`42["e` + itoa3(i) + `"]`)
	}
	testkit.Eventually(t, 5*time.Second, "200 events", func() bool { _, ev, _ := rec.snapshot(); return len(ev) == 200 })
	_, ev, _ := rec.snapshot()
	for i, e := range ev {
		if e != "e"+itoa3(i) {
			t.Fatalf("event %d is %q", i, e)
		}
	}

	// an ack never runs after close
	called := make(chan struct{}, 1)
	sc.Emit("late", nil, func([]any) { called <- struct{}{} })
	if m := c.next(); m != `421["late"]` {
		t.Fatalf("emit: %q", m)
	}
	sc.CloseTransport()
	testkit.Eventually(t, 2*time.Second, "close", func() bool { _, _, cl := rec.snapshot(); return len(cl) == 1 })
	if err := sc.Emit("x", nil, nil); err != ErrClosed {
		t.Fatalf("emit after close: %v", err)
	}
	select {
	case <-called:
		t.Fatal("ack ran after close")
	default:
	}
	if _, _, cl := rec.snapshot(); cl[0] != "forced close" {
		t.Fatalf("close reason %q", cl[0])
	}
	testkit.Eventually(t, 2*time.Second, "count 0", func() bool { return s.Count() == 0 })
}

func itoa3(i int) string {
	return string([]byte{byte('0' + i/100), byte('0' + i/10%10), byte('0' + i%10)})
}

func TestDisconnect(t *testing.T) {
	rec := &recorder{onConnected: func(c Conn, auth any) { c.Disconnect() }}
	_, ts := startSIO(t, fastCfg(), rec)
	c := connectWS(t, ts, "")
	if m := c.next(); m != "41" {
		t.Fatalf("want DISCONNECT, got %q", m)
	}
	testkit.Eventually(t, 2*time.Second, "close", func() bool { _, _, cl := rec.snapshot(); return len(cl) == 1 })
	if _, _, cl := rec.snapshot(); cl[0] != "server namespace disconnect" {
		t.Fatalf("reason %q", cl[0])
	}
	// client-side DISCONNECT keeps the Engine.IO session (pings go on)
	rec2 := &recorder{}
	_, ts2 := startSIO(t, fastCfg(), rec2)
	c2 := connectWS(t, ts2, "")
	c2.send("41")
	testkit.Eventually(t, 2*time.Second, "close", func() bool { _, _, cl := rec2.snapshot(); return len(cl) == 1 })
	if m, _, err := c2.read(5 * time.Second); err != nil || m != "2" {
		t.Fatalf("want PING after namespace disconnect, got %q %v", m, err)
	}
}

func TestPingPongAndTimeout(t *testing.T) {
	rec := &recorder{}
	cfg := suiteCfg()
	cfg.PingTimeout = time.Second // slack for -race; the timeout still fires
	_, ts := startSIO(t, cfg, rec)
	c := connectWS(t, ts, "")
	for i := 0; i < 3; i++ {
		m, _, err := c.read(2 * time.Second)
		if err != nil || m != "2" {
			t.Fatalf("want PING, got %q %v", m, err)
		}
		c.send("3")
	}
	// stop answering: the server closes on ping timeout
	testkit.Eventually(t, 5*time.Second, "ping timeout", func() bool { _, _, cl := rec.snapshot(); return len(cl) == 1 })
	if _, _, cl := rec.snapshot(); cl[0] != "ping timeout" {
		t.Fatalf("reason %q", cl[0])
	}
}

func TestPollingUpgrade(t *testing.T) {
	rec := &recorder{onEvent: func(c Conn, ev string, args []any, ack func(...any)) { c.Emit("message-back", args, nil) }}
	_, ts := startSIO(t, fastCfg(), rec)
	o := openPolling(t, ts, "/socket.io/")
	if code, body := httpDo(t, http.MethodPost, pollURL(ts, "/socket.io/", o.Sid), "40", 5*time.Second); code != 200 || body != "ok" {
		t.Fatalf("post CONNECT: %d %q", code, body)
	}
	if code, body := httpDo(t, http.MethodGet, pollURL(ts, "/socket.io/", o.Sid), "", 5*time.Second); code != 200 || !strings.HasPrefix(body, `40{"sid":`) {
		t.Fatalf("poll CONNECT answer: %d %q", code, body)
	}
	c := dialWS(t, wsURL(ts, "/socket.io/", "&sid="+o.Sid))
	c.send("2probe")
	if m := c.next(); m != "3probe" {
		t.Fatalf("probe: %q", m)
	}
	c.send("5")
	c.send(`42["message","hi"]`)
	if m := c.next(); m != `42["message-back","hi"]` {
		t.Fatalf("after upgrade: %q", m)
	}
	if code, _ := httpDo(t, http.MethodGet, pollURL(ts, "/socket.io/", o.Sid), "", 5*time.Second); code != 400 {
		t.Fatalf("poll after upgrade: %d", code)
	}
	_, _, cl := rec.snapshot()
	if len(cl) != 0 {
		t.Fatalf("closed during upgrade: %v", cl)
	}
}
