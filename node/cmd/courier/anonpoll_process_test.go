package main

import (
	"io"
	"net/http"
	"testing"
	"time"

	"courier/router/testkit"
)

// 20,000 long-polling handshakes from one client that never send a Socket.IO
// packet (issue 13: they took a node from 18 MB to 408 MB and 40,000
// goroutines until their connect timeout) cost a real node process little:
// they are pre-sessions, not library sessions (node/engine/presession.go).
func TestAnonymousPollingHandshakesCostLittle(t *testing.T) {
	testkit.Exclusive(t, "heavy")
	const handshakes = 20000
	api := startNodeProcess(t)
	httpc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer httpc.CloseIdleConnections()
	before := scrape(t, httpc, api)
	start := time.Now()
	for i := range handshakes {
		res, err := httpc.Get("http://" + api + "/socket.io/?EIO=4&transport=polling")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("handshake %d answered %d", i, res.StatusCode)
		}
	}
	took := time.Since(start)
	after := scrape(t, httpc, api)
	rss := metricValue(t, after, "process_resident_memory_bytes") - metricValue(t, before, "process_resident_memory_bytes")
	goroutines := metricValue(t, after, "go_goroutines") - metricValue(t, before, "go_goroutines")
	t.Logf("%d anonymous polling handshakes in %v: RSS +%.1f MB (%.0f B each), goroutines +%.0f",
		handshakes, took.Round(time.Millisecond), rss/(1<<20), rss/handshakes, goroutines)
	if rss > 64<<20 || goroutines > 50 {
		t.Fatalf("%d anonymous polling sessions cost RSS +%.1f MB and %.0f goroutines (want under 64 MB and 50)", handshakes, rss/(1<<20), goroutines)
	}
}
