package engine

import (
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"courier/router/testkit"
)

// 2,000 polling handshakes that send nothing more cost a few hundred bytes
// each and no goroutine (the library spent about 17 KB and two timer
// goroutines on each), and are forgotten after the connect timeout.
func TestAnonymousPollingSessionsCostLittle(t *testing.T) {
	cfg := Config{PingInterval: 20 * time.Second, PingTimeout: 20 * time.Second, ConnectTimeout: 2 * time.Second}
	s, ts := startSIO(t, cfg, &recorder{})
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer cl.CloseIdleConnections()
	handshake := func() {
		res, err := cl.Get(ts.URL + "/socket.io/?EIO=4&transport=polling")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		o := parseOpen(t, string(b))
		if res.StatusCode != 200 || o.Sid == "" || len(o.Upgrades) != 1 || o.PingInterval != 20000 || o.PingTimeout != 20000 || o.MaxPayload != 1_000_000 {
			t.Fatalf("handshake answered %d %q", res.StatusCode, b)
		}
	}
	handshake() // warm the client's connections
	const sessions = 2000
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	for range sessions {
		handshake()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perSession := (int64(after.HeapAlloc) - int64(before.HeapAlloc) + int64(after.StackInuse) - int64(before.StackInuse)) / sessions
	extra := runtime.NumGoroutine() - goroutines
	t.Logf("%d B and %d goroutines more per anonymous polling session", perSession, extra/sessions)
	if perSession > 2048 || extra > 20 {
		t.Fatalf("an anonymous polling session costs %d B (want ≤ 2 KB); %d goroutines more for %d sessions", perSession, extra, sessions)
	}
	if n := s.eio.pre.count(); n != sessions+1 {
		t.Fatalf("%d pre-sessions kept, want %d", n, sessions+1)
	}
	if s.eio.count() != 0 {
		t.Fatalf("the library holds %d sessions for clients that sent nothing", s.eio.count())
	}
	testkit.Eventually(t, 5*time.Second, "pre-sessions forgotten after the connect timeout", func() bool { return s.eio.pre.count() == 0 })
}

// Heartbeats before the first Socket.IO packet: a held GET gets the ping
// when it is due, a PONG starts the next interval, and a session whose ping
// went unanswered is gone (the official suite's "ping timeout" case).
func TestPreSessionHeartbeatAndPingTimeout(t *testing.T) {
	_, ts := startSIO(t, suiteCfg(), &recorder{})
	o := openPolling(t, ts, "/socket.io/")
	url := pollURL(ts, "/socket.io/", o.Sid)
	for i := range 3 {
		start := time.Now()
		if code, b := httpDo(t, http.MethodGet, url, "", 3*time.Second); code != 200 || b != "2" {
			t.Fatalf("poll %d: %d %q", i, code, b)
		}
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Fatalf("poll %d: ping after %v, before its interval", i, d)
		}
		if code, b := httpDo(t, http.MethodPost, url, "3", 3*time.Second); code != 200 || b != "ok" {
			t.Fatalf("pong %d: %d %q", i, code, b)
		}
	}
	time.Sleep(500 * time.Millisecond) // interval + timeout with no pong
	if code, b := httpDo(t, http.MethodGet, url, "", 3*time.Second); code != 400 || !strings.Contains(b, "Session ID unknown") {
		t.Fatalf("poll after the ping timeout: %d %q", code, b)
	}
}

// The client's CLOSE ends its held GET with NOOP, and the session is gone;
// two GETs at once end the session (the first with CLOSE, the second 400).
func TestPreSessionCloseAndOverlap(t *testing.T) {
	_, ts := startSIO(t, fastCfg(), &recorder{})
	o := openPolling(t, ts, "/socket.io/")
	url := pollURL(ts, "/socket.io/", o.Sid)
	got := pollInBackground(url)
	if code, b := httpDo(t, http.MethodPost, url, "1", 3*time.Second); code != 200 || b != "ok" {
		t.Fatalf("CLOSE: %d %q", code, b)
	}
	if b := <-got; b != "6" {
		t.Fatalf("held GET ended with %q, want NOOP", b)
	}
	if code, _ := httpDo(t, http.MethodGet, url, "", 3*time.Second); code != 400 {
		t.Fatalf("poll after CLOSE: %d", code)
	}

	o = openPolling(t, ts, "/socket.io/")
	url = pollURL(ts, "/socket.io/", o.Sid)
	got = pollInBackground(url)
	time.Sleep(100 * time.Millisecond) // the first GET is held
	if code, _ := httpDo(t, http.MethodGet, url, "", 3*time.Second); code != 400 {
		t.Fatalf("overlapping GET: %d", code)
	}
	if b := <-got; b != "1" {
		t.Fatalf("first GET ended with %q, want CLOSE", b)
	}
}

// At the client's CONNECT the library takes the session over: its held GET
// ends with NOOP, the next poll carries the CONNECT answer, and the handler
// sees the handshake as the client made it (headers, query, address).
func TestPreSessionHandsOverAtConnect(t *testing.T) {
	rec := &recorder{onEvent: func(c Conn, ev string, args []any, ack func(...any)) { c.Emit("message-back", args, nil) }}
	_, ts := startSIO(t, fastCfg(), rec)
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/socket.io/?EIO=4&transport=polling&device=d1", nil)
	req.Header.Set("X-Test", "kept")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	o := parseOpen(t, string(b))
	url := pollURL(ts, "/socket.io/", o.Sid)

	var wg sync.WaitGroup
	wg.Add(1)
	var held string
	go func() {
		defer wg.Done()
		_, held = httpDo(t, http.MethodGet, url, "", 5*time.Second)
	}()
	time.Sleep(50 * time.Millisecond)
	if code, b := httpDo(t, http.MethodPost, url, `40{"token":"x"}`, 3*time.Second); code != 200 || b != "ok" {
		t.Fatalf("CONNECT: %d %q", code, b)
	}
	wg.Wait()
	if held != "6" {
		t.Fatalf("the GET held at the handover ended with %q, want NOOP", held)
	}
	if code, b := httpDo(t, http.MethodGet, url, "", 3*time.Second); code != 200 || !strings.HasPrefix(b, `40{"sid":`) {
		t.Fatalf("poll after CONNECT: %d %q", code, b)
	}
	rec.mu.Lock()
	hs := rec.hss[0]
	rec.mu.Unlock()
	if hs.Header.Get("X-Test") != "kept" || hs.Query.Get("device") != "d1" || hs.RemoteAddr == "" || hs.Transport != "polling" || hs.Auth["token"] != "x" {
		t.Fatalf("handshake seen by the handler: %+v", hs)
	}
	if code, _ := httpDo(t, http.MethodPost, url, `42["message","hi"]`, 3*time.Second); code != 200 {
		t.Fatalf("event: %d", code)
	}
	if code, b := httpDo(t, http.MethodGet, url, "", 3*time.Second); code != 200 || b != `42["message-back","hi"]` {
		t.Fatalf("echo: %d %q", code, b)
	}
}

// A WebSocket upgrade before any Socket.IO packet hands the session over;
// the client then connects on the WebSocket.
func TestPreSessionUpgradeBeforeConnect(t *testing.T) {
	rec := &recorder{}
	_, ts := startSIO(t, fastCfg(), rec)
	o := openPolling(t, ts, "/socket.io/")
	c := dialWS(t, wsURL(ts, "/socket.io/", "&sid="+o.Sid))
	c.send("2probe")
	if m := c.next(); m != "3probe" {
		t.Fatalf("probe: %q", m)
	}
	c.send("5")
	c.send("40")
	if m := c.next(); !strings.HasPrefix(m, `40{"sid":`) {
		t.Fatalf("CONNECT over the upgraded transport: %q", m)
	}
	if code, _ := httpDo(t, http.MethodGet, pollURL(ts, "/socket.io/", o.Sid), "", 3*time.Second); code != 400 {
		t.Fatalf("poll after the upgrade: %d", code)
	}
	if rec.connected() != 1 {
		t.Fatalf("%d connected", rec.connected())
	}
}

// Past the bound on pre-sessions a polling handshake is refused with 503 and
// Retry-After; a place freed is taken again.
func TestPreSessionsAreBounded(t *testing.T) {
	s, ts := startSIO(t, fastCfg(), &recorder{})
	s.eio.pre.mu.Lock()
	s.eio.pre.maxCount = 3
	s.eio.pre.mu.Unlock()
	var sids []string
	for range 3 {
		sids = append(sids, openPolling(t, ts, "/socket.io/").Sid)
	}
	res, err := http.Get(pollURL(ts, "/socket.io/", ""))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("handshake past the bound: %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if code, _ := httpDo(t, http.MethodPost, pollURL(ts, "/socket.io/", sids[0]), "1", 3*time.Second); code != 200 {
		t.Fatalf("CLOSE: %d", code)
	}
	if code, _ := httpDo(t, http.MethodGet, pollURL(ts, "/socket.io/", sids[0]), "", 3*time.Second); code != 400 {
		t.Fatalf("poll of the closed session: %d", code) // and its record is forgotten
	}
	openPolling(t, ts, "/socket.io/")
}

// pollInBackground sends a GET to url and hands over its answer's body (or
// its error) when it comes.
func pollInBackground(url string) <-chan string {
	got := make(chan string, 1)
	go func() {
		res, err := http.Get(url)
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- string(b)
	}()
	return got
}
