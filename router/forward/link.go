package forward

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// link is the outgoing connection to one peer: a queue that Send appends to
// and one writer goroutine (run) that owns the connection.
type link struct {
	ls     *Links
	peer   string
	log    *slog.Logger
	ctx    context.Context // done when the link is stopped
	cancel context.CancelFunc
	wake   chan struct{} // capacity 1: "the queue is not empty"

	mu      sync.Mutex
	addr    string
	queue   []Envelope
	n       int // envelopes queued or held by the writer: what QueueLimit bounds
	bytes   int // their approximate size: what QueueBytes bounds
	state   State
	stopped bool

	// Owned by the writer goroutine.
	enc  *batchEncoder
	base []Envelope // backing array of held, swapped with queue when drained
	held []Envelope // taken from queue, not yet written
}

func newLink(ls *Links, peer, addr string) *link {
	ctx, cancel := context.WithCancel(context.Background())
	return &link{
		ls: ls, peer: peer, addr: addr, ctx: ctx, cancel: cancel,
		log:   ls.log.With("peer", peer),
		wake:  make(chan struct{}, 1),
		state: StateConnecting,
		enc:   newBatchEncoder(),
	}
}

func (lk *link) enqueue(env Envelope, size int, addr string) bool {
	lk.mu.Lock()
	if addr != "" {
		lk.addr = addr
	}
	if lk.stopped {
		lk.mu.Unlock()
		lk.ls.droppedDown.Add(1)
		return false
	}
	cfg := &lk.ls.cfg
	if lk.n >= cfg.QueueLimit || lk.bytes+size > cfg.QueueBytes {
		up := lk.state == StateUp
		lk.mu.Unlock()
		if up {
			lk.ls.droppedFull.Add(1)
		} else {
			lk.ls.droppedDown.Add(1)
		}
		return false
	}
	lk.queue = append(lk.queue, env)
	lk.n++
	lk.bytes += size
	lk.mu.Unlock()
	select {
	case lk.wake <- struct{}{}:
	default:
	}
	return true
}

func (lk *link) stop() {
	lk.mu.Lock()
	lk.stopped = true
	lk.mu.Unlock()
	lk.cancel()
}

func (lk *link) setState(s State) {
	lk.mu.Lock()
	lk.state = s
	lk.mu.Unlock()
}

// run dials, serves and redials until the link is stopped. Envelopes stay
// queued while the link is down (bounded by the queue), so a short outage
// costs latency; a long one fills the queue and Send starts dropping.
func (lk *link) run() {
	defer lk.ls.wg.Done()
	cfg := &lk.ls.cfg
	attempt, everUp := 0, false
	for lk.ctx.Err() == nil {
		if attempt > 0 && !lk.sleep(backoff(cfg, attempt-1)) {
			break
		}
		c, br, err := lk.dial()
		if err != nil {
			if lk.ctx.Err() != nil {
				break
			}
			lk.ls.dialErrors.Add(1)
			lk.down(err)
			attempt++
			continue
		}
		if everUp {
			lk.ls.reconnects.Add(1)
		}
		everUp = true
		lk.setState(StateUp)
		lk.log.Info("peer link up", "addr", c.RemoteAddr().String())
		upAt := time.Now()
		err = lk.serve(c, br)
		if lk.ctx.Err() != nil {
			break
		}
		lk.down(err)
		// A link that held for a while is redialed at once; one that keeps
		// failing right after the handshake backs off like a failed dial.
		if time.Since(upAt) >= cfg.BackoffMax {
			attempt = 0
		} else {
			attempt++
		}
	}
	lk.setState(StateDown)
	lk.mu.Lock()
	dropped := lk.n
	lk.queue, lk.n, lk.bytes = nil, 0, 0
	lk.mu.Unlock()
	lk.ls.droppedDown.Add(uint64(dropped))
}

// down marks the link down and logs once per outage, not once per redial.
func (lk *link) down(err error) {
	lk.mu.Lock()
	was := lk.state
	lk.state = StateDown
	lk.mu.Unlock()
	if was != StateDown {
		lk.log.Warn("peer link down", "err", err)
	} else {
		lk.log.Debug("peer link redial failed", "err", err)
	}
}

func (lk *link) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-lk.ctx.Done():
		return false
	}
}

// backoff is exponential from BackoffMin to BackoffMax, drawn uniformly from
// its upper half so that nodes that lost the same peer do not redial in step.
func backoff(cfg *LinksConfig, attempt int) time.Duration {
	d := cfg.BackoffMin
	for i := 0; i < attempt && d < cfg.BackoffMax; i++ {
		d *= 2 // doubling up to the cap, rather than a shift that could overflow
	}
	d = min(d, cfg.BackoffMax)
	return d/2 + rand.N(d/2+1)
}

func (lk *link) dial() (net.Conn, *bufio.Reader, error) {
	cfg := &lk.ls.cfg
	lk.mu.Lock()
	addr := lk.addr
	lk.mu.Unlock()
	d := ws.Dialer{
		Timeout: cfg.DialTimeout,
		NetDial: cfg.NetDial,
		Header:  ws.HandshakeHeaderHTTP(authHeader(cfg.Secret, cfg.NodeID, cfg.Now())),
	}
	c, br, _, err := d.Dial(lk.ctx, "ws://"+addr+linkPath)
	return c, br, err
}

// serve writes batches on c until it fails or the link stops. Whatever it
// held but could not write stays in lk.held and goes first on the next
// connection, so a reconnect neither loses nor reorders envelopes (though
// the peer may get a batch twice if the failure hid a successful write;
// clients de-duplicate by message id).
func (lk *link) serve(c net.Conn, br *bufio.Reader) error {
	cfg := &lk.ls.cfg
	readDone := make(chan struct{})
	var readErr error
	go func() {
		readErr = lk.readLoop(c, br)
		close(readDone)
	}()
	// Stopping must not wait for a write stuck on a peer that stopped
	// reading (up to WriteTimeout): closing the connection ends it.
	unwatch := context.AfterFunc(lk.ctx, func() { c.Close() })
	defer func() {
		unwatch()
		c.Close()
		<-readDone
	}()
	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	var pingFrame [ws.MaxHeaderSize]byte
	for {
		if err := lk.flush(c); err != nil {
			return err
		}
		select {
		case <-lk.wake:
		case <-ping.C:
			_ = c.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
			if err := writeFrame(c, pingFrame[:], ws.OpPing, true); err != nil {
				return err
			}
		case <-readDone:
			return readErr
		case <-lk.ctx.Done():
			return lk.ctx.Err()
		}
	}
}

// flush writes everything queued, in frames of up to BatchMax/BatchBytes.
func (lk *link) flush(c net.Conn) error {
	cfg := &lk.ls.cfg
	for {
		if len(lk.held) == 0 {
			lk.mu.Lock()
			// Swap buffers: Send appends to the drained array while we
			// write the one it filled, so neither side allocates.
			lk.base, lk.queue = lk.queue, lk.base[:0]
			lk.mu.Unlock()
			lk.held = lk.base
			if len(lk.held) == 0 {
				lk.enc.shrink(4*cfg.BatchBytes + cfg.MaxEnvelope)
				return nil
			}
		}
		n, err := lk.enc.encode(lk.held, cfg.BatchMax, cfg.BatchBytes)
		if err != nil {
			return err
		}
		_ = c.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
		if err := writeFrame(c, lk.enc.frame(), ws.OpBinary, true); err != nil {
			return err
		}
		size := 0
		for i := range lk.held[:n] {
			size += lk.held[i].size()
		}
		clear(lk.held[:n]) // let the GC have the payloads
		lk.held = lk.held[n:]
		lk.mu.Lock()
		lk.n -= n
		lk.bytes -= size
		lk.mu.Unlock()
		lk.ls.sentFrames.Add(1)
		lk.ls.sentEnvelopes.Add(uint64(n))
	}
}

// readLoop reads what the server sends back (pongs, a close) and fails when
// nothing came for ReadTimeout: that is how a dead TCP connection, which
// writes alone may not notice for minutes, is found.
func (lk *link) readLoop(c net.Conn, br *bufio.Reader) error {
	if br == nil {
		br = bufio.NewReaderSize(c, 256)
	}
	fr := &frameReader{br: br, max: maxControl}
	for {
		_ = c.SetReadDeadline(time.Now().Add(lk.ls.cfg.ReadTimeout))
		h, _, err := fr.next()
		if err != nil {
			return err
		}
		if h.OpCode == ws.OpClose {
			return errors.New("closed by peer")
		}
	}
}
