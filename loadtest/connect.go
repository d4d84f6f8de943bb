package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"courier/loadtest/stats"
)

// crowd is the clients of a run, held in this process (a fleet) or split
// over child processes (children).
type crowd interface {
	ramp(ctx context.Context)
	counts() fleetCounts
	// startRedial makes every later drop reconnect (reconnect scenario);
	// dropAll closes every connection from the client side.
	startRedial(ctx context.Context)
	dropAll()
	// notUpAfterRamp is the clients (indexes over the run) without a
	// connection once the ramp is done.
	notUpAfterRamp() []int32
	// finish closes every connection and fills the result's connection
	// fields (connected, failed, errors, handshake times, time offline).
	finish(res *Result)
}

// localCrowd is a fleet in this process.
type localCrowd struct{ f *fleet }

func (l localCrowd) ramp(ctx context.Context)        { l.f.ramp(ctx) }
func (l localCrowd) counts() fleetCounts             { return l.f.counts() }
func (l localCrowd) startRedial(ctx context.Context) { l.f.startRedial(ctx) }
func (l localCrowd) dropAll()                        { l.f.dropAll() }
func (l localCrowd) notUpAfterRamp() []int32         { return l.f.notUp() }
func (l localCrowd) finish(res *Result) {
	offline, away := l.f.offline(time.Now())
	l.f.closeAll()
	fillFleet(res, l.f)
	fillOffline(res, offline, away, l.f.cfg.OfflineLimit)
}

// runConnect is the `connect` scenario: ramp cfg.Clients connections at
// cfg.ConnectRate, wait until the servers' memory settles, hold them idle
// for cfg.Duration, and report the servers' memory per connection.
func runConnect(ctx context.Context, cfg Config, log *slog.Logger, runID string) (*Result, error) {
	var cr crowd
	if cfg.Clients > cfg.PerProcess {
		ch, err := startChildren(ctx, cfg, log, runID, nil)
		if err != nil {
			return nil, err
		}
		cr = ch
	} else {
		cr = localCrowd{newFleet(cfg, log.With("part", "fleet"), runID, func(*client, []byte, []byte) {})}
	}
	res := newResult(cfg, runID)
	sctx, stopSampler := context.WithCancel(ctx)
	defer stopSampler()
	s := newSampler(cfg, log, cr.counts)
	go s.run(sctx)

	res.RSSBeforeBytes = serverRSS(ctx, s)
	t0 := time.Now()
	cr.ramp(ctx)
	res.RampSeconds = round3(time.Since(t0).Seconds())
	sleep(ctx, cfg.Settle)
	res.RSSSettledBytes = settleRSS(ctx, s, log)
	log.Info("holding idle connections", "for", cfg.Duration, "live", cr.counts().Live)
	cpu0, t1 := serverCPU(ctx, s), time.Now()
	sleep(ctx, cfg.Duration)
	cpu1, held := serverCPU(ctx, s), time.Since(t1).Seconds()
	res.RSSIdleBytes = serverRSS(ctx, s)
	live := cr.counts().Live
	if live > 0 {
		res.MemPerConnBytes = math.Round(float64(res.RSSIdleBytes-res.RSSBeforeBytes) / float64(live))
		// heartbeats only: what holding 10,000 idle connections costs, in
		// percent of one core
		if cpu0 >= 0 && cpu1 >= cpu0 && held > 0 {
			res.CPUPer10kIdlePct = round3((cpu1 - cpu0) / held * 100 * 10000 / float64(live))
		}
	}
	res.LiveAtEnd = live
	res.ServerRSSBytes = res.RSSIdleBytes
	stopSampler()
	cr.finish(res)
	res.Timeline = s.all()
	if res.Connected == 0 {
		return res, fmt.Errorf("no client connected: %v", res.ConnectErrors)
	}
	return res, nil
}

// settleRSS waits until the servers' RSS changed by less than 1% over three
// seconds (connect-time work done, garbage collected), at most a minute,
// and returns it.
func settleRSS(ctx context.Context, s *sampler, log *slog.Logger) int64 {
	prev := serverRSS(ctx, s)
	for end := time.Now().Add(time.Minute); time.Now().Before(end); {
		if sleep(ctx, 3*time.Second) != nil {
			return prev
		}
		cur := serverRSS(ctx, s)
		if math.Abs(float64(cur-prev)) < 0.01*float64(prev) {
			return cur
		}
		log.Info("waiting for server memory to settle", "rss_mb", cur>>20, "was_mb", prev>>20)
		prev = cur
	}
	return prev
}

// newResult is the part of every scenario's result that comes from flags.
func newResult(cfg Config, runID string) *Result {
	res := &Result{Scenario: cfg.Scenario, RunID: runID, Clients: cfg.Clients, Rate: cfg.Rate,
		Duration: cfg.Duration.String(), TTL: cfg.TTL}
	for _, u := range cfg.Targets {
		res.Targets = append(res.Targets, u.String())
	}
	return res
}

// fillOffline puts the times clients were without a connection (µs) and
// the count of clients still away into res; longer than limit is too long.
func fillOffline(res *Result, offline []int64, away int64, limit time.Duration) {
	if len(offline) == 0 && away == 0 {
		return
	}
	o := &offlineResult{LimitSeconds: limit.Seconds(), StillAway: away}
	for _, us := range offline {
		if limit > 0 && us > limit.Microseconds() {
			o.OverLimit++
		}
	}
	o.Ms = stats.Summarize(offline)
	o.MaxSeconds = round3(o.Ms.Max / 1000)
	res.Offline = o
}

// fillLatency puts the latency summary and histogram of µs samples into res.
func fillLatency(res *Result, lat []int64) {
	res.LatencyMs = stats.Summarize(lat)
	res.LatencyHist = histogram(lat)
}
