package engine

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"

	"courier/router/testkit"
)

// go test -run '^$' -bench Lean -benchmem ./node/engine

func BenchmarkLeanUpgrade(b *testing.B) {
	_, ts := startSIO(b, fastCfg(), &recorder{})
	url := wsURL(ts, "/socket.io/", "")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := tryDialWS(url)
		if err != nil {
			b.Fatal(err)
		}
		if m, _, err := c.read(5 * time.Second); err != nil || m[0] != '0' {
			b.Fatalf("open: %q %v", m, err)
		}
		c.conn.Close()
	}
}

func BenchmarkLeanDecodePacket(b *testing.B) {
	pkt := []byte(`2["message",1,"2",{"3":[true]},{"room":"lobby","id":"abc","seq":12}]`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := decodePacket(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLeanEncodePacket(b *testing.B) {
	data := []any{"push", map[string]any{"n": 1, "text": "hello"}, map[string]any{"id": "abc", "seq": 12}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		bp := getEncBuf()
		out, _, err := encodePacket(*bp, pkEvent, "/", int64(i), data)
		if err != nil {
			b.Fatal(err)
		}
		*bp = out
		putEncBuf(bp)
	}
}

// fanOutConns connects n clients that read and discard everything.
func fanOutConns(b *testing.B, n int) []Conn {
	cfg := fastCfg()
	cfg.PingInterval = time.Minute
	rec := &recorder{}
	s, ts := startSIO(b, cfg, rec)
	for i := 0; i < n; i++ {
		c := connectWS(b, ts, "")
		go io.Copy(io.Discard, c.conn)
	}
	testkit.Eventually(b, 10*time.Second, "connected", func() bool { return s.Count() == n && rec.connected() == n })
	conns, _, _ := rec.snapshot()
	return conns
}

// BenchmarkLeanFanOutPrepared: one op is one message to 100 connections;
// allocs/op over 100 is the allocation per delivered message.
func BenchmarkLeanFanOutPrepared(b *testing.B) {
	conns := fanOutConns(b, 100)
	args := []any{map[string]any{"text": strings.Repeat("y", 200)}, map[string]any{"id": "abc", "seq": 1}}
	for _, c := range conns {
		c.OnAckToken(func(uint64) {})
	}
	p := NewPrepared("push", args)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%64 == 0 {
			p = NewPrepared("push", args) // a new message now and then: its one encoding
		}
		for _, c := range conns {
			if err := c.EmitPreparedToken(p, uint64(i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*len(conns))/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkLeanFanOutEmit is the same fan-out encoding per connection.
func BenchmarkLeanFanOutEmit(b *testing.B) {
	conns := fanOutConns(b, 100)
	args := []any{map[string]any{"text": strings.Repeat("y", 200)}, map[string]any{"id": "abc", "seq": 1}}
	ack := func([]any) {}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, c := range conns {
			if err := c.Emit("push", args, ack); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*len(conns))/b.Elapsed().Seconds(), "msgs/s")
}

var (
	_ = http.StatusOK
	_ = httptest.NewServer
	_ = wsutil.WriteClientText
)

// BenchmarkLeanFanOutAcked: one op is one message to 100 connections whose
// clients acknowledge it, as the protocol asks, before the next message
// goes (a room push at a steady rate, not a burst). It reports the
// engine's system calls per delivered message, the acknowledgements' reads
// included: what a delivery costs the kernel besides the clients' side.
func BenchmarkLeanFanOutAcked(b *testing.B) {
	const members = 100
	cfg := fastCfg()
	cfg.PingInterval = time.Minute
	rec := &recorder{}
	s, ts := startSIO(b, cfg, rec)
	clients := make([]*wsClient, members)
	for i := range clients {
		clients[i] = connectWS(b, ts, "")
	}
	testkit.Eventually(b, 10*time.Second, "connected", func() bool { return s.Count() == members && rec.connected() == members })
	conns, _, _ := rec.snapshot()
	var acked atomic.Int64
	round := make(chan struct{}, 1)
	for _, c := range conns {
		c.OnAckToken(func(uint64) {
			if acked.Add(1)%members == 0 {
				round <- struct{}{}
			}
		})
	}
	for _, cl := range clients {
		go ackEvents(cl.conn)
	}
	args := []any{map[string]any{"text": strings.Repeat("y", 40)}, map[string]any{"id": "abc", "seq": 1}}
	p := NewPrepared("push", args)
	before := s.Syscalls()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%64 == 0 {
			p = NewPrepared("push", args)
		}
		for _, c := range conns {
			if err := c.EmitPreparedToken(p, uint64(i)); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-round:
		case <-time.After(10 * time.Second):
			b.Fatalf("message %d: %d acks of %d", i, acked.Load(), (i+1)*members)
		}
	}
	b.StopTimer()
	after := s.Syscalls()
	msgs := float64(b.N * members)
	b.ReportMetric(float64(after.Writev-before.Writev)/msgs, "writev/msg")
	b.ReportMetric(float64(after.Read-before.Read)/msgs, "read/msg")
	b.ReportMetric(float64(after.EpollWait-before.EpollWait)/msgs, "epoll_wait/msg")
	b.ReportMetric(float64(after.EpollCtl-before.EpollCtl)/msgs, "epoll_ctl/msg")
}

// ackEvents plays a client that acknowledges every event "42<id>[...]" the
// server sends with "43<id>[]", allocating nothing, so that a benchmark's
// allocations are the server's. It reads the server's frames itself (short,
// unmasked text frames; the OPEN and CONNECT frames are skipped like any
// other) and writes masked frames with a zero mask, which leaves the
// payload as it is.
func ackEvents(conn net.Conn) {
	buf := make([]byte, 64<<10)
	out := make([]byte, 0, 64)
	have := 0
	for {
		n, err := conn.Read(buf[have:])
		if err != nil {
			return
		}
		have += n
		p := buf[:have]
		for len(p) >= 2 {
			l := int(p[1] & 0x7f)
			hl := 2
			if l == 126 {
				if len(p) < 4 {
					break
				}
				l, hl = int(p[2])<<8|int(p[3]), 4
			}
			if len(p) < hl+l {
				break
			}
			payload := p[hl : hl+l]
			if len(payload) > 2 && payload[0] == '4' && payload[1] == '2' {
				if i := bytes.IndexByte(payload, '['); i > 2 {
					id := payload[2:i]
					out = append(out[:0], 0x81, byte(0x80|(len(id)+4)), 0, 0, 0, 0, '4', '3')
					out = append(out, id...)
					out = append(out, '[', ']')
					if _, err := conn.Write(out); err != nil {
						return
					}
				}
			}
			p = p[hl+l:]
		}
		have = copy(buf, p)
	}
}
