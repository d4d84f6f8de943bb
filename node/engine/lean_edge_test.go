package engine

import (
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"courier/router/testkit"
)

// Edge-triggered reading: a burst of acknowledgements far larger than one
// read buffer, written at once, is read whole: past the reads one edge may
// take, the connection is reported again, and no byte waits for another
// arrival that never comes.
func TestLeanReadsABurstLargerThanAnEdgesReads(t *testing.T) {
	const msgs = maxPendingAcks
	cfg := fastCfg()
	cfg.PingInterval = time.Minute
	rec := &recorder{}
	s, ts := startSIO(t, cfg, rec)
	cl := connectWS(t, ts, "")
	testkit.Eventually(t, 5*time.Second, "connected", func() bool { return s.Count() == 1 && rec.connected() == 1 })
	conns, _, _ := rec.snapshot()
	var acked atomic.Int64
	conns[0].OnAckToken(func(uint64) { acked.Add(1) })
	p := NewPrepared("push", []any{"x"})
	for i := range msgs {
		if err := conns[0].EmitPreparedToken(p, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Read every event, then answer them all in one write: acknowledgements
	// with an argument (the full parser's path), 60-odd bytes each.
	var burst []byte
	arg := strings.Repeat("a", 48)
	for range msgs {
		m := cl.next()
		rest, ok := strings.CutPrefix(m, "42")
		i := strings.IndexByte(rest, '[')
		if !ok || i <= 0 {
			t.Fatalf("event %q", m)
		}
		payload := "43" + rest[:i] + `["` + arg + `"]`
		burst = append(burst, 0x81, byte(0x80|len(payload)), 0, 0, 0, 0)
		burst = append(burst, payload...)
	}
	if len(burst) < maxReadsPerEdge*readBufSize*2 {
		t.Fatalf("the burst is %d bytes; want more than twice an edge's reads", len(burst))
	}
	if _, err := cl.conn.Write(burst); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "every acknowledgement of the burst read ("+strconv.Itoa(msgs)+")", func() bool {
		return acked.Load() == msgs
	})
}
