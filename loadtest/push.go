package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"syscall"
	"time"

	"courier/loadtest/stats"
)

// runPush is the `push` scenario: ramp up cfg.Clients connections, stay idle
// for cfg.Settle (the Redis baseline), push unicast messages across nodes at
// cfg.Rate for cfg.Duration, wait up to cfg.Grace for the last ones, and
// audit every push: delivered once, twice, or never.
func runPush(ctx context.Context, cfg Config, log *slog.Logger, runID string) (*Result, error) {
	n := int(math.Ceil(cfg.Rate * cfg.Duration.Seconds()))
	rec := newRecorder(n)
	f := newFleet(cfg, log.With("part", "fleet"), runID, rec.onEvent)
	defer f.closeAll()
	sctx, stopSampler := context.WithCancel(ctx)
	defer stopSampler()
	s := newSampler(cfg, log, func() fleetCounts { c := f.counts(); c.Delivered = rec.delivered.Load(); return c })
	go s.run(sctx)
	if len(cfg.Targets) < 2 {
		log.Warn("one target: pushes cannot cross nodes, they go to clients of the same node")
	}

	rampStart := time.Now()
	f.ramp(ctx)
	rampEnd := time.Now()
	res := &Result{Scenario: cfg.Scenario, RunID: runID, Clients: cfg.Clients, Rate: cfg.Rate,
		Duration: cfg.Duration.String(), TTL: cfg.TTL, RampSeconds: round3(time.Since(rampStart).Seconds())}
	for _, u := range cfg.Targets {
		res.Targets = append(res.Targets, u.String())
	}
	if f.connected.Load() == 0 {
		fillFleet(res, f)
		return res, fmt.Errorf("no client connected: %v", f.errs)
	}

	// Connect-time work (registration, replay) goes on in the nodes after
	// the last CONNECT is answered: wait until Redis is quiet, then measure
	// the idle cluster's own Redis traffic as the baseline.
	if err := settle(ctx, cfg, log); err != nil {
		fillFleet(res, f)
		return res, err
	}
	base0, baseT0 := redisSnapshot(ctx, cfg, log)
	if cfg.RedisAddr != "" {
		sleep(ctx, cfg.Baseline)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	before := scrapeAll(ctx, hc, cfg, log)
	win0, winT0 := redisSnapshot(ctx, cfg, log)

	cpu0 := selfCPU()
	log.Info("pushing", "rate", cfg.Rate, "duration", cfg.Duration, "pushes", n)
	p := newPusher(cfg, log.With("part", "pusher"), f, rec)
	p.run(ctx)
	a := rec.audit(n)
	log.Info("pushes answered", "accepted", a.accepted, "statuses", a.statuses)

	// Stop waiting once every accepted push arrived, or at the grace's end.
	graceEnd := time.Now().Add(cfg.Grace)
	for time.Now().Before(graceEnd) && ctx.Err() == nil && rec.delivered.Load() < a.accepted {
		sleep(ctx, 50*time.Millisecond)
	}
	sleep(ctx, 300*time.Millisecond) // the last acknowledgements reach Redis
	win1, winT1 := redisSnapshot(ctx, cfg, log)
	res.LoadtestCPUSeconds = round3((selfCPU() - cpu0).Seconds())

	after := scrapeAll(ctx, hc, cfg, log)
	res.Nodes = map[string]nodeReport{}
	for t, m := range after {
		res.ServerRSSBytes += m.RSS
		r := nodeReport{RSS: m.RSS, Samples: m.Samples, Delta: map[string]float64{}}
		for k, v := range m.Samples {
			if d := v - before[t].Samples[k]; d != 0 && !strings.HasPrefix(k, "process_resident") {
				r.Delta[k] = round3(d)
			}
		}
		res.Nodes[t] = r
	}

	logDropped(log, f, rec)
	a = rec.audit(n) // again: late 202s and receipts count
	fillFleet(res, f)
	res.Pushed, res.Accepted, res.Lost, res.PushStatuses = a.attempted, a.accepted, a.lost, a.statuses
	res.Delivered, res.Duplicates = rec.delivered.Load(), rec.duplicates.Load()
	res.Misrouted, res.Unexpected = rec.misrouted.Load(), rec.unexpected.Load()
	res.Skipped = p.skipped
	res.PushSeconds = round3(p.elapsed.Seconds())
	res.ScheduleLagMs = float64(p.behind) / 1000
	if s := p.elapsed.Seconds(); s > 0 {
		res.MsgsPerSec = round3(float64(res.Delivered) / s)
		res.PushesPerSec = round3(float64(res.Accepted) / s)
	}
	stopSampler()
	res.Timeline = s.all()
	fillLatency(res, a.lat)
	res.LatencySendMs = stats.Summarize(a.latSend)
	res.APIMs = stats.Summarize(a.apiLat)
	res.SettleSeconds = round3(winT0.Sub(rampEnd).Seconds())
	if base0 != nil && win0 != nil && win1 != nil {
		res.Redis = newRedisResult(win0.sub(base0), win1.sub(win0),
			winT0.Sub(baseT0).Seconds(), winT1.Sub(winT0).Seconds(), res.Accepted)
	}
	return res, nil
}

func fillFleet(res *Result, f *fleet) {
	f.mu.Lock()
	defer f.mu.Unlock()
	res.Connected, res.Failed, res.Disconnects = f.connected.Load(), f.failed.Load(), f.disconnects.Load()
	res.ConnectErrors, res.DropReasons = f.errs, f.dropReasons
	res.ConnectMs = stats.Summarize(append([]int64(nil), f.connectLat...))
	res.Reconnects = f.reconnects.Load()
	if first, last := f.rampOpen(); first > 0 {
		res.RampOpenSeconds = round3(float64(last-first) / 1e9)
	}
}

// redisSnapshot reads commandstats when --redis is set; nil otherwise or on
// error (the run goes on without the Redis numbers).
func redisSnapshot(ctx context.Context, cfg Config, log *slog.Logger) (redisCalls, time.Time) {
	if cfg.RedisAddr == "" {
		return nil, time.Now()
	}
	c, err := readCommandStats(ctx, cfg.RedisAddr)
	if err != nil {
		log.Warn("redis INFO commandstats failed", "addr", cfg.RedisAddr, "err", err)
		return nil, time.Now()
	}
	return c, time.Now()
}

// settle waits cfg.Settle, then (with --redis) until Redis serves fewer than
// cfg.QuietCalls commands per second, for at most a minute.
func settle(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := sleep(ctx, cfg.Settle); err != nil || cfg.RedisAddr == "" {
		return err
	}
	prev, prevT := redisSnapshot(ctx, cfg, log)
	for end := time.Now().Add(time.Minute); prev != nil && time.Now().Before(end); {
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
		cur, curT := redisSnapshot(ctx, cfg, log)
		if cur == nil {
			return nil
		}
		rate := float64(cur.sub(prev).total()) / curT.Sub(prevT).Seconds()
		if rate < cfg.QuietCalls {
			return nil
		}
		log.Info("waiting for the nodes' connect work to finish", "redis_calls_per_sec", int(rate))
		prev, prevT = cur, curT
	}
	return nil
}

// scrapeAll reads every target's /metrics; a target that fails is left out.
func scrapeAll(ctx context.Context, hc *http.Client, cfg Config, log *slog.Logger) map[string]nodeMetrics {
	out := map[string]nodeMetrics{}
	for _, u := range cfg.Targets {
		m, err := scrapeMetrics(ctx, hc, u)
		if err != nil {
			log.Warn("metrics scrape failed", "target", u, "err", err)
			continue
		}
		out[u.String()] = m
	}
	return out
}

// selfCPU is this process's CPU time: the tester shares the machine with
// what it measures, so its own cost belongs in the result.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// logDropped lists, for each connection the server ended, the pushes it was
// sent and their fate, by age of the connection: a drop right after a push
// points at the send path, one at PING time at the heartbeat.
func logDropped(log *slog.Logger, f *fleet, rec *recorder) {
	f.mu.Lock()
	dropped := append([]int32(nil), f.dropped...)
	f.mu.Unlock()
	for _, id := range dropped {
		c := f.clients[id]
		var pushes []string
		for k := range rec.recs {
			r := &rec.recs[k]
			if r.user.Load() != id || r.sent.Load() == 0 {
				continue
			}
			age := time.Unix(0, r.sent.Load()).Sub(c.since).Round(time.Millisecond)
			pushes = append(pushes, fmt.Sprintf("k=%d sent_at_age=%s status=%d received=%d", k, age, r.status.Load(), r.recv.Load()))
		}
		log.Info("dropped connection's pushes", "user", c.user, "pushes", pushes)
	}
}
