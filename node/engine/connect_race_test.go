package engine

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"courier/router/testkit"
)

// TestConnectRightAfterOpen proves the early-data gate: 5,000 raw clients send
// the socket.io CONNECT ("40") the instant they read OPEN, and every one must
// get its CONNECT answer. Without the gate the library can emit the CONNECT
// before socket.io attached its data listener, and the client hangs until
// connectTimeout.
func TestConnectRightAfterOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 connections: skipped only under -short; make test and CI run it")
	}
	const (
		clients     = 5000
		concurrency = 200
	)
	cfg := Config{PingInterval: time.Minute, PingTimeout: time.Minute, ConnectTimeout: time.Minute}
	s, ts := startSIO(t, cfg, &recorder{})
	url := wsURL(ts, "/socket.io/", "")

	var (
		answered atomic.Int64
		errMu    sync.Mutex
		errs     []string
		wg       sync.WaitGroup
	)
	fail := func(i int, msg string) {
		errMu.Lock()
		if len(errs) < 10 {
			errs = append(errs, fmt.Sprintf("client %d: %s", i, msg))
		}
		errMu.Unlock()
	}
	sem := make(chan struct{}, concurrency)
	start := time.Now()
	for i := 0; i < clients; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			c, err := tryDialWS(url)
			if err != nil {
				fail(i, "dial: "+err.Error())
				return
			}
			defer c.conn.Close()
			m, _, err := c.read(5 * time.Second)
			if err != nil || !strings.HasPrefix(m, "0{") {
				fail(i, fmt.Sprintf("open: %q %v", m, err))
				return
			}
			c.send("40")
			// a dropped CONNECT shows as no answer here
			m, _, err = c.read(3 * time.Second)
			if err != nil || !strings.HasPrefix(m, `40{"sid":`) {
				fail(i, fmt.Sprintf("connect answer: %q %v", m, err))
				return
			}
			answered.Add(1)
		}(i)
	}
	wg.Wait()
	t.Logf("%d/%d CONNECTs answered in %v", answered.Load(), clients, time.Since(start))
	if n := answered.Load(); n != clients {
		t.Fatalf("%d of %d CONNECTs unanswered, e.g. %v", clients-n, clients, errs)
	}
	testkit.Eventually(t, 10*time.Second, "all sessions closed", func() bool { return s.eio.count() == 0 })
}

// TestConnectDuringSlowHandshake widens the race on purpose: the goroutine
// that sent OPEN stalls before the session is handed to socket.io, as when it
// is descheduled under load. The client's CONNECT arrives in that window and
// must still be answered.
func TestConnectDuringSlowHandshake(t *testing.T) {
	s, ts := startSIO(t, fastCfg(), &recorder{})
	s.eio.stall = func() { time.Sleep(50 * time.Millisecond) }
	for i := 0; i < 5; i++ {
		c := dialWS(t, wsURL(ts, "/socket.io/", ""))
		parseOpen(t, c.next())
		c.send("40")
		if m, _, err := c.read(time.Second); err != nil || !strings.HasPrefix(m, `40{"sid":`) {
			t.Fatalf("client %d: CONNECT unanswered: %q %v", i, m, err)
		}
	}
}
