package engine

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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
