package forward

import (
	"runtime"
	"testing"
	"time"

	"courier/router/testkit"
)

// BenchmarkSend measures end to end throughput over one link on loopback:
// Send, batch, encode, write, read, decode, handle. A full queue makes the
// publisher yield, as a caller would fall back to the mailbox instead.
func BenchmarkSend(b *testing.B) {
	quiet := orDiscard(nil)
	srv, rec := startServer(b, ServerConfig{Secret: secret, Log: quiet, Handler: func(string, []Envelope) {}})
	_ = rec
	links := startLinks(b, LinksConfig{Secret: secret, Log: quiet})
	env := deliver("user-1234", 42)
	links.Send("b", srv.Addr(), env)
	testkit.Eventually(b, 5*time.Second, "link up", func() bool { return srv.Stats().Envelopes == 1 })
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for !links.Send("b", srv.Addr(), env) {
			runtime.Gosched()
		}
	}
	testkit.Eventually(b, time.Minute, "delivery", func() bool { return srv.Stats().Envelopes == uint64(b.N)+1 })
	b.StopTimer()
	st := links.Stats()
	b.ReportMetric(float64(st.SentEnvelopes)/float64(st.SentFrames), "env/frame")
	b.ReportMetric(float64(st.DroppedQueueFull), "full")
}
