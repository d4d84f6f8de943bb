package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"courier/loadtest/sioclient"
)

// roomRecorder counts a room fan-out: every member should get every push
// once. seen is a bitset over (member, push) so duplicates are caught
// without a map per member.
type roomRecorder struct {
	pushes    int
	seen      []atomic.Uint32
	delivered atomic.Int64 // first receipts
	dups      atomic.Int64
	unexp     atomic.Int64
	lastRecv  atomic.Int64 // unix ns of the latest receipt
	lat       *atomicHist
}

func newRoomRecorder(members, pushes int) *roomRecorder {
	bits := members * pushes
	return &roomRecorder{pushes: pushes, seen: make([]atomic.Uint32, (bits+31)/32),
		lat: newAtomicHist(int64(bits), 200_000)}
}

func (r *roomRecorder) onEvent(c *client, name, args []byte) {
	now := time.Now()
	k, ok := sioclient.ScanInt(args, "k")
	ts, ok2 := sioclient.ScanInt(args, "ts")
	if string(name) != pushEvent || !ok || !ok2 || k < 0 || k >= int64(r.pushes) {
		r.unexp.Add(1)
		return
	}
	bit := int(c.id)*r.pushes + int(k)
	w, m := &r.seen[bit/32], uint32(1)<<(bit%32)
	if w.Or(m)&m != 0 {
		r.dups.Add(1)
		return
	}
	r.delivered.Add(1)
	r.lastRecv.Store(now.UnixNano())
	r.lat.add(max(0, now.UnixMicro()-ts*1000))
}

// runRoom is the `room` scenario: cfg.Clients members join one room (the
// `join` event, acknowledged), then cfg.Rate pushes/s to the room for
// cfg.Duration; the result is delivered messages per second and the audit
// (members × accepted pushes should each arrive once).
func runRoom(ctx context.Context, cfg Config, log *slog.Logger, runID string) (*Result, error) {
	n := int(math.Ceil(cfg.Rate * cfg.Duration.Seconds()))
	if int64(n)*int64(cfg.Clients) > 1<<31 {
		return nil, errors.New("room: --clients × pushes is above 2^31 receipts; lower --rate or --duration")
	}
	room := "lt-room-" + runID
	rec := newRoomRecorder(cfg.Clients, n)
	f := newFleet(cfg, log.With("part", "fleet"), runID, rec.onEvent)
	f.rooms = []string{"lt-room-*"}
	var joined, joinErr atomic.Int64
	f.onAck = func(c *client, id int64, args []byte) {
		if bytes.Contains(args, []byte(`"ok":true`)) {
			joined.Add(1)
		} else {
			joinErr.Add(1)
		}
	}
	res := newResult(cfg, runID)
	sctx, stopSampler := context.WithCancel(ctx)
	defer stopSampler()
	s := newSampler(cfg, log, func() fleetCounts { c := f.counts(); c.Delivered = rec.delivered.Load(); return c })
	go s.run(sctx)

	t0 := time.Now()
	f.ramp(ctx)
	res.RampSeconds = round3(time.Since(t0).Seconds())
	// Joins go at the connect rate: each one is a store write on courier.
	arg := []byte(`{"room":"` + room + `"}`)
	interval := time.Duration(float64(time.Second) / cfg.ConnectRate)
	for i, c := range f.clients {
		if c.up.Load() {
			c.conn.Load().Emit(int64(i), "join", arg)
		}
		if interval > time.Millisecond && i%10 == 9 {
			sleep(ctx, 10*interval)
		}
	}
	for end := time.Now().Add(30 * time.Second); joined.Load()+joinErr.Load() < f.live.Load() && time.Now().Before(end); {
		if sleep(ctx, 100*time.Millisecond) != nil {
			break
		}
	}
	res.RoomMembers, res.JoinErrors = joined.Load(), joinErr.Load()
	log.Info("room joined", "room", room, "members", res.RoomMembers, "errors", res.JoinErrors)
	sleep(ctx, cfg.Settle)

	cpu0, sys0 := serverCPU(ctx, s), serverSyscalls(ctx, s)
	statuses, accepted, pushStart, pushEnd := pushRoom(ctx, cfg, log, room, n)
	expected := accepted * res.RoomMembers
	graceEnd := time.Now().Add(cfg.Grace)
	for time.Now().Before(graceEnd) && ctx.Err() == nil && rec.delivered.Load() < expected {
		sleep(ctx, 50*time.Millisecond)
	}
	// The members acknowledge as they receive: what the node spends on the
	// last acks lands within a moment of the last receipt.
	sleep(ctx, 300*time.Millisecond)
	if cpu1 := serverCPU(ctx, s); cpu0 >= 0 && cpu1 >= cpu0 {
		res.NodeCPUSeconds = round3(cpu1 - cpu0)
		if d := rec.delivered.Load(); d > 0 {
			res.NodeCPUPerMsgUs = round3((cpu1 - cpu0) / float64(d) * 1e6)
		}
	}
	if sys1 := serverSyscalls(ctx, s); sys0 != nil && sys1 != nil && rec.delivered.Load() > 0 {
		res.SyscallsPerMsg = map[string]float64{}
		for op, n := range sys1 {
			res.SyscallsPerMsg[op] = round3((n - sys0[op]) / float64(rec.delivered.Load()))
		}
	}
	stopSampler()
	res.Timeline = s.all()
	res.ServerRSSBytes = serverRSS(ctx, s)
	res.PushStatuses, res.Pushed, res.Accepted = statuses, int64(n), accepted
	res.PushSeconds = round3(pushEnd.Sub(pushStart).Seconds())
	res.Delivered, res.Duplicates, res.Unexpected = rec.delivered.Load(), rec.dups.Load(), rec.unexp.Load()
	res.Lost = max(0, expected-res.Delivered)
	// Delivered per second from the first push to the last receipt: the
	// fan-out's throughput including its drain.
	if last := rec.lastRecv.Load(); last > 0 {
		if secs := time.Unix(0, last).Sub(pushStart).Seconds(); secs > 0 {
			res.MsgsPerSec = round3(float64(res.Delivered) / secs)
		}
	}
	res.PushesPerSec = ratio(float64(accepted), res.PushSeconds)
	res.LatencyMs, res.LatencyHist = rec.lat.summary()
	f.closeAll()
	fillFleet(res, f)
	return res, nil
}

// pushRoom sends n pushes to room at cfg.Rate, round-robin over the
// targets, and returns the HTTP statuses and how many were accepted.
func pushRoom(ctx context.Context, cfg Config, log *slog.Logger, room string, n int) (map[int]int, int64, time.Time, time.Time) {
	hc := &http.Client{Timeout: 10 * time.Second}
	var mu sync.Mutex
	statuses := map[int]int{}
	var accepted atomic.Int64
	start := time.Now()
	paced(ctx, cfg.Rate, n, cfg.PushWorkers, func(k int) {
		body := []byte(`{"to":{"rooms":["` + room + `"]},"event":"` + pushEvent + `","data":{"k":` +
			strconv.Itoa(k) + `},"ttl":` + strconv.Itoa(cfg.TTL) + `}`)
		st, _ := postPush(ctx, hc, cfg, cfg.Targets[k%len(cfg.Targets)].JoinPath("/v1/push").String(), body)
		mu.Lock()
		statuses[st]++
		mu.Unlock()
		if st == http.StatusAccepted {
			accepted.Add(1)
		}
	})
	end := time.Now()
	log.Info("room pushes done", "pushes", n, "accepted", accepted.Load(), "statuses", fmt.Sprint(statuses))
	return statuses, accepted.Load(), start, end
}

// paced calls fn(0..n-1) at rate per second on workers goroutines and
// returns when every call returned.
func paced(ctx context.Context, rate float64, n, workers int, fn func(k int)) {
	pacedUntil(ctx, nil, rate, n, workers, fn)
}

// pacedUntil is paced that also stops handing out jobs once stop is closed
// (nil: never); the jobs under way finish.
func pacedUntil(ctx context.Context, stop <-chan struct{}, rate float64, n, workers int, fn func(k int)) {
	jobs := make(chan int, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for k := range jobs {
				fn(k)
			}
		})
	}
	start := time.Now()
	interval := float64(time.Second) / rate
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	for k := 0; k < n && ctx.Err() == nil && !stopped(); k++ {
		if d := time.Until(start.Add(time.Duration(float64(k) * interval))); d >= time.Millisecond {
			select {
			case <-time.After(d):
			case <-stop:
			case <-ctx.Done():
			}
			if ctx.Err() != nil || stopped() {
				break
			}
		}
		select {
		case jobs <- k:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
}

// postPush sends one push and returns its HTTP status, or -1 and the
// error on a transport error.
func postPush(ctx context.Context, hc *http.Client, cfg Config, url string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return -1, err
	}
	req.Header.Set("Authorization", "Bearer "+cfg.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return -1, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
