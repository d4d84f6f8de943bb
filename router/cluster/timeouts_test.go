package cluster

import (
	"net"
	"testing"
	"time"
)

// The gossip listener's TCP side closes a connection that sends nothing, or
// stops inside a message, within TCPTimeout (memberlist's deadline on every
// stream, kept from its defaults and set here short), and the node goes on
// gossiping with its peers meanwhile.
func TestGossipClosesStalledAndSilentStreams(t *testing.T) {
	const bound = 300 * time.Millisecond
	cfg := testConfig(t, "a")
	cfg.Tuning.TCPTimeout = bound
	a := start(t, cfg)
	b := start(t, testConfig(t, "b", a.Addr()))

	silent, err := net.Dial("tcp", a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	stalled, err := net.Dial("tcp", a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	// the first bytes of an encrypted stream (message type 9), then nothing
	if _, err := stalled.Write([]byte{9, 0, 0}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]net.Conn{"silent": silent, "stalled": stalled} {
		start := time.Now()
		_ = c.SetReadDeadline(start.Add(5 * time.Second))
		buf := make([]byte, 64)
		for {
			_, err := c.Read(buf)
			if err == nil {
				continue
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("%s stream still open after 5 s", name)
			}
			break
		}
		if took := time.Since(start); took > bound+2*time.Second {
			t.Errorf("%s stream closed after %v, bound %v", name, took, bound)
		}
	}
	settle(t, a, b)
}
