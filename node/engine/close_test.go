package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"courier/router/testkit"
)

// What is emitted before CloseTransport reaches the client before the close:
// the node's last word (courier:disconnect) depends on it. The library's
// Close cuts off a WebSocket write in flight.
func TestCloseTransportFlushesEmitsFirst(t *testing.T) {
	rec := &recorder{}
	s, ts := startSIO(t, fastCfg(), rec)
	c := connectWS(t, ts, "")
	testkit.Eventually(t, 2*time.Second, "connected", func() bool { return s.Count() == 1 && rec.connected() == 1 })
	conns, _, _ := rec.snapshot()
	big := strings.Repeat("x", 64<<10)
	const n = 50
	for i := 0; i < n; i++ {
		if err := conns[0].Emit("bulk", []any{big}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := conns[0].Emit("bye", nil, nil); err != nil {
		t.Fatal(err)
	}
	conns[0].CloseTransport()
	got := 0
	for {
		m, _, err := c.read(5 * time.Second)
		if err != nil {
			t.Fatalf("connection ended after %d of %d bulk events and no bye: %v", got, n, err)
		}
		if strings.HasPrefix(m, `42["bulk"`) {
			got++
		}
		if m == `42["bye"]` {
			break
		}
	}
	if got != n {
		t.Fatalf("bye arrived after %d of %d bulk events", got, n)
	}
}

// A client that never acknowledges does not grow the server's ack table
// without bound, on either engine.
func TestPendingAcksAreBounded(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(engineName(legacy), func(t *testing.T) { testPendingAcksAreBounded(t, legacy) })
	}
}

func testPendingAcksAreBounded(t *testing.T, legacy bool) {
	rec := &recorder{}
	cfg := fastCfg()
	cfg.LegacyWebSocket = legacy
	s, ts := startSIO(t, cfg, rec)
	c := connectWS(t, ts, "")
	testkit.Eventually(t, 2*time.Second, "connected", func() bool { return s.Count() == 1 && rec.connected() == 1 })
	conns, _, _ := rec.snapshot()
	sc := conns[0]
	for i := 0; i < maxPendingAcks+500; i++ {
		if err := sc.Emit("e", nil, func([]any) {}); err != nil {
			t.Fatal(err)
		}
	}
	if n := sc.(interface{ pendingAcks() int }).pendingAcks(); n != maxPendingAcks {
		t.Fatalf("%d acks pending, want the bound %d", n, maxPendingAcks)
	}
	// the newest are the ones kept: acking the last emit still runs its callback
	got := make(chan struct{}, 1)
	if err := sc.Emit("last", nil, func([]any) { got <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	for m := c.next(); !strings.Contains(m, `["last"]`); m = c.next() {
	}
	c.send(fmt.Sprintf("43%d[]", maxPendingAcks+500))
	select {
	case <-got:
	case <-time.After(3 * time.Second):
		t.Fatal("ack of the newest emit did not run")
	}
}

func engineName(legacy bool) string {
	if legacy {
		return "zishang520"
	}
	return "lean"
}
