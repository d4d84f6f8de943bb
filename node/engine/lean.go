package engine

import (
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// leanCore is the lean WebSocket engine under both the socket.io server
// (leanSIO) and the raw Engine.IO server (EngineIO on leanRaw, lean_raw.go): upgrades on the
// hijacked net/http connection with gobwas/ws, readiness from epoll, writes
// from a small pool, heartbeats on one timer wheel.
type leanCore struct {
	cfg     Config
	log     *slog.Logger
	wheel   *wheel
	poll    poller // nil: a goroutine reads each connection
	writers chan *wconn
	stop    chan struct{}
	sys     syscallCounts
	wg      sync.WaitGroup

	mu     sync.Mutex
	conns  map[*wconn]struct{}
	closed atomic.Bool
	count  atomic.Int64
}

// upgradeTimeout bounds writing the 101 answer; reading the request is
// bounded by the http.Server's ReadHeaderTimeout.
const upgradeTimeout = 5 * time.Second

func newLeanCore(cfg Config, log *slog.Logger) *leanCore {
	workers := runtime.GOMAXPROCS(0)
	core := &leanCore{
		cfg:     cfg,
		log:     log,
		wheel:   newWheel(min(cfg.PingInterval, cfg.PingTimeout)),
		writers: make(chan *wconn, 4096),
		stop:    make(chan struct{}),
		conns:   make(map[*wconn]struct{}),
	}
	if p, err := newPoller(workers, log, &core.sys); err == nil {
		core.poll = p
	} else {
		log.Info("lean engine reads with a goroutine per connection", "why", err)
	}
	for range workers {
		core.wg.Add(1)
		go core.write()
	}
	return core
}

func (core *leanCore) write() {
	defer core.wg.Done()
	for {
		select {
		case c := <-core.writers:
			c.flush()
		case <-core.stop:
			return
		}
	}
}

// schedule hands c's queue to the writer pool; when the pool is saturated
// the caller writes (non-blocking) itself rather than wait.
func (core *leanCore) schedule(c *wconn) {
	select {
	case core.writers <- c:
	default:
		c.flush()
	}
}

// accept upgrades a direct WebSocket request and starts its session; mk
// builds what rides on it (socket.io or raw Engine.IO) from the request.
// It answers 400 like the Engine.IO servers for a bad EIO or transport.
func (core *leanCore) accept(w http.ResponseWriter, r *http.Request, mk func(*wconn, *http.Request) upper) {
	q := r.URL.Query()
	switch {
	case core.closed.Load():
		writeCodeMessage(w, http.StatusServiceUnavailable, 5, "Server closing")
		return
	case q.Get("EIO") != "4":
		writeCodeMessage(w, http.StatusBadRequest, 5, "Unsupported protocol version")
		return
	case q.Get("transport") != "websocket":
		writeCodeMessage(w, http.StatusBadRequest, 0, "Transport unknown")
		return
	}
	nc, rw, _, err := ws.HTTPUpgrader{Timeout: upgradeTimeout}.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			_ = nc.Close()
		}
		return
	}
	// Nothing of net/http is kept: bytes a client pipelined behind its
	// request are copied out of the hijacked reader, which is then dropped.
	var early []byte
	if n := rw.Reader.Buffered(); n > 0 {
		b, _ := rw.Reader.Peek(n)
		early = append([]byte(nil), b...)
	}
	core.start(nc, early, r, mk)
}

func (core *leanCore) start(nc net.Conn, early []byte, r *http.Request, mk func(*wconn, *http.Request) upper) {
	c := newWconn(core, nc)
	c.sid = newSID()
	c.up = mk(c, r)
	core.mu.Lock()
	if core.closed.Load() {
		core.mu.Unlock()
		_ = nc.Close()
		return
	}
	core.conns[c] = struct{}{}
	core.mu.Unlock()
	core.count.Add(1)

	c.mu.Lock()
	res := c.enqueueLocked(ws.OpText, nil, core.openPacket(c.sid), nil)
	c.core.wheel.set(&c.hb, core.cfg.PingInterval)
	c.mu.Unlock()
	c.after(res)
	if len(early) > 0 {
		c.readMu.Lock()
		c.consume(early)
		c.readMu.Unlock()
	}
	if c.isClosed() {
		return
	}
	if core.poll != nil && c.rc != nil {
		c.mu.Lock()
		c.polled = true
		c.mu.Unlock()
		if err := core.poll.add(c); err == nil {
			if c.isClosed() {
				core.poll.remove(c) // closed while being added
			}
			return
		}
		c.mu.Lock()
		c.polled = false
		c.mu.Unlock()
	}
	go c.readLoop()
}

func (core *leanCore) openPacket(sid string) []byte {
	b := make([]byte, 0, 96)
	b = append(b, `0{"sid":"`...)
	b = append(b, sid...)
	b = append(b, `","upgrades":[],"pingInterval":`...)
	b = strconv.AppendInt(b, core.cfg.PingInterval.Milliseconds(), 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, core.cfg.PingTimeout.Milliseconds(), 10)
	b = append(b, `,"maxPayload":`...)
	b = strconv.AppendInt(b, core.cfg.MaxPayload, 10)
	return append(b, '}')
}

// forget drops a closed connection.
func (core *leanCore) forget(c *wconn) {
	core.mu.Lock()
	_, ok := core.conns[c]
	delete(core.conns, c)
	core.mu.Unlock()
	if ok {
		core.count.Add(-1)
	}
}

// close refuses new connections, closes every one ("server shutting down")
// and stops the engine's goroutines.
func (core *leanCore) close() {
	if !core.closed.CompareAndSwap(false, true) {
		return
	}
	core.mu.Lock()
	cs := make([]*wconn, 0, len(core.conns))
	for c := range core.conns {
		cs = append(cs, c)
	}
	core.mu.Unlock()
	for _, c := range cs {
		c.close(reasonShutdown, ws.StatusGoingAway)
	}
	close(core.stop)
	core.wg.Wait()
	// queues handed to the pool after it stopped: write what can be written
	for {
		select {
		case c := <-core.writers:
			c.flush()
			continue
		default:
		}
		break
	}
	if core.poll != nil {
		core.poll.close()
	}
	core.wheel.close()
}

// newSID makes a session or socket id: 120 random bits, URL-safe.
func newSID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
