package trpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// PoolConfig configures a Pool; the zero value is usable.
type PoolConfig struct {
	MaxConnsPerAddr   int           // long-lived connections per address; default 4
	MaxPendingPerConn int           // calls in flight per connection; default 1024
	MaxAddrs          int           // addresses remembered at once; default 1024
	IdleTimeout       time.Duration // a connection with no call for this long is closed; default 60s
	DialTimeout       time.Duration // default 1s
	CallTimeout       time.Duration // when neither the request nor ctx sets one; default 5s
	MaxFrame          int           // default DefaultMaxFrame (10 MiB)
	Caller            string        // the caller service name sent with each request
	Breaker           BreakerConfig
	Log               *slog.Logger

	// Now is the clock of the breakers; tests replace it.
	Now func() time.Time
}

// Validate reports a configuration that cannot work.
func (c PoolConfig) Validate() error {
	if c.MaxConnsPerAddr < 0 || c.MaxPendingPerConn < 0 || c.MaxAddrs < 0 || c.MaxFrame < 0 {
		return errors.New("trpc: negative pool limit")
	}
	if c.IdleTimeout < 0 || c.DialTimeout < 0 || c.CallTimeout < 0 {
		return errors.New("trpc: negative pool duration")
	}
	return nil
}

func (c *PoolConfig) defaults() {
	if c.MaxConnsPerAddr == 0 {
		c.MaxConnsPerAddr = 4
	}
	if c.MaxPendingPerConn == 0 {
		c.MaxPendingPerConn = 1024
	}
	if c.MaxAddrs == 0 {
		c.MaxAddrs = 1024
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = time.Second
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 5 * time.Second
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Breaker.defaults()
}

// CallRequest is one unary call. Callee is the service name
// ("trpc.app.server.Service"), Func the method ("/trpc.app.server.Service/Method").
type CallRequest struct {
	Callee      string
	Func        string
	Body        []byte
	ContentType uint32 // ContentTypeJSON for the command channel
	TransInfo   map[string][]byte
	Timeout     time.Duration // <= 0: ctx's deadline, else PoolConfig.CallTimeout
	MessageType uint32        // bits of tRPC's TrpcMessageType, e.g. MessageTypeDyeing
}

// MessageTypeDyeing is tRPC's dyeing bit (TRPC_DYEING_MESSAGE): tRPC-Go
// treats the call as dyed and passes trans_info's trpc-dyeing-key on.
const MessageTypeDyeing = 0x01

// CallResponse is the backend's answer.
type CallResponse struct {
	Ret         int32 // framework code, 0 = ok
	FuncRet     int32 // the backend's own code, 0 = ok
	ErrorMsg    string
	Body        []byte
	ContentType uint32
	TransInfo   map[string][]byte
}

// Pool holds the clients of every backend address: a few long-lived,
// multiplexed connections each, a circuit breaker each. Addresses nobody
// calls are forgotten (idle eviction, and the least recently used beyond
// MaxAddrs), so a client is never made per call and never kept forever.
// Safe for concurrent use.
type Pool struct {
	cfg    PoolConfig
	log    *slog.Logger
	stop   chan struct{}
	ctx    context.Context // ends at Close: background dials give up
	cancel context.CancelFunc
	wg     sync.WaitGroup // the sweeper and background dials

	mu      sync.Mutex
	targets map[string]*target
	closed  bool

	bufs sync.Pool // *[]byte frame buffers for encoding
}

// NewPool starts a pool and its idle sweeper; Close stops both.
func NewPool(cfg PoolConfig) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	p := &Pool{cfg: cfg, log: cfg.Log.With("component", "trpc.pool"), stop: make(chan struct{}), targets: make(map[string]*target)}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.sweepLoop()
	return p, nil
}

// Call sends req to addr and waits for the answer, at most the call's
// timeout. A backend's error answer (Ret or FuncRet not 0) returns both the
// response and an *Error; other failures wrap ErrTimeout, ErrUnavailable,
// ErrBreakerOpen, ErrOverloaded or ErrClosed.
func (p *Pool) Call(ctx context.Context, addr string, req *CallRequest) (*CallResponse, error) {
	timeout := req.Timeout
	if _, ok := ctx.Deadline(); !ok && timeout <= 0 {
		timeout = p.cfg.CallTimeout
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var (
		rsp *CallResponse
		err error
		t   *target
	)
	for range 2 { // an address evicted under our feet is looked up again
		if t, err = p.target(addr); err != nil {
			return nil, err
		}
		if !t.breaker.allow() {
			return nil, fmt.Errorf("%w: %s", ErrBreakerOpen, addr)
		}
		if rsp, err = t.call(ctx, req); !errors.Is(err, errEvicted) {
			break
		}
		t.breaker.release()
	}
	switch {
	case err == nil, errors.As(err, new(*Error)):
		t.breaker.done(true)
	case errors.Is(err, ErrTimeout), errors.Is(err, ErrUnavailable):
		t.breaker.done(false)
	default: // the caller gave up, or a local limit: nothing learnt about the backend
		t.breaker.release()
	}
	if err != nil {
		return rsp, fmt.Errorf("trpc: %s %s: %w", addr, req.Func, err)
	}
	return rsp, nil
}

// target returns addr's client, making it on first use.
func (p *Pool) target(addr string) (*target, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	t := p.targets[addr]
	if t == nil {
		if len(p.targets) >= p.cfg.MaxAddrs {
			p.evictLRU()
		}
		t = newTarget(p, addr)
		p.targets[addr] = t
	}
	t.touch()
	return t, nil
}

// evictLRU drops the least recently used address with no call in flight;
// when every one is busy the map grows past MaxAddrs until the next sweep.
func (p *Pool) evictLRU() {
	var victim *target
	for _, t := range p.targets {
		if t.busy() {
			continue
		}
		if victim == nil || t.used() < victim.used() {
			victim = t
		}
	}
	if victim != nil {
		delete(p.targets, victim.addr)
		victim.close(errEvicted)
	}
}

func (p *Pool) sweepLoop() {
	defer p.wg.Done()
	tick := time.NewTicker(max(p.cfg.IdleTimeout/2, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			p.sweep()
		}
	}
}

// sweep closes idle connections and forgets addresses left with none and a
// calm breaker (an open breaker must be remembered, or it would reset).
func (p *Pool) sweep() {
	cutoff := time.Now().Add(-p.cfg.IdleTimeout).UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, t := range p.targets {
		if t.closeIdle(cutoff) == 0 && t.used() < cutoff && t.breaker.idle() {
			delete(p.targets, addr)
			t.close(errEvicted)
		}
	}
}

// Close fails the calls in flight with ErrClosed and closes every
// connection. Idempotent.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	targets := p.targets
	p.targets = nil
	p.mu.Unlock()
	close(p.stop)
	p.cancel()
	for _, t := range targets {
		t.close(ErrClosed)
	}
	p.wg.Wait()
	return nil
}

func dial(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true) // small request/answer frames: latency first
	}
	return nc, nil
}
