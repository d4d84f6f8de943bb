package node

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"courier/node/api"
	"courier/node/memtrim"
	"courier/node/session"
)

// Serve answers on ln until Shutdown. It first starts what listens beside
// ln (peers, the tRPC push service, the profiles) and the loops; each is
// refused once Shutdown began. A start-up error stops what had started and
// is returned. Serve after Shutdown closes ln and returns nil.
func (n *Node) Serve(ln net.Listener) error {
	n.mu.Lock()
	if n.draining.Load() {
		n.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	n.starting.Add(1)
	n.mu.Unlock()

	err := n.startUp(ln.Addr().String())
	n.starting.Done()
	if errors.Is(err, errDraining) {
		_ = ln.Close()
		return nil
	}
	if err != nil {
		_ = ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
		defer cancel()
		_ = n.Shutdown(ctx)
		return err
	}
	n.log.Info("courier node listening", "addr", ln.Addr().String(), "socketio", "/socket.io/", "api", "/v1/")
	if err := n.server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startUp starts each component in turn, publishing it under mu so that
// Shutdown stops it.
func (n *Node) startUp(apiAddr string) error {
	// Shutdown stops the peers whether or not they started: nothing to mark.
	if err := n.publish(func() error { return n.peers.Start(n.ctx, apiAddr) }, nil); err != nil {
		return err
	}
	if n.cfg.TRPCListen != "" {
		srv, err := api.NewTRPCPushServer(n.cfg.TRPCListen, n, n.cfg.APIKeys, n.log.With("component", "trpc-server"))
		if err != nil {
			return err
		}
		if err := n.publish(nil, func(s *started) { s.trpc = srv }); err != nil {
			_ = srv.Close()
			return err
		}
		n.log.Info("tRPC push service listening", "addr", srv.Addr(), "func", api.PushFunc)
	}
	if n.cfg.DebugListen != "" {
		if err := n.startDebug(); err != nil {
			return err
		}
	}
	if n.cfg.MetricsListen != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", n.metricsHandler())
		if err := n.serveApart(n.cfg.MetricsListen, mux, "metrics", n.cfg.HTTPWriteTimeout, func(s *started, srv *http.Server, addr net.Addr) { s.metrics, s.metricsAddr = srv, addr }); err != nil {
			return err
		}
	}
	if err := n.publish(func() error { n.polls.Start(); return nil }, func(s *started) { s.polls = true }); err != nil {
		return err
	}
	if err := n.goroutine(n.reportFigures); err != nil {
		return err
	}
	if g := n.mailboxGauge; g != nil {
		if err := n.goroutine(func() { n.countMailboxes(g) }); err != nil {
			return err
		}
	}
	return n.goroutine(func() { memtrim.Run(n.ctx, n.hub.Count, n.log) })
}

// publish runs open unless Shutdown began, then records what it started
// with mark, under mu. open may be nil when the thing is already open, and
// mark nil when Shutdown stops the thing in any case.
func (n *Node) publish(open func() error, mark func(*started)) error {
	if n.draining.Load() {
		return errDraining
	}
	if open != nil {
		if err := open(); err != nil {
			return err
		}
	}
	if mark == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	mark(&n.started) // even when draining now: Shutdown waits for start-up, then stops it
	return nil
}

// goroutine runs f on a goroutine Shutdown waits for, unless Shutdown
// began (nats-server's startGoRoutine). f must end when n.ctx does.
func (n *Node) goroutine(f func()) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.draining.Load() {
		return errDraining
	}
	n.loops.Add(1)
	go func() {
		defer n.loops.Done()
		f()
	}()
	return nil
}

// startDebug serves Go's profiles on cfg.DebugListen, apart from the public
// listener so that they are never reachable where clients are.
func (n *Node) startDebug() error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No write bound: a CPU profile or trace takes as long as it was asked to.
	return n.serveApart(n.cfg.DebugListen, mux, "profiles", 0, func(s *started, srv *http.Server, _ net.Addr) { s.debug = srv })
}

// serveApart serves h on its own listener at addr (profiles, metrics), with
// the HTTP bounds of the public one (writeTimeout 0: none), and publishes
// its server with mark so that Shutdown closes it.
func (n *Node) serveApart(addr string, h http.Handler, what string, writeTimeout time.Duration, mark func(*started, *http.Server, net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: min(10*time.Second, n.cfg.HTTPReadTimeout),
		ReadTimeout: n.cfg.HTTPReadTimeout, WriteTimeout: writeTimeout, IdleTimeout: n.cfg.HTTPIdleTimeout}
	if err := n.publish(nil, func(s *started) { mark(s, srv, ln.Addr()) }); err != nil {
		_ = ln.Close()
		return err
	}
	n.log.Info(what+" served apart", "addr", ln.Addr().String())
	return n.goroutine(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			n.log.Warn(what+" listener stopped", "err", err)
		}
	})
}

// Shutdown drains the node: it stops taking connections, tells every client
// to reconnect (elsewhere), finishes API calls in flight, and stops, within
// ctx's deadline. Calls after the first return nil at once.
func (n *Node) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	if n.draining.Swap(true) {
		n.mu.Unlock()
		return nil
	}
	n.mu.Unlock()
	n.endTraces()
	n.awaitStartUp(ctx)
	n.mu.Lock()
	st := n.started
	n.mu.Unlock()

	// Polling tasks first: the others take them over at their next scan
	// while this node drains, and the release reaches the store in time.
	if st.polls {
		n.polls.Stop(ctx)
	}
	delay, spread := n.drainTimes(ctx)
	n.log.Info("draining", "sessions", n.hub.Count(), "delay", delay, "spread", spread)
	// /readyz answers 503 from the start; clients are told to go only once
	// the balancer had time to notice, and not all at once.
	sleep(ctx, delay)
	n.hub.CloseAll(ctx, session.ReasonShutdown, spread)
	n.awaitSessionsGone(ctx, drainGrace)
	n.hub.AwaitDepartures(ctx)
	n.sessionOpts.FlushAcks(ctx)
	err := n.server.Shutdown(ctx)
	n.stopAll(ctx)
	n.log.Info("stopped", "err", err)
	return err
}

// stopAll closes what is left, in order: the engine (its last sessions),
// the node's lifetime (commands in flight, the loops), the listeners beside
// the API, the peers (leaving the cluster), and what New opened.
func (n *Node) stopAll(ctx context.Context) {
	n.engine.Close()
	n.cancel()
	n.mu.Lock()
	st := n.started
	n.mu.Unlock()
	if st.trpc != nil {
		_ = st.trpc.Close()
	}
	if st.debug != nil {
		_ = st.debug.Close()
	}
	if st.metrics != nil {
		_ = st.metrics.Close()
	}
	n.peers.Stop()
	n.loops.Wait()
	for _, c := range n.closeAtEnd {
		c()
	}
}

// awaitStartUp waits for a Serve start-up under way, within ctx.
func (n *Node) awaitStartUp(ctx context.Context) {
	done := make(chan struct{})
	go func() { n.starting.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n.log.Warn("shutdown did not wait for start-up to finish", "err", ctx.Err())
	}
}

// drainTimes are the configured drain delay and spread, shrunk in
// proportion when together they would not leave ctx time for the rest of
// the drain (drainGrace, then a second for the acks and the API).
func (n *Node) drainTimes(ctx context.Context) (delay, spread time.Duration) {
	delay, spread = n.cfg.DrainDelay, n.cfg.DrainSpread
	deadline, ok := ctx.Deadline()
	if !ok || delay+spread == 0 {
		return delay, spread
	}
	budget := time.Until(deadline) - drainGrace - time.Second
	if budget <= 0 {
		return 0, 0
	}
	if total := delay + spread; total > budget {
		delay = time.Duration(float64(delay) * float64(budget) / float64(total))
		spread = budget - delay
		n.log.Warn("drain shortened to fit the shutdown timeout", "delay", delay, "spread", spread)
	}
	return delay, spread
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// drainGrace bounds how long Shutdown waits for transports to flush their
// last word (courier:disconnect) before the engine closes what is left.
const drainGrace = 2 * time.Second

func (n *Node) awaitSessionsGone(ctx context.Context, grace time.Duration) {
	deadline := time.Now().Add(grace)
	for n.hub.Count() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// storeContext bounds one store call the node makes for a client event,
// within the node's lifetime.
func (n *Node) storeContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(n.ctx, 5*time.Second)
}
