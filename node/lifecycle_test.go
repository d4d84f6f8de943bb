package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"courier/router/redistest"
	"courier/router/testkit"
)

// Shutdown may come at any moment of Serve's start-up: at once, while the
// cluster is joined, while the listeners beside the API open. Every time,
// what had started stops, what had not is refused, and nothing is left: no
// listener, no goroutine. Run under -race, it also proves that Serve
// publishes its components safely for Shutdown to read.
func TestShutdownAtAnyMomentOfStartUp(t *testing.T) {
	redis := "redis://" + redistest.StartServer(t)
	config := func(i int) Config {
		return Config{
			Listen: "127.0.0.1:0", NodeID: fmt.Sprintf("life%d", i), APIKeys: []string{"k"}, JWTSecret: "s",
			Redis: redis, GossipListen: "127.0.0.1:0", PeerListen: "127.0.0.1:0", ClusterSecret: "cluster-secret",
			TRPCListen: "127.0.0.1:0", DebugListen: "127.0.0.1:0", MetricsListen: "127.0.0.1:0", GossipTuning: fastGossip(),
		}
	}
	run := func(i int, shutdownAfter time.Duration) (startUp time.Duration) {
		n, err := New(config(i), testkit.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		begin := time.Now()
		go func() { served <- n.Serve(ln) }()
		if shutdownAfter < 0 { // measure: wait for the whole start-up
			testkit.Eventually(t, 5*time.Second, "start-up done", func() bool {
				n.mu.Lock()
				defer n.mu.Unlock()
				return n.started.polls
			})
			startUp = time.Since(begin)
		} else {
			time.Sleep(shutdownAfter)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Fatalf("run %d: shutdown: %v", i, err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Fatalf("run %d: serve: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("run %d: Serve did not return after Shutdown", i)
		}
		return startUp
	}

	run(0, 0) // warm up: first-use allocations are no leak
	goroutines, fds := runtime.NumGoroutine(), openFiles(t)
	startUp := run(1, -1)
	t.Logf("a full start-up took %v", startUp)
	for i := 2; i < 52; i++ {
		after := time.Duration(0) // at once, every fifth run
		if i%5 != 0 {
			after = rand.N(startUp + time.Millisecond)
		}
		run(i, after)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > goroutines || openFiles(t) > fds {
		if time.Now().After(deadline) {
			var sb strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&sb, 1)
			t.Fatalf("left behind: %d goroutines (were %d), %d open files (were %d)\n%s",
				runtime.NumGoroutine(), goroutines, openFiles(t), fds, sb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openFiles counts this process's open file descriptors: sockets included,
// so a listener left open shows.
func openFiles(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting open files: %v", err)
	}
	return len(entries)
}
