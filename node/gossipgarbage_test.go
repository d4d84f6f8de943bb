package node

import (
	"bytes"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"courier/router/cluster"
	"courier/router/redistest"
	"courier/router/testkit"
)

// lockedBuffer is a log sink safe for the node's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines(match string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(l, match) {
			out = append(out, l)
		}
	}
	return out
}

// Garbage sent to the gossip port from many addresses is logged as one
// counted line per kind per interval (node/lograte), not one line a packet.
func TestGossipGarbageIsLoggedAsCountedLines(t *testing.T) {
	redis := redistest.StartServer(t)
	tr, err := cluster.NewPartitionableTransport(cluster.NewPartitioner(), "127.0.0.1:0", testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	var sink lockedBuffer
	n, err := New(Config{Listen: "127.0.0.1:0", NodeID: "g1", APIKeys: []string{"k"}, JWTSecret: "s",
		Redis: "redis://" + redis, GossipTransport: tr, ClusterSecret: "cluster-secret"},
		slog.New(slog.NewTextHandler(&sink, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(t.Context()) })
	startLoops(t, n)

	target, err := net.ResolveUDPAddr("udp", tr.Addr())
	if err != nil {
		t.Fatal(err)
	}
	const perBurst = 150
	burst := func() {
		for i := range perBurst {
			src := &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%3))}
			c, err := net.DialUDP("udp", src, target)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = c.Write([]byte("garbage that decrypts to nothing " + strconv.Itoa(i)))
			c.Close()
		}
	}
	kind := "Decrypt packet failed"
	burst()
	testkit.Eventually(t, 5*time.Second, "the garbage logged", func() bool { return len(sink.lines(kind)) > 0 })
	time.Sleep(warnEvery + 200*time.Millisecond)
	burst()
	testkit.Eventually(t, 5*time.Second, "the second burst logged", func() bool { return len(sink.lines(kind)) > 1 })
	time.Sleep(200 * time.Millisecond)

	got := sink.lines(kind)
	if len(got) > 3 {
		t.Fatalf("%d lines for %d garbage packets:\n%s", len(got), 2*perBurst, strings.Join(got, "\n"))
	}
	held := 0
	for _, l := range got {
		if m := regexp.MustCompile(`suppressed=(\d+)`).FindStringSubmatch(l); m != nil {
			k, _ := strconv.Atoi(m[1])
			held += k
		}
	}
	if held < perBurst/2 {
		t.Fatalf("the lines count %d packets held back of %d sent:\n%s", held, 2*perBurst, strings.Join(got, "\n"))
	}
	t.Logf("%d packets, %d lines:\n%s", 2*perBurst, len(got), strings.Join(got, "\n"))
}
