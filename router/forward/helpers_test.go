package forward

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"courier/router/mailbox"
	"courier/router/testkit"
)

// recorder is a Server.Handler that keeps what it got.
type recorder struct {
	mu      sync.Mutex
	envs    []Envelope
	batches int
}

func (r *recorder) handle(from string, env []Envelope) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.envs = append(r.envs, env...)
	r.batches++
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.envs)
}

func (r *recorder) got() []Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Envelope(nil), r.envs...)
}

// restartServer starts a server on the address an earlier one left. The
// port can be briefly taken: a link redialing a closed loopback port may get
// that very port as its source port and connect to itself.
func restartServer(t testing.TB, cfg ServerConfig, addr string) (*Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg.Listen, cfg.Handler, cfg.Log = addr, rec.handle, testkit.Logger(t)
	var s *Server
	testkit.Eventually(t, 5*time.Second, "the address to be free", func() bool {
		var err error
		s, err = NewServer(cfg)
		return err == nil
	})
	t.Cleanup(func() { s.Close() })
	return s, rec
}

func startServer(t testing.TB, cfg ServerConfig) (*Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "b"
	}
	if cfg.Handler == nil {
		cfg.Handler = rec.handle
	}
	if cfg.Log == nil {
		cfg.Log = testkit.Logger(t)
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, rec
}

func startLinks(t testing.TB, cfg LinksConfig) *Links {
	t.Helper()
	if cfg.NodeID == "" {
		cfg.NodeID = "a"
	}
	if cfg.Log == nil {
		cfg.Log = testkit.Logger(t)
	}
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin, cfg.BackoffMax = 5*time.Millisecond, 50*time.Millisecond
	}
	l, err := NewLinks(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func deliver(user string, seq uint64) Envelope {
	return Envelope{
		Kind:   KindDeliver,
		Stream: mailbox.UserStream(user),
		User:   user,
		Msg: mailbox.Message{
			ID: fmt.Sprintf("m-%s-%d", user, seq), Seq: seq, Event: "chat",
			Data: []byte(`{"text":"hello"}`), TS: 1700000000000, Expires: 1700000300000,
		},
	}
}

// silentServer upgrades connections and then never reads them again: a peer
// that hangs, or whose network dropped everything.
func silentServer(t testing.TB) (addr string, accepted func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go upgradeOnly(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns)
	}
}

func upgradeOnly(c net.Conn) {
	if _, err := (ws.Upgrader{}).Upgrade(c); err != nil {
		c.Close()
	}
}
