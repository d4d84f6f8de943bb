package trpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	trpcpb "trpc.group/trpc/trpc-protocol/pb/go/trpc"
)

// target is the client of one backend address: up to MaxConnsPerAddr
// connections, grown while every one has calls in flight, and the address's
// breaker. Safe for concurrent use.
type target struct {
	addr    string
	cfg     *PoolConfig
	bufs    *sync.Pool
	pool    *Pool // its ctx and WaitGroup bound background dials
	log     *slog.Logger
	breaker *breaker

	lastUsed atomic.Int64 // unix nanos
	dialMu   sync.Mutex   // one dial at a time per address: no dial storms on reconnect

	mu      sync.Mutex
	conns   []*clientConn
	growing bool
	closed  error // why the target closed: ErrClosed or errEvicted
}

func newTarget(p *Pool, addr string) *target {
	return &target{
		addr: addr, cfg: &p.cfg, bufs: &p.bufs, pool: p,
		log:     p.log.With("addr", addr),
		breaker: newBreaker(p.cfg.Breaker, p.cfg.Now),
	}
}

func (t *target) touch()      { t.lastUsed.Store(time.Now().UnixNano()) }
func (t *target) used() int64 { return t.lastUsed.Load() }

func (t *target) call(ctx context.Context, req *CallRequest) (*CallResponse, error) {
	var (
		c   *clientConn
		id  uint32
		ch  chan result
		err error
	)
	for range 2 { // a conn that died since it was picked is retried once: nothing was sent on it
		if c, err = t.conn(ctx); err != nil {
			return nil, err
		}
		if id, ch, err = c.register(); err == nil || errors.Is(err, ErrOverloaded) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	var timeout time.Duration
	if ok {
		timeout = max(time.Until(deadline), time.Millisecond) // 0 would mean "no timeout" to the backend
	}
	bp, _ := t.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	frame, err := AppendRequest((*bp)[:0], t.newRequest(id, req, timeout), req.Body, t.cfg.MaxFrame)
	if err == nil {
		err = c.write(frame, deadline)
	}
	if cap(frame) <= 64<<10 { // a rare huge body must not stay pinned
		*bp = frame[:0]
		t.bufs.Put(bp)
	}
	if err != nil {
		c.forget(id)
		return nil, err
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		return answer(r.rsp, r.body)
	case <-ctx.Done():
		c.forget(id)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w after %v (%w)", ErrTimeout, timeout, ctx.Err())
		}
		return nil, ctx.Err()
	}
}

func answer(rsp *trpcpb.ResponseProtocol, body []byte) (*CallResponse, error) {
	out := &CallResponse{
		Ret: rsp.Ret, FuncRet: rsp.FuncRet, ErrorMsg: string(rsp.ErrorMsg),
		Body: body, ContentType: rsp.ContentType, TransInfo: rsp.TransInfo,
	}
	if rsp.Ret != 0 || rsp.FuncRet != 0 {
		return out, &Error{Ret: rsp.Ret, FuncRet: rsp.FuncRet, Msg: out.ErrorMsg}
	}
	return out, nil
}

func (t *target) newRequest(id uint32, req *CallRequest, timeout time.Duration) *trpcpb.RequestProtocol {
	return &trpcpb.RequestProtocol{
		Version:     headerVersion,
		CallType:    callTypeUnary,
		RequestId:   id,
		Timeout:     uint32(min(timeout.Milliseconds(), 1<<31)),
		Caller:      []byte(t.cfg.Caller),
		Callee:      []byte(req.Callee),
		Func:        []byte(req.Func),
		TransInfo:   req.TransInfo,
		ContentType: req.ContentType,
		MessageType: req.MessageType,
	}
}

// conn picks the least loaded live connection. While every connection has
// calls in flight and there is room, another is dialled in the background;
// only when there is none at all does the caller wait for a dial.
func (t *target) conn(ctx context.Context) (*clientConn, error) {
	if c := t.pick(true); c != nil {
		return c, nil
	}
	t.dialMu.Lock()
	defer t.dialMu.Unlock()
	if c := t.pick(false); c != nil { // another caller dialled meanwhile
		return c, nil
	}
	c, err := t.dial(ctx)
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: dial: %v (%w)", ErrTimeout, err, ctx.Err())
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: dial: %v", ErrUnavailable, err)
	}
	return c, nil
}

func (t *target) pick(grow bool) *clientConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	var best *clientConn
	bestLoad := -1
	for _, c := range t.conns {
		if l := c.load(); l >= 0 && (best == nil || l < bestLoad) {
			best, bestLoad = c, l
		}
	}
	if grow && best != nil && bestLoad > 0 && len(t.conns) < t.cfg.MaxConnsPerAddr && !t.growing && t.closed == nil {
		t.growing = true
		t.pool.wg.Add(1)
		go t.grow()
	}
	return best
}

func (t *target) grow() {
	defer t.pool.wg.Done()
	t.dialMu.Lock()
	defer t.dialMu.Unlock()
	ctx, cancel := context.WithTimeout(t.pool.ctx, t.cfg.DialTimeout)
	defer cancel()
	if _, err := t.dial(ctx); err != nil {
		t.log.Debug("extra connection failed", "err", err)
	}
	t.mu.Lock()
	t.growing = false
	t.mu.Unlock()
}

// dial opens and adds one connection; the caller holds dialMu.
func (t *target) dial(ctx context.Context) (*clientConn, error) {
	nc, err := dial(ctx, t.addr, t.cfg.DialTimeout)
	if err != nil {
		return nil, err
	}
	c := newClientConn(nc, t.cfg.MaxFrame, t.cfg.MaxPendingPerConn, t.log, t.remove)
	t.mu.Lock()
	if t.closed != nil {
		err := t.closed
		t.mu.Unlock()
		c.fail(err)
		return nil, err
	}
	t.conns = append(t.conns, c)
	t.mu.Unlock()
	t.log.Debug("connected", "conns", len(t.conns))
	return c, nil
}

// remove forgets a dead connection: the next call dials a new one.
func (t *target) remove(c *clientConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, x := range t.conns {
		if x == c {
			t.conns = append(t.conns[:i], t.conns[i+1:]...)
			return
		}
	}
}

func (t *target) busy() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.conns {
		if c.load() > 0 {
			return true
		}
	}
	return false
}

// closeIdle closes the connections unused since cutoff and returns how
// many are left.
func (t *target) closeIdle(cutoff int64) int {
	t.mu.Lock()
	var idle []*clientConn
	for _, c := range t.conns {
		if c.load() == 0 && c.lastUsed.Load() < cutoff {
			idle = append(idle, c)
		}
	}
	left := len(t.conns) - len(idle)
	t.mu.Unlock()
	for _, c := range idle { // outside t.mu: fail calls back into remove
		// A call that picked this conn in the instant before is told the
		// backend is unavailable (retryable), not that the pool closed.
		c.fail(fmt.Errorf("%w: idle connection closed", ErrUnavailable))
	}
	return left
}

// close fails the calls in flight with why and makes the target unusable.
func (t *target) close(why error) {
	t.mu.Lock()
	t.closed = why
	conns := append([]*clientConn(nil), t.conns...)
	t.mu.Unlock()
	for _, c := range conns {
		c.fail(why)
	}
}
