package engine

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"courier/router/testkit"
)

// TestLeanAbuseLeaksNothing opens 10,000 abusive connections against the
// lean engine, in batches, and checks that goroutines and open files are
// back where they were: oversized frames, malformed packets, upgrades that
// never finish, sessions that never CONNECT, clients that never answer
// PINGs, clients that never read, and abrupt closes. COURIER_ABUSE_N sets
// the count (default 10,000; 2,000 with -short).
func TestLeanAbuseLeaksNothing(t *testing.T) {
	total := 10000
	if testing.Short() {
		total = 2000
	}
	if v, err := strconv.Atoi(os.Getenv("COURIER_ABUSE_N")); err == nil && v > 0 {
		total = v
	}
	cfg := Config{
		PingInterval:   150 * time.Millisecond,
		PingTimeout:    150 * time.Millisecond,
		ConnectTimeout: 300 * time.Millisecond,
		WriteTimeout:   300 * time.Millisecond,
		MaxPayload:     10_000,
	}
	rec := &recorder{onConnected: func(c Conn, auth any) {
		if auth.(map[string]any)["flood"] == true {
			go func() {
				big := []any{strings.Repeat("x", 32<<10)}
				for c.Emit("flood", big, nil) == nil {
				}
			}()
		}
	}}
	s, err := NewSocketIO(cfg, rec, testkit.LoggerAt(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", s)
	ts := httptest.NewUnstartedServer(mux)
	ts.Config.ReadHeaderTimeout = 2 * time.Second // upgrades that never finish
	ts.Start()
	t.Cleanup(func() { s.Close(); ts.Close() })
	addr := ts.Listener.Addr().String()
	url := wsURL(ts, "/socket.io/", "")

	// warm up: the engine's workers, pools and the HTTP client side exist
	warm := connectWS(t, ts, "")
	warm.conn.Close()
	testkit.Eventually(t, 5*time.Second, "warm-up gone", func() bool { return s.lean.core.count.Load() == 0 })
	rec.mu.Lock()
	rec.conns, rec.hss = nil, nil
	rec.mu.Unlock()
	g0, f0 := settle(t, -1, -1)

	abuses := []func() error{
		func() error { return abuseOversized(url) },
		func() error { return abuseMalformed(url, "4abc") },
		func() error { return abuseMalformed(url, `42{}`) },
		func() error { return abuseMalformed(url, "\x00garbage") },
		func() error { return abuseNoConnect(url) },
		func() error { return abuseNoPong(url) },
		func() error { return abuseHalfUpgrade(addr) },
		func() error { return abuseAbrupt(url) },
	}
	const batch = 1000
	start := time.Now()
	var failed int
	for done := 0; done < total; done += batch {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := done; i < min(done+batch, total); i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				var err error
				if i%100 == 99 {
					err = abuseNeverReads(url) // heavy: 1 in 100
				} else {
					err = abuses[i%len(abuses)]()
				}
				if err != nil {
					mu.Lock()
					failed++
					if failed <= 5 {
						t.Logf("abuse %d: %v", i%len(abuses), err)
					}
					mu.Unlock()
				}
			}(i)
		}
		wg.Wait()
		// drop the recorder's references: the node forgets its sessions too
		rec.mu.Lock()
		rec.conns, rec.hss = nil, nil
		rec.mu.Unlock()
	}
	if failed > 0 {
		t.Errorf("%d of %d abusive clients were not closed as expected", failed, total)
	}
	testkit.Eventually(t, 10*time.Second, "every lean connection gone", func() bool { return s.lean.core.count.Load() == 0 })
	g1, f1 := settle(t, g0, f0)
	t.Logf("%d abusive connections in %v: goroutines %d -> %d, open files %d -> %d", total, time.Since(start).Round(time.Millisecond), g0, g1, f0, f1)
	if g1 > g0+2 || f1 > f0 {
		t.Fatalf("leak: goroutines %d -> %d, open files %d -> %d", g0, g1, f0, f1)
	}
}

// settle waits until goroutines and open files drop to the baseline (or
// stop moving) and returns them.
func settle(t *testing.T, g0, f0 int) (int, int) {
	t.Helper()
	http.DefaultClient.CloseIdleConnections()
	var g, f int
	for i := 0; i < 100; i++ {
		runtime.GC()
		g, f = runtime.NumGoroutine(), openFiles(t)
		if g0 < 0 || (g <= g0 && f <= f0) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return g, f
}

func openFiles(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

func abuseDial(url string) (net.Conn, *bufio.Reader, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, br, _, err := ws.Dial(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	if br == nil {
		br = bufio.NewReader(c)
	}
	return c, br, nil
}

// awaitClose reads until the server ends the connection.
func awaitClose(c net.Conn, br *bufio.Reader, d time.Duration) error {
	c.SetReadDeadline(time.Now().Add(d))
	for {
		_, _, err := wsutil.ReadServerData(rw{br, c})
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return fmt.Errorf("server did not close within %v", d)
			}
			return nil
		}
	}
}

func abuseOversized(url string) error {
	c, br, err := abuseDial(url)
	if err != nil {
		return err
	}
	defer c.Close()
	ws.WriteHeader(c, ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Length: 1 << 40})
	return awaitClose(c, br, 5*time.Second)
}

func abuseMalformed(url, pkt string) error {
	c, br, err := abuseDial(url)
	if err != nil {
		return err
	}
	defer c.Close()
	wsutil.WriteClientText(c, []byte(pkt))
	return awaitClose(c, br, 5*time.Second)
}

func abuseNoConnect(url string) error {
	c, br, err := abuseDial(url)
	if err != nil {
		return err
	}
	defer c.Close()
	return awaitClose(c, br, 5*time.Second)
}

func abuseNoPong(url string) error {
	c, br, err := abuseDial(url)
	if err != nil {
		return err
	}
	defer c.Close()
	wsutil.WriteClientText(c, []byte("40"))
	return awaitClose(c, br, 5*time.Second)
}

// abuseNeverReads asks to be flooded and never reads a byte.
func abuseNeverReads(url string) error {
	c, _, err := abuseDial(url)
	if err != nil {
		return err
	}
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(4 << 10)
	}
	wsutil.WriteClientText(c, []byte(`40{"flood":true}`))
	// the server closes within WriteTimeout once its socket buffer is full;
	// a write of ours then fails (or the read end sees EOF eventually)
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		if err := wsutil.WriteClientText(c, []byte("3")); err != nil {
			return nil
		}
	}
	return fmt.Errorf("flooded client still open")
}

// abuseHalfUpgrade sends half a request and waits to be dropped.
func abuseHalfUpgrade(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
	// The server's 2 s ReadHeaderTimeout starts when it accepts, which on a
	// loaded machine with a batch of 1,000 dialling can be seconds after
	// the dial returned: wait well past both.
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	var b [512]byte
	for {
		if _, err := c.Read(b[:]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return fmt.Errorf("half upgrade not dropped")
			}
			return nil
		}
	}
}

// abuseAbrupt starts a frame and resets the connection.
func abuseAbrupt(url string) error {
	c, _, err := abuseDial(url)
	if err != nil {
		return err
	}
	ws.WriteHeader(c, ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Length: 500})
	c.Write([]byte("42[\"half"))
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	return c.Close()
}
