package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"courier/router/testkit"
)

const secret = "cluster-secret"

func TestRoundTripEveryKind(t *testing.T) {
	srv, rec := startServer(t, ServerConfig{Secret: secret})
	links := startLinks(t, LinksConfig{Secret: secret})
	want := allKinds()
	for _, e := range want {
		if !links.Send("b", srv.Addr(), e) {
			t.Fatalf("Send %v refused", e.Kind)
		}
	}
	testkit.Eventually(t, 5*time.Second, "all kinds", func() bool { return rec.count() == len(want) })
	for i := range want {
		want[i].From = "a" // set by the server from the handshake
	}
	if got := rec.got(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if links.State("b") != StateUp {
		t.Fatalf("state %v", links.State("b"))
	}
}

// The wire never carries From: a peer cannot claim to be another node.
func TestFromIsTheAuthenticatedNode(t *testing.T) {
	srv, rec := startServer(t, ServerConfig{Secret: secret})
	links := startLinks(t, LinksConfig{NodeID: "real", Secret: secret})
	e := deliver("u", 1)
	e.From = "forged"
	links.Send("b", srv.Addr(), e)
	testkit.Eventually(t, 5*time.Second, "delivery", func() bool { return rec.count() == 1 })
	if from := rec.got()[0].From; from != "real" {
		t.Fatalf("From = %q", from)
	}
}

func TestBatching(t *testing.T) {
	srv, rec := startServer(t, ServerConfig{Secret: secret})
	links := startLinks(t, LinksConfig{Secret: secret})
	links.Send("b", srv.Addr(), deliver("warmup", 0))
	testkit.Eventually(t, 5*time.Second, "link up", func() bool { return rec.count() == 1 })

	const n = 10000
	for i := 1; i <= n; i++ {
		if !links.Send("b", srv.Addr(), deliver("u", uint64(i))) {
			t.Fatalf("Send %d refused", i)
		}
	}
	testkit.Eventually(t, 10*time.Second, "10000 envelopes", func() bool { return rec.count() == n+1 })
	for i, e := range rec.got()[1:] {
		if e.Msg.Seq != uint64(i+1) {
			t.Fatalf("envelope %d has seq %d: out of order", i, e.Msg.Seq)
		}
	}
	frames := srv.Stats().Frames - 1
	st := links.Stats()
	t.Logf("%d envelopes in %d frames; links stats %+v", n, frames, st)
	if frames >= n/5 {
		t.Fatalf("%d frames for %d envelopes: not batching", frames, n)
	}
	if st.SentEnvelopes != n+1 || st.SentFrames != frames+1 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Several publishers to several peers: each peer gets each publisher's
// envelopes in the publisher's order.
func TestOrderPerPeer(t *testing.T) {
	const peers, publishers, each = 3, 4, 2000
	links := startLinks(t, LinksConfig{Secret: secret, BatchMax: 16})
	var addrs []string
	var recs []*recorder
	for range peers {
		srv, rec := startServer(t, ServerConfig{Secret: secret})
		addrs = append(addrs, srv.Addr())
		recs = append(recs, rec)
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := 1; i <= each; i++ {
				for j, addr := range addrs {
					if !links.Send(fmt.Sprint("peer", j), addr, deliver(fmt.Sprint("pub", p), uint64(i))) {
						t.Errorf("Send refused")
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for j, rec := range recs {
		testkit.Eventually(t, 10*time.Second, "all envelopes", func() bool { return rec.count() == publishers*each })
		last := map[string]uint64{}
		for _, e := range rec.got() {
			if e.Msg.Seq != last[e.User]+1 {
				t.Fatalf("peer %d: %s seq %d after %d", j, e.User, e.Msg.Seq, last[e.User])
			}
			last[e.User] = e.Msg.Seq
		}
	}
}

func TestReconnectAfterServerRestart(t *testing.T) {
	srv, rec := startServer(t, ServerConfig{Secret: secret})
	addr := srv.Addr()
	links := startLinks(t, LinksConfig{Secret: secret, PingInterval: 20 * time.Millisecond})
	links.Send("b", addr, deliver("u", 1))
	testkit.Eventually(t, 5*time.Second, "first delivery", func() bool { return rec.count() == 1 })

	srv.Close()
	testkit.Eventually(t, 5*time.Second, "link down", func() bool { return links.State("b") == StateDown })

	srv2, rec2 := restartServer(t, ServerConfig{Secret: secret}, addr)
	testkit.Eventually(t, 5*time.Second, "link back up", func() bool { return links.State("b") == StateUp })
	for i := uint64(2); i <= 100; i++ {
		if !links.Send("b", addr, deliver("u", i)) {
			t.Fatalf("Send %d refused", i)
		}
	}
	testkit.Eventually(t, 5*time.Second, "deliveries after restart", func() bool { return rec2.count() == 99 })
	if got := rec2.got(); got[0].Msg.Seq != 2 || got[98].Msg.Seq != 100 {
		t.Fatalf("got seqs %d..%d", got[0].Msg.Seq, got[98].Msg.Seq)
	}
	if st := links.Stats(); st.Reconnects < 1 {
		t.Fatalf("reconnects not counted: %+v", st)
	}
	_ = srv2
}

// While the link is down, envelopes wait (a short outage costs latency
// only) up to the queue bound; past it they are dropped and counted.
func TestQueuedWhileDownThenDelivered(t *testing.T) {
	srv, rec := startServer(t, ServerConfig{Secret: secret})
	addr := srv.Addr()
	srv.Close()
	links := startLinks(t, LinksConfig{Secret: secret, QueueLimit: 50})
	for i := uint64(1); i <= 60; i++ {
		links.Send("b", addr, deliver("u", i))
	}
	testkit.Eventually(t, 5*time.Second, "link down", func() bool { return links.State("b") == StateDown })
	if st := links.Stats(); st.DroppedLinkDown != 10 || st.Queued != 50 {
		t.Fatalf("stats %+v", st)
	}
	_, rec = restartServer(t, ServerConfig{Secret: secret}, addr)
	testkit.Eventually(t, 5*time.Second, "queued envelopes", func() bool { return rec.count() == 50 })
	if got := rec.got(); got[0].Msg.Seq != 1 || got[49].Msg.Seq != 50 {
		t.Fatalf("got seqs %d..%d", got[0].Msg.Seq, got[49].Msg.Seq)
	}
}

// A peer that accepts the link and then never reads must not block Send:
// the queue fills, Send drops (counted), and memory stays bounded.
func TestPeerThatNeverReads(t *testing.T) {
	addr, _ := silentServer(t)
	const limit = 1000
	links := startLinks(t, LinksConfig{Secret: secret, QueueLimit: limit})
	big := deliver("u", 0)
	big.Msg.Data = make([]byte, 4096)
	links.Send("b", addr, big)
	testkit.Eventually(t, 5*time.Second, "link up", func() bool { return links.State("b") == StateUp })

	start := time.Now()
	accepted := 0
	for i := range 50000 { // 200 MB offered: far more than socket buffers hold
		e := big
		e.Msg.Seq = uint64(i)
		if links.Send("b", addr, e) {
			accepted++
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("50000 Sends took %v: Send blocks", d)
	}
	st := links.Stats()
	t.Logf("accepted %d; %+v", accepted, st)
	if st.DroppedQueueFull == 0 || st.Queued > limit {
		t.Fatalf("queue not bounded: %+v", st)
	}
	if int(st.DroppedQueueFull+st.DroppedLinkDown)+accepted != 50000 {
		t.Fatalf("drops %d + accepted %d != 50000", st.DroppedQueueFull+st.DroppedLinkDown, accepted)
	}
}

func TestQueueBytesBound(t *testing.T) {
	srv, _ := startServer(t, ServerConfig{Secret: secret})
	addr := srv.Addr()
	srv.Close() // nothing drains the queue
	links := startLinks(t, LinksConfig{Secret: secret, QueueBytes: 1 << 20, MaxEnvelope: 1 << 20})
	big := deliver("u", 0)
	big.Msg.Data = make([]byte, 64<<10)
	sent := 0
	for range 1000 {
		if links.Send("b", addr, big) {
			sent++
		}
	}
	if sent > 16 || sent == 0 { // 16 × 64 KiB = 1 MiB
		t.Fatalf("%d envelopes of 64 KiB accepted under a 1 MiB bound", sent)
	}
	huge := deliver("u", 0)
	huge.Msg.Data = make([]byte, 2<<20)
	if links.Send("b", addr, huge) || links.Stats().DroppedTooLarge != 1 {
		t.Fatalf("an envelope over MaxEnvelope was accepted")
	}
}

// A connection that goes silent (no pongs) is found by the read deadline
// and redialed, without any write failing.
func TestDeadConnectionRedialed(t *testing.T) {
	addr, accepted := silentServer(t)
	links := startLinks(t, LinksConfig{
		Secret: secret, PingInterval: 10 * time.Millisecond, ReadTimeout: 50 * time.Millisecond,
	})
	links.Send("b", addr, deliver("u", 1))
	testkit.Eventually(t, 5*time.Second, "a redial", func() bool { return accepted() >= 2 && links.Stats().Reconnects >= 1 })
}

func TestRemove(t *testing.T) {
	srv, _ := startServer(t, ServerConfig{Secret: secret})
	addr := srv.Addr()
	srv.Close() // the peer is gone: envelopes queue up
	links := startLinks(t, LinksConfig{Secret: secret})
	for i := range 10 {
		links.Send("b", addr, deliver("u", uint64(i)))
	}
	links.Remove("b")
	if s := links.State("b"); s != StateNone {
		t.Fatalf("state after Remove: %v", s)
	}
	testkit.Eventually(t, 5*time.Second, "queued envelopes dropped", func() bool {
		return links.Stats().DroppedLinkDown == 10
	})
}

func TestCloseLeaksNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		s1, err := NewServer(ServerConfig{Listen: "127.0.0.1:0", Secret: secret, Handler: func(string, []Envelope) {}})
		if err != nil {
			t.Fatal(err)
		}
		defer s1.Close()
		down, _ := NewServer(ServerConfig{Listen: "127.0.0.1:0", Secret: secret, Handler: func(string, []Envelope) {}})
		downAddr := down.Addr()
		down.Close()
		silent, _ := silentServer(t)

		links, err := NewLinks(LinksConfig{NodeID: "a", Secret: secret, BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2000 {
			links.Send("up", s1.Addr(), deliver("u", uint64(i)))
			links.Send("down", downAddr, deliver("u", uint64(i)))
			links.Send("silent", silent, deliver("u", uint64(i)))
		}
		testkit.Eventually(t, 5*time.Second, "links settled", func() bool {
			return links.State("up") == StateUp && links.State("down") == StateDown && links.State("silent") == StateUp
		})
		links.Close()
		if links.Send("up", s1.Addr(), deliver("u", 0)) {
			t.Fatal("Send after Close accepted")
		}
	}()
	testkit.Eventually(t, 5*time.Second, "goroutines to exit", func() bool {
		return runtime.NumGoroutine() <= before+1 // +1: silentServer's accept loop until cleanup
	})
}

func TestBackoff(t *testing.T) {
	cfg := &LinksConfig{BackoffMin: 100 * time.Millisecond, BackoffMax: 10 * time.Second}
	for attempt, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		for range 100 {
			if d := backoff(cfg, attempt); d < want/2 || d > want {
				t.Fatalf("attempt %d: %v not in [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
	for _, attempt := range []int{20, 63, 64, 1000} {
		if d := backoff(cfg, attempt); d < 5*time.Second || d > 10*time.Second {
			t.Fatalf("attempt %d: %v not in [5s, 10s]", attempt, d)
		}
	}
}

// NetDial lets a test cut a link: while it refuses, the link is down and
// envelopes wait; once it connects again they arrive.
func TestNetDial(t *testing.T) {
	srv, rec := startServer(t, ServerConfig{Secret: secret})
	var cut atomic.Bool
	cut.Store(true)
	links := startLinks(t, LinksConfig{Secret: secret, NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if cut.Load() {
			return nil, errors.New("partitioned")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}})
	links.Send("b", srv.Addr(), deliver("u", 1))
	testkit.Eventually(t, 5*time.Second, "link down", func() bool { return links.State("b") == StateDown })
	cut.Store(false)
	testkit.Eventually(t, 5*time.Second, "delivery", func() bool { return rec.count() == 1 })
}
