package main

import (
	"bytes"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRecorderReceive(t *testing.T) {
	r := newRecorder(3)
	r.recs[1].user.Store(7)
	r.recs[1].sent.Store(1_000_000_000)
	r.receive(1, 7, 1_250_000_000, 4000)
	r.receive(1, 7, 1_300_000_000, 9000) // again: a duplicate
	r.receive(1, 8, 1_300_000_000, 9000) // someone else
	r.receive(5, 7, 1, 1)                // no such push
	if r.delivered.Load() != 1 || r.duplicates.Load() != 1 || r.misrouted.Load() != 1 || r.unexpected.Load() != 1 {
		t.Fatalf("delivered %d dup %d misrouted %d unexpected %d", r.delivered.Load(), r.duplicates.Load(), r.misrouted.Load(), r.unexpected.Load())
	}
	if rec := &r.recs[1]; rec.lat.Load() != 4000 || rec.latSend.Load() != 250_000 || rec.recvAt.Load() != 1_250_000_000 {
		t.Fatalf("lat %d latSend %d at %d", rec.lat.Load(), rec.latSend.Load(), rec.recvAt.Load())
	}
	// The in-process handler reads the same from the event.
	r.recs[2].user.Store(3)
	r.onEvent(&client{id: 3}, []byte(pushEvent), []byte(`[{"k":2},{"id":"m","seq":1,"ts":1}]`))
	r.onEvent(&client{id: 3}, []byte("other"), []byte(`[{"k":2},{"ts":1}]`))
	if r.recs[2].recv.Load() != 1 || r.unexpected.Load() != 2 {
		t.Fatalf("onEvent: recv %d unexpected %d", r.recs[2].recv.Load(), r.unexpected.Load())
	}
}

func TestChildReceiptsReachTheParent(t *testing.T) {
	// A child's handler: client ids become indexes over the run.
	var b receiptBuf
	on := b.onEvent(1000)
	now := time.Now().UnixMilli()
	on(&client{id: 5}, []byte(pushEvent), []byte(`[{"k":42},{"id":"m","seq":1,"ts":`+itoa(now)+`}]`))
	on(&client{id: 5}, []byte("nope"), []byte(`[]`))
	rx, unexpected := b.take()
	if len(rx) != 1 || rx[0][0] != 42 || rx[0][1] != 1005 || rx[0][3] < 0 || rx[0][3] > 5_000_000 || unexpected != 1 {
		t.Fatalf("rx %v unexpected %d", rx, unexpected)
	}
	if rx2, u2 := b.take(); len(rx2) != 0 || u2 != 0 {
		t.Fatal("take did not empty the buffer")
	}

	// The parent reading that child's lines.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.Encode(childLine{Counts: fleetCounts{Live: 2, Connected: 2}, Receipts: rx, Unexpected: 1})
	enc.Encode(childLine{Counts: fleetCounts{Live: 2, Connected: 2}, Ramped: true, NotUp: []int32{1002}})
	enc.Encode(childLine{Counts: fleetCounts{Live: 1, Connected: 2, Disconnects: 1, Reconnects: 1, LastUp: 77}, Receipts: [][4]int64{{43, 1001, 5, 6}}})
	enc.Encode(childLine{Counts: fleetCounts{Live: 0, Connected: 2, Disconnects: 1, Reconnects: 1, LastUp: 77}, Final: true,
		FirstOpen: 10e9, LastOpen: 12.5e9, OfflineUs: []int64{700_000, 6_000_000}, Away: 1})
	var mu sync.Mutex
	var got [][4]int64
	ch := &children{log: quiet, last: make([]childLine, 1), offlineLimit: 5 * time.Second,
		onReceipt: func(k int64, id int32, at, lat int64) {
			mu.Lock()
			got = append(got, [4]int64{k, int64(id), at, lat})
			mu.Unlock()
		}}
	ramped, final := make(chan struct{}), make(chan struct{})
	ch.read(0, &buf, ramped, final)
	<-ramped
	<-final
	if len(got) != 2 || got[0] != rx[0] || got[1] != [4]int64{43, 1001, 5, 6} || ch.unexpected.Load() != 1 {
		t.Fatalf("receipts %v unexpected %d", got, ch.unexpected.Load())
	}
	if c := ch.counts(); c.Reconnects != 1 || c.LastUp != 77 || c.Disconnects != 1 {
		t.Fatalf("counts %+v", c)
	}
	if ch.last[0].Receipts != nil {
		t.Fatal("the last line keeps its receipts")
	}
	if nu := ch.notUpAfterRamp(); len(nu) != 1 || nu[0] != 1002 {
		t.Fatalf("not up after the ramp: %v", nu)
	}
	res := &Result{}
	mergeChildren(res, ch.last, ch.offlineLimit)
	if res.RampOpenSeconds != 2.5 || res.Reconnects != 1 || res.Offline == nil {
		t.Fatalf("merged %+v", res)
	}
	if o := res.Offline; o.OverLimit != 1 || o.StillAway != 1 || o.MaxSeconds != 6 || o.Ms.N != 2 || o.LimitSeconds != 5 {
		t.Fatalf("offline %+v", o)
	}
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }

func TestFillOffline(t *testing.T) {
	res := &Result{}
	fillOffline(res, nil, 0, 5*time.Second)
	if res.Offline != nil {
		t.Fatal("nothing away, yet an offline result")
	}
	fillOffline(res, []int64{1_000, 5_000_000, 5_000_001}, 0, 5*time.Second)
	if o := res.Offline; o.OverLimit != 1 || o.MaxSeconds != 5 || o.StillAway != 0 {
		t.Fatalf("%+v", o)
	}
	rows := summaryRows([]namedResult{{"", res}})
	found := map[string]string{}
	for _, r := range rows {
		found[r[0]] = r[1]
	}
	if found["offline > limit"] != "1" || found["still away"] != "0" || found["longest offline s"] != "5" {
		t.Fatalf("rows %v", rows)
	}
}

func TestFleetOfflineAndRampOpen(t *testing.T) {
	cfg, err := parseConfig([]string{"reconnect", "--target", "http://127.0.0.1:1", "--api-key", "k", "--jwt-secret", "s", "--clients", "3"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFleetRange(cfg, quiet, "r", func(*client, []byte, []byte) {}, 0, 3)
	now := time.Now()
	if g, away := f.offline(now); g != nil || away != 0 {
		t.Fatal("offline counted before redial started")
	}
	f.startRedial(t.Context())
	f.gaps = []int64{1500}
	f.clients[1].downAt.Store(now.Add(-2 * time.Second).UnixNano()) // away for 2 s
	f.clients[2].downAt.Store(now.Add(-time.Second).UnixNano())
	f.clients[2].up.Store(true) // back
	g, away := f.offline(now)
	if away != 1 || len(g) != 2 || g[0] != 1500 || g[1] != 2_000_000 {
		t.Fatalf("gaps %v away %d", g, away)
	}
	if nu := f.notUp(); len(nu) != 2 || nu[0] != 0 || nu[1] != 1 {
		t.Fatalf("not up %v", nu)
	}
	var a atomic.Int64
	for _, v := range []int64{50, 20, 70, 30} {
		storeMin(&a, v)
	}
	var b atomic.Int64
	for _, v := range []int64{50, 20, 70, 30} {
		storeMax(&b, v)
	}
	if a.Load() != 20 || b.Load() != 70 {
		t.Fatalf("min %d max %d", a.Load(), b.Load())
	}
}

func TestDeadlines(t *testing.T) {
	a := audit{latSend: []int64{100_000, 5_000_000, 5_200_000, 300}, lat: []int64{90_000, 4_900_000, 5_100_000, 200}}
	d := deadlines(a, 5*time.Second)
	if d.Late != 1 || d.MaxFromSendMs != 5200 || d.MaxFromAcceptedMs != 5100 || d.LimitSeconds != 5 {
		t.Fatalf("%+v", d)
	}
	if d := deadlines(audit{}, time.Second); d.Late != 0 || d.MaxFromSendMs != 0 {
		t.Fatalf("empty %+v", d)
	}
}

func TestPacedUntilStops(t *testing.T) {
	stop := make(chan struct{})
	var n atomic.Int64
	time.AfterFunc(150*time.Millisecond, func() { close(stop) })
	t0 := time.Now()
	pacedUntil(t.Context(), stop, 100, 1000, 4, func(int) { n.Add(1) })
	if d := time.Since(t0); d > time.Second || n.Load() < 10 || n.Load() > 20 {
		t.Fatalf("%d jobs in %v", n.Load(), d)
	}
	n.Store(0)
	paced(t.Context(), 1000, 5, 2, func(int) { n.Add(1) })
	if n.Load() != 5 {
		t.Fatalf("paced ran %d of 5", n.Load())
	}
}

func TestUpIDs(t *testing.T) {
	got := upIDs(6, []int32{4, 1, 9, -1})
	if len(got) != 4 || got[0] != 0 || got[1] != 2 || got[2] != 3 || got[3] != 5 {
		t.Fatalf("%v", got)
	}
	if len(upIDs(2, nil)) != 2 {
		t.Fatal("nothing down")
	}
}
