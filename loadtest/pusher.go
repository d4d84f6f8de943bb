package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// pusher sends unicast pushes at a fixed rate, round-robin over the targets'
// APIs, each to a user connected to another node.
type pusher struct {
	cfg    Config
	log    *slog.Logger
	fleet  *fleet
	rec    *recorder
	client *http.Client
	urls   []string

	issued   int   // pushes handed to workers (dispatcher-only until run returns)
	skipped  int   // no receiver was connected
	behind   int64 // worst lag of the schedule, µs: workers could not keep up
	elapsed  time.Duration
	inFlight atomic.Int64
}

func newPusher(cfg Config, log *slog.Logger, f *fleet, rec *recorder) *pusher {
	p := &pusher{cfg: cfg, log: log, fleet: f, rec: rec,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: cfg.PushWorkers, IdleConnTimeout: time.Minute}}}
	for _, u := range cfg.Targets {
		p.urls = append(p.urls, u.JoinPath("/v1/push").String())
	}
	return p
}

// run pushes for cfg.Duration (or until ctx ends) and returns when every
// request has been answered.
func (p *pusher) run(ctx context.Context) {
	jobs := make(chan int, p.cfg.PushWorkers)
	var wg sync.WaitGroup
	for range p.cfg.PushWorkers {
		wg.Go(func() {
			for k := range jobs {
				p.push(ctx, k)
			}
		})
	}
	rnd := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	interval := float64(time.Second) / p.cfg.Rate
	total := len(p.rec.recs)
	start := time.Now()
	lastLog := start
	for k := 0; k < total && ctx.Err() == nil; k++ {
		due := start.Add(time.Duration(float64(k) * interval))
		if d := time.Until(due); d > 0 {
			// Sleep only when at least a millisecond ahead: timer granularity
			// would otherwise cost more than it saves; late ones go in a burst.
			if d >= time.Millisecond && sleep(ctx, d) != nil {
				break
			}
		} else {
			p.behind = max(p.behind, -d.Microseconds())
		}
		api := k % len(p.urls)
		to := p.fleet.pick(api, rnd.IntN)
		if to < 0 {
			p.skipped++
			continue
		}
		p.rec.recs[k].user.Store(to)
		select {
		case jobs <- k:
			p.issued++
		case <-ctx.Done():
		}
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			p.log.Info("pushing", "issued", p.issued, "delivered", p.rec.delivered.Load(), "in_flight", p.inFlight.Load())
		}
	}
	p.elapsed = time.Since(start)
	close(jobs)
	wg.Wait()
}

// push sends push k; its data carries k so the receiver can match the
// message to its push. The body gets its own buffer: the transport may still
// hold it after Do returns.
func (p *pusher) push(ctx context.Context, k int) {
	rec := &p.rec.recs[k]
	user := p.fleet.clients[rec.user.Load()].user
	b := make([]byte, 0, 128)
	b = append(b, `{"to":{"users":["`...)
	b = append(b, user...)
	b = append(b, `"]},"event":"`+pushEvent+`","data":{"k":`...)
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, `},"ttl":`...)
	b = strconv.AppendInt(b, int64(p.cfg.TTL), 10)
	b = append(b, '}')
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.urls[k%len(p.urls)], bytes.NewReader(b))
	if err != nil {
		rec.status.Store(-1)
		return
	}
	req.Header.Set("Authorization", "Bearer "+p.cfg.APIKey)
	req.Header.Set("Content-Type", "application/json")
	p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	t0 := time.Now()
	rec.sent.Store(t0.UnixNano())
	resp, err := p.client.Do(req)
	if err != nil {
		rec.apiLat.Store(time.Since(t0).Microseconds())
		rec.status.Store(-1)
		p.log.Debug("push failed", "k", k, "err", err)
		return
	}
	io.Copy(io.Discard, resp.Body) // drained, so the connection is reused
	resp.Body.Close()
	rec.apiLat.Store(time.Since(t0).Microseconds())
	rec.status.Store(int32(resp.StatusCode))
}
