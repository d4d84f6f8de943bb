package main

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"time"

	"courier/loadtest/stats"
)

// hooks kill and restart a node for the reconnect scenario: shell commands
// from the flags, or (compare) functions of a runner that started the node.
type hooks struct {
	kill, restart func(ctx context.Context) error
}

func shellHooks(cfg Config, log *slog.Logger) hooks {
	run := func(cmdline string) func(context.Context) error {
		if cmdline == "" {
			return nil
		}
		return func(ctx context.Context) error {
			log.Info("running hook", "cmd", cmdline)
			cmd := exec.CommandContext(ctx, "sh", "-c", cmdline)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			return cmd.Run()
		}
	}
	return hooks{kill: run(cfg.KillCmd), restart: run(cfg.RestartCmd)}
}

// reconnect dials c again until it is back or ctx ends: first its own
// target, then the next ones (a killed node refuses at once), with a
// jittered, doubling pause as the official client's reconnection does, so
// that 15,000 clients do not all arrive in the same millisecond.
func (f *fleet) reconnect(ctx context.Context, c *client) {
	secret := []byte(f.cfg.JWTSecret)
	delay := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if sleep(ctx, time.Duration(rand.Int64N(int64(delay)))) != nil || f.closing.Load() {
			return
		}
		c.target = (c.target + min(attempt, 1)) % len(f.cfg.Targets)
		conn, err := f.dial(ctx, c, wsURL(f.cfg.Targets[c.target]), secret)
		if err == nil {
			if f.closing.Load() {
				conn.Close()
				return
			}
			f.reconnects.Add(1)
			f.lastUp.Store(time.Now().UnixNano())
			f.hold(c, conn)
			return
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// runReconnect is the `reconnect` scenario: connect cfg.Clients, then drop
// every connection (--mode drop) or kill a node (--mode kill), push one
// message with a ttl to every user while they are away (cfg.Rate per second,
// through whichever target answers), restart the node after cfg.Down, and
// time until every client is back and every accepted message arrived.
func runReconnect(ctx context.Context, cfg Config, log *slog.Logger, runID string, h hooks) (*Result, error) {
	n := cfg.Clients
	rec := newRecorder(n)
	f := newFleet(cfg, log.With("part", "fleet"), runID, rec.onEvent)
	defer f.closeAll()
	res := newResult(cfg, runID)
	sctx, stopSampler := context.WithCancel(ctx)
	defer stopSampler()
	s := newSampler(cfg, log, func() fleetCounts { c := f.counts(); c.Delivered = rec.delivered.Load(); return c })
	go s.run(sctx)

	t0 := time.Now()
	f.ramp(ctx)
	res.RampSeconds = round3(time.Since(t0).Seconds())
	before := f.live.Load()
	sleep(ctx, cfg.Settle)
	f.redial = ctx

	kill := time.Now()
	if cfg.Mode == "drop" || h.kill == nil {
		for _, c := range f.clients {
			if conn := c.conn.Load(); conn != nil {
				conn.Close()
			}
		}
	} else if err := h.kill(ctx); err != nil {
		log.Error("kill hook failed", "err", err)
	}
	// Pushes start once the drops are seen, so each one is for a client that
	// is away (or already back, on a survivor): both must be delivered.
	for end := time.Now().Add(5 * time.Second); f.disconnects.Load() == 0 && time.Now().Before(end); {
		sleep(ctx, 10*time.Millisecond)
	}
	res.DroppedClients = f.disconnects.Load()
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		if sleep(ctx, cfg.Down) == nil && h.restart != nil && cfg.Mode == "kill" {
			if err := h.restart(ctx); err != nil {
				log.Error("restart hook failed", "err", err)
			}
		}
	}()
	hc := &http.Client{Timeout: 5 * time.Second}
	paced(ctx, cfg.Rate, n, cfg.PushWorkers, func(k int) {
		r := &rec.recs[k]
		r.user.Store(int32(k))
		body := []byte(`{"to":{"users":["` + f.clients[k].user + `"]},"event":"` + pushEvent + `","data":{"k":` +
			strconv.Itoa(k) + `},"ttl":` + strconv.Itoa(cfg.TTL) + `}`)
		// A push to the killed node fails at once: try the next target.
		for i := range len(cfg.Targets) {
			r.sent.Store(time.Now().UnixNano())
			st := postPush(ctx, hc, cfg, cfg.Targets[(k+i)%len(cfg.Targets)].JoinPath("/v1/push").String(), body)
			r.status.Store(int32(st))
			if st == http.StatusAccepted {
				break
			}
		}
	})
	res.PushSeconds = round3(time.Since(kill).Seconds())
	<-restarted

	a := rec.audit(n)
	var backAt, replayedAt time.Time
	for end := time.Now().Add(cfg.ReconnectWait); time.Now().Before(end) && ctx.Err() == nil; {
		now := time.Now()
		if backAt.IsZero() && f.live.Load() >= before {
			backAt = now
		}
		if replayedAt.IsZero() && rec.delivered.Load() >= a.accepted {
			replayedAt = now
		}
		if !backAt.IsZero() && !replayedAt.IsZero() {
			break
		}
		sleep(ctx, 20*time.Millisecond)
	}
	if !backAt.IsZero() {
		// The last reconnect, not when we noticed it.
		res.AllBackSeconds = round3(time.Unix(0, max(f.lastUp.Load(), kill.UnixNano())).Sub(kill).Seconds())
	}
	if !replayedAt.IsZero() {
		res.AllReplayedSeconds = round3(replayedAt.Sub(kill).Seconds())
	}
	sleep(ctx, time.Second) // duplicates that are on their way
	stopSampler()
	res.Timeline = s.all()
	res.ServerRSSBytes = serverRSS(ctx, s)
	a = rec.audit(n)
	fillFleet(res, f)
	res.Reconnects = f.reconnects.Load()
	res.LiveAtEnd = f.live.Load()
	res.Pushed, res.Accepted, res.Lost, res.PushStatuses = a.attempted, a.accepted, a.lost, a.statuses
	res.Delivered, res.Duplicates = rec.delivered.Load(), rec.duplicates.Load()
	res.Misrouted, res.Unexpected = rec.misrouted.Load(), rec.unexpected.Load()
	fillLatency(res, a.lat)
	res.LatencySendMs = stats.Summarize(a.latSend)
	return res, nil
}
