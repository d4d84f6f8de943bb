package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"courier/loadtest/sioclient"
	"courier/node/auth"
)

// client is one simulated device: its own user, so a unicast push to that
// user has exactly one receiver.
type client struct {
	id     int32
	target int // index in Config.Targets of the node it is connected to
	user   string
	conn   atomic.Pointer[sioclient.Conn] // replaced on reconnect
	up     atomic.Bool
	since  time.Time    // when CONNECT was first answered
	downAt atomic.Int64 // unix ns the connection last ended; 0 = never
	upAt   atomic.Int64 // unix ns the current connection was answered CONNECT
}

// fleet opens and holds the connections. onEvent runs on each connection's
// reading goroutine.
type fleet struct {
	cfg      Config
	log      *slog.Logger
	runID    string
	clients  []*client
	byTarget [][]int32 // client ids per target, to pick receivers on another node
	onEvent  func(c *client, name, args []byte)
	onAck    func(c *client, id int64, args []byte) // answers to our own events (cmd); nil = ignored

	connected   atomic.Int64
	failed      atomic.Int64
	disconnects atomic.Int64 // connections that ended before we closed them
	live        atomic.Int64 // connections open right now (the timeline's count)
	reconnects  atomic.Int64 // successful reconnects after a drop
	// redialOn makes a dropped client connect again (reconnect scenario),
	// within redial; off = a drop is final. startRedial sets both.
	redial    context.Context
	redialOn  atomic.Bool
	lastUp    atomic.Int64 // unix ns of the latest successful reconnect
	firstOpen atomic.Int64 // unix ns of the ramp's first CONNECT answered
	lastOpen  atomic.Int64 // and of its last
	rooms     []string     // `rooms` claim of every token (room scenario)
	idBase    int          // first client id of this process (child processes)

	mu          sync.Mutex
	errs        map[string]int
	connectLat  []int64 // handshake times, µs
	dropReasons map[string]int
	dropped     []int32 // clients whose connection the server side ended
	gaps        []int64 // µs each client was without a connection, per drop it came back from
	closing     atomic.Bool
	wg          sync.WaitGroup
}

func newFleet(cfg Config, log *slog.Logger, runID string, onEvent func(*client, []byte, []byte)) *fleet {
	return newFleetRange(cfg, log, runID, onEvent, 0, cfg.Clients)
}

// newFleetRange holds clients lo..hi-1 of the run (a child process holds
// one slice; user names and targets follow the global index, so the slices
// of all children are the fleet one process would have held).
func newFleetRange(cfg Config, log *slog.Logger, runID string, onEvent func(*client, []byte, []byte), lo, hi int) *fleet {
	f := &fleet{cfg: cfg, log: log, runID: runID, onEvent: onEvent, idBase: lo,
		clients: make([]*client, hi-lo), byTarget: make([][]int32, len(cfg.Targets)),
		errs: map[string]int{}, dropReasons: map[string]int{}, connectLat: make([]int64, 0, hi-lo)}
	for i := range f.clients {
		g := lo + i
		t := g % len(cfg.Targets)
		f.clients[i] = &client{id: int32(i), target: t, user: userName(runID, g)}
		f.byTarget[t] = append(f.byTarget[t], int32(i))
	}
	return f
}

// userName is the user of client g (its index over the whole run).
func userName(runID string, g int) string { return "lt-" + runID + "-" + strconv.Itoa(g) }

// ramp opens every connection at most cfg.ConnectRate per second with at
// most cfg.ConnectConcurrency handshakes in flight, and returns once each
// has succeeded or failed (or ctx ends).
func (f *fleet) ramp(ctx context.Context) {
	secret := []byte(f.cfg.JWTSecret)
	urls := make([]string, len(f.cfg.Targets))
	for i, u := range f.cfg.Targets {
		urls[i] = wsURL(u)
	}
	sem := make(chan struct{}, f.cfg.ConnectConcurrency)
	var pending sync.WaitGroup
	start := time.Now()
	interval := time.Duration(float64(time.Second) / f.cfg.ConnectRate)
	lastLog := start
	for i, c := range f.clients {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			if sleep(ctx, d) != nil {
				break
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		pending.Add(1)
		go func() {
			defer func() { <-sem; pending.Done() }()
			f.connect(ctx, c, urls[c.target], secret)
		}()
		if time.Since(lastLog) > 2*time.Second {
			lastLog = time.Now()
			f.log.Info("ramping", "started", i+1, "connected", f.connected.Load(), "failed", f.failed.Load())
		}
	}
	pending.Wait()
	f.log.Info("ramp done", "connected", f.connected.Load(), "failed", f.failed.Load(), "took", time.Since(start).Round(time.Millisecond))
}

func (f *fleet) connect(ctx context.Context, c *client, url string, secret []byte) {
	t0 := time.Now()
	conn, err := f.dial(ctx, c, url, secret)
	if err != nil {
		f.fail(err)
		return
	}
	lat := time.Since(t0).Microseconds()
	c.since = time.Now()
	f.connected.Add(1)
	storeMin(&f.firstOpen, c.since.UnixNano())
	storeMax(&f.lastOpen, c.since.UnixNano())
	f.mu.Lock()
	f.connectLat = append(f.connectLat, lat)
	f.mu.Unlock()
	f.hold(c, conn)
}

// dial opens one client's connection: a token for its user, its source
// address, the handshake.
func (f *fleet) dial(ctx context.Context, c *client, url string, secret []byte) (*sioclient.Conn, error) {
	token, err := auth.Sign(secret, auth.Claims{Sub: c.user, Rooms: f.rooms})
	if err != nil {
		return nil, err
	}
	authJSON, _ := json.Marshal(map[string]string{"token": token, "device": "lt"})
	var local net.IP
	if n := f.cfg.SourceIPs; n > 0 && isLoopback(f.cfg.Targets[c.target].Hostname()) {
		// A child process takes its own block of source addresses, so the
		// children never compete for one address's ephemeral ports.
		local = net.IPv4(127, 0, 0, byte(1+f.cfg.ChildIndex*n+int(c.id)%n))
	}
	return sioclient.Dial(ctx, sioclient.Config{
		URL: url, Auth: authJSON, LocalIP: local, Timeout: f.cfg.ConnectTimeout,
		OnEvent: func(name, args []byte) { f.onEvent(c, name, args) },
		OnAck: func(id int64, args []byte) {
			if f.onAck != nil {
				f.onAck(c, id, args)
			}
		},
	})
}

// startRedial makes every drop from now on followed by reconnecting,
// within ctx.
func (f *fleet) startRedial(ctx context.Context) {
	f.redial = ctx
	f.redialOn.Store(true) // publishes f.redial to the readers that see it set
}

// dropAll closes every connection from the client side; they count as
// drops (and reconnect once startRedial was called).
func (f *fleet) dropAll() {
	for _, c := range f.clients {
		if conn := c.conn.Load(); conn != nil {
			conn.Close()
		}
	}
}

// hold reads conn until it ends; a drop the server caused is counted and,
// after startRedial, followed by reconnecting.
func (f *fleet) hold(c *client, conn *sioclient.Conn) {
	c.conn.Store(conn)
	now := time.Now().UnixNano()
	if down := c.downAt.Load(); down > 0 && down >= c.upAt.Load() {
		f.mu.Lock() // back after a drop: how long it was away
		f.gaps = append(f.gaps, (now-down)/1000)
		f.mu.Unlock()
	}
	c.upAt.Store(now)
	c.up.Store(true)
	f.live.Add(1)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		err := conn.Run()
		// Run returns on EOF without closing: the socket (one of the
		// process's 20,000 files) is ours to close, now, not whenever the
		// garbage collector finds it.
		conn.Close()
		c.up.Store(false)
		f.live.Add(-1)
		if f.closing.Load() {
			return
		}
		c.downAt.Store(time.Now().UnixNano())
		f.disconnects.Add(1)
		f.mu.Lock()
		f.dropReasons[errKey(err)]++
		f.dropped = append(f.dropped, c.id)
		f.mu.Unlock()
		if f.redialOn.Load() {
			f.wg.Add(1)
			go func() { defer f.wg.Done(); f.reconnect(f.redial, c) }()
			return
		}
		// Few, and each one matters for the audit: log them all, with what
		// tells a PING the server never sent from a PONG it never read.
		pings, last := conn.Pings()
		lastAge := time.Duration(0)
		if !last.IsZero() {
			lastAge = last.Sub(c.since).Round(time.Millisecond)
		}
		f.log.Info("connection ended by the server side", "user", c.user, "client", c.id, "target", f.cfg.Targets[c.target].Host,
			"local", conn.LocalAddr(), "age", time.Since(c.since).Round(time.Millisecond), "err", err,
			"pings_received", pings, "last_ping_at_age", lastAge)
	}()
}

func (f *fleet) fail(err error) {
	f.failed.Add(1)
	f.mu.Lock()
	f.errs[errKey(err)]++
	f.mu.Unlock()
}

// errKey groups errors for the result: the same failure on 3,000
// connections is one line with a count, not 3,000 lines.
func errKey(err error) string {
	var ce *sioclient.ConnectError
	var ne net.Error
	switch {
	case err == nil:
		return "none"
	case errors.As(err, &ce):
		return "connect_error " + string(ce.Data)
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, sioclient.ErrServerDisconnect):
		return "server disconnect"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return fmt.Sprintf("%s: %v", oe.Op, oe.Err)
	}
	return err.Error()
}

// pick returns a random connected client that is not on target avoid (when
// there is more than one target), or -1 when none is.
func (f *fleet) pick(avoid int, rnd func(int) int) int32 {
	n := len(f.byTarget)
	for range 16 {
		t := avoid
		if n > 1 {
			t = (avoid + 1 + rnd(n-1)) % n
		}
		ids := f.byTarget[t]
		if len(ids) == 0 {
			continue
		}
		if id := ids[rnd(len(ids))]; f.clients[id].up.Load() {
			return id
		}
	}
	for t, ids := range f.byTarget { // almost everyone is down: look properly
		if t == avoid && n > 1 {
			continue
		}
		for _, id := range ids {
			if f.clients[id].up.Load() {
				return id
			}
		}
	}
	return -1
}

// offline is every time a client was without a connection since it first
// connected (µs): the drops it came back from and, for a client away now,
// the time since its drop (away counts those); with redial off, nothing.
func (f *fleet) offline(now time.Time) (gaps []int64, away int64) {
	if !f.redialOn.Load() {
		return nil, 0
	}
	f.mu.Lock()
	gaps = append(gaps, f.gaps...)
	f.mu.Unlock()
	for _, c := range f.clients {
		if down := c.downAt.Load(); !c.up.Load() && down > 0 {
			gaps = append(gaps, max(0, now.UnixNano()-down)/1000)
			away++
		}
	}
	return gaps, away
}

// notUp is the clients without a connection now (indexes over the run).
func (f *fleet) notUp() []int32 {
	var out []int32
	for i, c := range f.clients {
		if !c.up.Load() {
			out = append(out, int32(f.idBase+i))
		}
	}
	return out
}

// rampOpen is the ramp's first and last CONNECT answered (unix ns; 0 = none).
func (f *fleet) rampOpen() (first, last int64) { return f.firstOpen.Load(), f.lastOpen.Load() }

// closeAll closes every connection and waits for their readers to end.
func (f *fleet) closeAll() {
	f.closing.Store(true)
	for _, c := range f.clients {
		if conn := c.conn.Load(); conn != nil {
			conn.Close()
		}
	}
	f.wg.Wait()
}

// storeMin lowers a to v when a is unset (0) or above v.
func storeMin(a *atomic.Int64, v int64) {
	for cur := a.Load(); cur == 0 || v < cur; cur = a.Load() {
		if a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// storeMax raises a to v when a is below v.
func storeMax(a *atomic.Int64, v int64) {
	for cur := a.Load(); v > cur; cur = a.Load() {
		if a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
