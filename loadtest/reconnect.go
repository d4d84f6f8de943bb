package main

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
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
	// Keep-alive connections, one per worker and target, as a business
	// server would hold: a new TCP connection per push is 3,000 sockets a
	// second in TIME_WAIT, and a handshake more on a node under a storm.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: cfg.PushWorkers, IdleConnTimeout: time.Minute}}
	var attemptsMu sync.Mutex
	attempts := map[string]int{}  // per target: HTTP status or transport error
	acceptedBy := make([]int8, n) // target that answered 202, -1 = none
	paced(ctx, cfg.Rate, n, cfg.PushWorkers, func(k int) {
		r := &rec.recs[k]
		r.user.Store(int32(k))
		acceptedBy[k] = -1
		// The idempotency key makes a retry safe: a push whose 202 was lost
		// (a timeout) and that is sent again is stored and delivered once.
		body := []byte(`{"to":{"users":["` + f.clients[k].user + `"]},"event":"` + pushEvent + `","data":{"k":` +
			strconv.Itoa(k) + `},"ttl":` + strconv.Itoa(cfg.TTL) + `,"id":"lt-` + runID + `-` + strconv.Itoa(k) + `"}`)
		// A push to the killed node fails at once: try the next target. A
		// round on which every target failed (transport error, 5xx, 429) is
		// tried again after a pause, as a business server retries, until
		// cfg.PushRetry has passed.
		giveUp := time.Now().Add(cfg.PushRetry)
		pause := 100 * time.Millisecond
		for round := 0; ; round++ {
			for i := range len(cfg.Targets) {
				r.sent.Store(time.Now().UnixNano())
				t := (k + i) % len(cfg.Targets)
				st, err := postPush(ctx, hc, cfg, cfg.Targets[t].JoinPath("/v1/push").String(), body)
				r.status.Store(int32(st))
				key := "target " + strconv.Itoa(t) + ": "
				if err != nil {
					key += errKey(err)
				} else {
					key += strconv.Itoa(st)
				}
				attemptsMu.Lock()
				attempts[key]++
				attemptsMu.Unlock()
				if st == http.StatusAccepted {
					acceptedBy[k] = int8(t)
					return
				}
				if st > 0 && st < 500 && st != http.StatusTooManyRequests {
					return // refused for good: the audit counts it as not accepted
				}
			}
			if time.Now().After(giveUp) || sleep(ctx, pause) != nil {
				return
			}
			pause = min(2*pause, 2*time.Second)
		}
	})
	res.PushSeconds = round3(time.Since(kill).Seconds())
	<-restarted

	var backAt, replayedAt time.Time
	for end := time.Now().Add(cfg.ReconnectWait); time.Now().Before(end) && ctx.Err() == nil; {
		now := time.Now()
		if backAt.IsZero() && f.live.Load() >= before {
			backAt = now
		}
		// Every accepted push received (receipts of pushes whose 202 never
		// reached us, which the API may still have stored, do not count).
		if replayedAt.IsZero() {
			if missing, last := rec.missing(n); missing == 0 {
				// When the last one arrived, not when we looked: the wait
				// starts only once the node was restarted.
				replayedAt = time.Unix(0, max(last, kill.UnixNano()))
			}
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
	a := rec.audit(n)
	logLost(log, rec, f, acceptedBy, kill, 30)
	fillFleet(res, f)
	res.Reconnects = f.reconnects.Load()
	res.LiveAtEnd = f.live.Load()
	res.Pushed, res.Accepted, res.Lost, res.PushStatuses = a.attempted, a.accepted, a.lost, a.statuses
	attemptsMu.Lock()
	res.PushAttempts = attempts
	attemptsMu.Unlock()
	res.Delivered, res.Duplicates = rec.delivered.Load(), rec.duplicates.Load()
	res.Misrouted, res.Unexpected = rec.misrouted.Load(), rec.unexpected.Load()
	fillLatency(res, a.lat)
	res.LatencySendMs = stats.Summarize(a.latSend)
	return res, nil
}

// logLost logs up to max accepted pushes that never arrived, with what
// tells the tester's part from the node's: where the receiver was and is,
// when it came back, and which node took the push when.
func logLost(log *slog.Logger, rec *recorder, f *fleet, acceptedBy []int8, kill time.Time, max int) {
	at := func(ns int64) time.Duration {
		if ns == 0 {
			return 0
		}
		return time.Unix(0, ns).Sub(kill).Round(time.Millisecond)
	}
	logged := 0
	for k := range rec.recs {
		r := &rec.recs[k]
		if r.status.Load() != http.StatusAccepted || r.recv.Load() > 0 || r.user.Load() < 0 {
			continue
		}
		if logged++; logged > max {
			break
		}
		c := f.clients[r.user.Load()]
		log.Warn("lost push", "k", k, "user", c.user, "first_target", (f.idBase+int(c.id))%len(f.cfg.Targets),
			"target_now", c.target, "up", c.up.Load(), "accepted_by", acceptedBy[k], "sent_after_kill", at(r.sent.Load()),
			"down_after_kill", at(c.downAt.Load()), "up_after_kill", at(c.upAt.Load()))
	}
}
