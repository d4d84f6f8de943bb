package main

import (
	"context"
	"errors"
	"log/slog"
	"math"
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
// from the flags, or (compare, cluster) functions of a runner that started
// the node; roll restarts every node in turn (cluster only).
type hooks struct {
	kill, restart func(ctx context.Context) error
	roll          func(ctx context.Context) ([]rollStep, error)
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
// target, then another one at random each time (a killed node refuses at
// once, a draining one with 503), as a load balancer spreads clients over
// the nodes left, with a jittered, doubling pause as the official client's
// reconnection does, so that 15,000 clients do not all arrive in the same
// millisecond.
func (f *fleet) reconnect(ctx context.Context, c *client) {
	secret := []byte(f.cfg.JWTSecret)
	delay := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if sleep(ctx, time.Duration(rand.Int64N(int64(delay)))) != nil || f.closing.Load() {
			return
		}
		c.target = nextTarget(c.target, attempt, len(f.cfg.Targets), rand.IntN)
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

// nextTarget is where reconnect attempt number attempt goes from target
// cur of n: the same target first, then any other one (rnd(k) is in [0, k)).
func nextTarget(cur, attempt, n int, rnd func(int) int) int {
	if attempt == 0 || n < 2 {
		return cur
	}
	return (cur + 1 + rnd(n-1)) % n
}

// runReconnect is the `reconnect` scenario: connect cfg.Clients, then drop
// every connection (--mode drop), kill a node (--mode kill) or restart
// every node in turn (--mode roll); meanwhile push messages with a ttl
// (cfg.Rate per second, through whichever target answers): one to every
// user after a drop or kill, to user k mod clients while the roll lasts.
// A killed node is restarted after cfg.Down. Then it times until every
// client is back and every accepted message arrived, and how long each
// client was without a connection.
func runReconnect(ctx context.Context, cfg Config, log *slog.Logger, runID string, h hooks) (*Result, error) {
	if cfg.Mode == "roll" && h.roll == nil {
		return nil, errors.New("--mode roll needs a runner that restarts the nodes: run it under `loadtest cluster`")
	}
	n := cfg.Clients // pushes: one per user (connected after the ramp)
	if cfg.Mode == "roll" {
		n = int(math.Ceil(cfg.Rate * cfg.RollTimeout.Seconds()))
	}
	rec := newRecorder(n)
	var cr crowd
	var local *fleet
	if cfg.Clients > cfg.PerProcess {
		ch, err := startChildren(ctx, cfg, log, runID, rec.receive)
		if err != nil {
			return nil, err
		}
		cr = ch
	} else {
		local = newFleet(cfg, log.With("part", "fleet"), runID, rec.onEvent)
		cr = localCrowd{local}
	}
	finished := false
	res := newResult(cfg, runID)
	defer func() {
		if !finished {
			cr.finish(res)
		}
	}()
	sctx, stopSampler := context.WithCancel(ctx)
	defer stopSampler()
	s := newSampler(cfg, log, func() fleetCounts { c := cr.counts(); c.Delivered = rec.delivered.Load(); return c })
	go s.run(sctx)

	t0 := time.Now()
	cr.ramp(ctx)
	res.RampSeconds = round3(time.Since(t0).Seconds())
	before := cr.counts().Live
	// Pushes go only to users that connected: one that never did cannot get
	// its message back, and is counted in failed (and skipped) instead.
	receivers := upIDs(cfg.Clients, cr.notUpAfterRamp())
	res.Skipped = cfg.Clients - len(receivers)
	if before == 0 || len(receivers) == 0 {
		return res, errors.New("no client connected")
	}
	if cfg.Mode != "roll" {
		n = len(receivers)
	}
	sleep(ctx, cfg.Settle)
	cr.startRedial(ctx)

	// Pushes start once the drops are seen, so each one is for a client that
	// is away (or already back, on a survivor): both must be delivered. In a
	// roll they start with it and go on until the last node is ready again.
	kill := time.Now()
	var roll chan struct{}
	var restarted chan struct{}
	switch {
	case cfg.Mode == "roll":
		roll = make(chan struct{})
		go func() {
			defer close(roll)
			steps, err := h.roll(ctx)
			res.RollSteps, res.RollSeconds = steps, round3(time.Since(kill).Seconds())
			if err != nil {
				log.Error("rolling restart failed", "err", err)
			}
		}()
	case cfg.Mode == "drop" || h.kill == nil:
		cr.dropAll()
	default:
		if err := h.kill(ctx); err != nil {
			log.Error("kill hook failed", "err", err)
		}
	}
	if cfg.Mode != "roll" {
		for end := time.Now().Add(5 * time.Second); cr.counts().Disconnects == 0 && time.Now().Before(end); {
			sleep(ctx, 10*time.Millisecond)
		}
		res.DroppedClients = cr.counts().Disconnects
		restarted = make(chan struct{})
		go func() {
			defer close(restarted)
			if sleep(ctx, cfg.Down) == nil && h.restart != nil && cfg.Mode == "kill" {
				if err := h.restart(ctx); err != nil {
					log.Error("restart hook failed", "err", err)
				}
			}
		}()
	}
	// Keep-alive connections, one per worker and target, as a business
	// server would hold: a new TCP connection per push is 3,000 sockets a
	// second in TIME_WAIT, and a handshake more on a node under a storm.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: cfg.PushWorkers, IdleConnTimeout: time.Minute}}
	var attemptsMu sync.Mutex
	attempts := map[string]int{}  // per target: HTTP status or transport error
	acceptedBy := make([]int8, n) // target that answered 202, -1 = none
	pacedUntil(ctx, roll, cfg.Rate, n, cfg.PushWorkers, func(k int) {
		r := &rec.recs[k]
		to := int(receivers[k%len(receivers)])
		r.user.Store(int32(to))
		acceptedBy[k] = -1
		// The idempotency key makes a retry safe: a push whose 202 was lost
		// (a timeout) and that is sent again is stored and delivered once.
		body := []byte(`{"to":{"users":["` + userName(runID, to) + `"]},"event":"` + pushEvent + `","data":{"k":` +
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
	if roll != nil {
		<-roll
	} else {
		<-restarted
	}

	var backAt, replayedAt time.Time
	for end := time.Now().Add(cfg.ReconnectWait); time.Now().Before(end) && ctx.Err() == nil; {
		now := time.Now()
		if backAt.IsZero() && cr.counts().Live >= before {
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
		// The times come from the clients' records, not from this loop.
		sleep(ctx, 100*time.Millisecond)
	}
	if !backAt.IsZero() {
		// The last reconnect, not when we noticed it.
		res.AllBackSeconds = round3(time.Unix(0, max(cr.counts().LastUp, kill.UnixNano())).Sub(kill).Seconds())
	}
	if !replayedAt.IsZero() {
		res.AllReplayedSeconds = round3(replayedAt.Sub(kill).Seconds())
	}
	sleep(ctx, time.Second) // duplicates that are on their way
	stopSampler()
	res.Timeline = s.all()
	res.ServerRSSBytes = serverRSS(ctx, s)
	a := rec.audit(n)
	logLost(log, rec, local, runID, acceptedBy, kill, 30)
	res.LiveAtEnd = cr.counts().Live
	finished = true
	cr.finish(res)
	res.Pushed, res.Accepted, res.Lost, res.PushStatuses = a.attempted, a.accepted, a.lost, a.statuses
	attemptsMu.Lock()
	res.PushAttempts = attempts
	attemptsMu.Unlock()
	res.Delivered, res.Duplicates = rec.delivered.Load(), rec.duplicates.Load()
	res.Misrouted, res.Unexpected = rec.misrouted.Load(), rec.unexpected.Load()
	if ch, ok := cr.(*children); ok {
		res.Unexpected += ch.unexpected.Load()
	}
	res.Deadline = deadlines(a, cfg.DeliverWithin)
	fillLatency(res, a.lat)
	res.LatencySendMs = stats.Summarize(a.latSend)
	return res, nil
}

// upIDs is 0..clients-1 without the ids in down.
func upIDs(clients int, down []int32) []int32 {
	isDown := make([]bool, clients)
	for _, id := range down {
		if id >= 0 && int(id) < clients {
			isDown[id] = true
		}
	}
	out := make([]int32, 0, clients-len(down))
	for i, d := range isDown {
		if !d {
			out = append(out, int32(i))
		}
	}
	return out
}

// deadlines is how late the accepted pushes of a arrived; its two
// latency lists need not be in the same order.
func deadlines(a audit, within time.Duration) *deadlineResult {
	d := &deadlineResult{LimitSeconds: within.Seconds()}
	var maxSend, maxAcc int64
	for i, us := range a.latSend {
		if within > 0 && us > within.Microseconds() {
			d.Late++
		}
		maxSend, maxAcc = max(maxSend, us), max(maxAcc, a.lat[i])
	}
	d.MaxFromSendMs, d.MaxFromAcceptedMs = float64(maxSend)/1000, float64(maxAcc)/1000
	return d
}

// logLost logs up to max accepted pushes that never arrived, with what
// tells the tester's part from the node's: where the receiver was and is,
// when it came back (when the clients are in this process, f), and which
// node took the push when.
func logLost(log *slog.Logger, rec *recorder, f *fleet, runID string, acceptedBy []int8, kill time.Time, max int) {
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
		to := int(r.user.Load())
		attrs := []any{"k", k, "user", userName(runID, to), "accepted_by", acceptedBy[k], "sent_after_kill", at(r.sent.Load())}
		if f != nil {
			c := f.clients[to]
			attrs = append(attrs, "first_target", (f.idBase+int(c.id))%len(f.cfg.Targets), "target_now", c.target, "up", c.up.Load(),
				"down_after_kill", at(c.downAt.Load()), "up_after_kill", at(c.upAt.Load()))
		}
		log.Warn("lost push", attrs...)
	}
}
