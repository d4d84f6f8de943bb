package main

import (
	"sync/atomic"
	"time"

	"courier/loadtest/sioclient"
)

// pushRecord is what we know of one push. Fields are atomics because the
// pushing worker and the receiving connection touch them concurrently and
// the message can arrive before the API's 202 does.
type pushRecord struct {
	user    atomic.Int32 // receiver's client id; -1 = not pushed
	status  atomic.Int32 // HTTP status, or -1 for a transport error
	sent    atomic.Int64 // unix ns just before the request was written
	apiLat  atomic.Int64 // µs of the API round trip
	recv    atomic.Int32 // times received
	lat     atomic.Int64 // µs from meta.ts (server clock) to receipt
	latSend atomic.Int64 // µs from our send to receipt
	recvAt  atomic.Int64 // unix ns of the first receipt
}

// recorder matches received messages to pushes: each push carries its index
// k in its data, so a message is matched without waiting for the 202.
type recorder struct {
	recs       []pushRecord
	delivered  atomic.Int64 // first receipts
	duplicates atomic.Int64
	misrouted  atomic.Int64 // received by a client it was not pushed to
	unexpected atomic.Int64 // other events, or data we cannot read
}

// pushEvent is the event name of every load test push.
const pushEvent = "lt"

func newRecorder(n int) *recorder {
	r := &recorder{recs: make([]pushRecord, n)}
	for i := range r.recs {
		r.recs[i].user.Store(-1)
	}
	return r
}

// onEvent runs on a connection's reading goroutine; it does not allocate.
func (r *recorder) onEvent(c *client, name, args []byte) {
	now := time.Now().UnixNano()
	k, ts, ok := scanPush(name, args)
	if !ok {
		r.unexpected.Add(1)
		return
	}
	r.receive(k, c.id, now, now/1000-ts*1000)
}

// scanPush reads a load test push: its index k and meta.ts (unix ms).
func scanPush(name, args []byte) (k, ts int64, ok bool) {
	k, ok = sioclient.ScanInt(args, "k")
	ts, ok2 := sioclient.ScanInt(args, "ts")
	return k, ts, ok && ok2 && string(name) == pushEvent && k >= 0
}

// receive counts push k received by client id (its index over the whole
// run) at unix ns at, latUs after meta.ts: here, or in a child process
// that passed it on.
func (r *recorder) receive(k int64, id int32, at, latUs int64) {
	if k < 0 || k >= int64(len(r.recs)) {
		r.unexpected.Add(1)
		return
	}
	rec := &r.recs[k]
	if rec.user.Load() != id {
		r.misrouted.Add(1)
		return
	}
	if rec.recv.Add(1) > 1 {
		r.duplicates.Add(1)
		return
	}
	rec.recvAt.Store(at)
	rec.lat.Store(latUs)
	rec.latSend.Store((at - rec.sent.Load()) / 1000)
	r.delivered.Add(1)
}

// audit is the outcome of the pushes 0..n-1.
type audit struct {
	attempted, accepted, lost int64
	statuses                  map[int]int
	lat, latSend, apiLat      []int64
}

func (r *recorder) audit(n int) audit {
	a := audit{statuses: map[int]int{}}
	for i := range r.recs[:n] {
		rec := &r.recs[i]
		if rec.user.Load() < 0 {
			continue
		}
		a.attempted++
		st := int(rec.status.Load())
		a.statuses[st]++
		if st == 0 { // still in flight when we stopped waiting
			continue
		}
		a.apiLat = append(a.apiLat, rec.apiLat.Load())
		if st != 202 {
			continue
		}
		a.accepted++
		if rec.recv.Load() == 0 {
			a.lost++
			continue
		}
		a.lat = append(a.lat, rec.lat.Load())
		a.latSend = append(a.latSend, rec.latSend.Load())
	}
	return a
}

// missing counts the pushes 0..n-1 answered 202 and not received yet, and
// returns when the last of the received ones arrived (unix ns).
func (r *recorder) missing(n int) (missing int, last int64) {
	for i := range r.recs[:n] {
		rec := &r.recs[i]
		if rec.status.Load() != 202 {
			continue
		}
		if rec.recv.Load() == 0 {
			missing++
		} else {
			last = max(last, rec.recvAt.Load())
		}
	}
	return missing, last
}
