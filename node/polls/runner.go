package polls

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"courier/node/command"
	"courier/node/push"
)

// RunnerConfig configures a Runner. Zero Log, Now, Metrics and MaxScan take
// defaults; Node, Store, Caller and Push are required.
type RunnerConfig struct {
	Node   string // this node's id: the lease holder's name
	Store  Store
	Caller command.Caller
	// Push is the node's push (hub.Hub.Push): it validates and delivers.
	Push    func(ctx context.Context, req *push.Request) (push.Result, error)
	Log     *slog.Logger
	Now     func() time.Time // judges how long a lease is known to be ours
	Metrics Metrics
	// MaxScan bounds the time between two scans of the task list (default
	// 5s): how long a new task waits for its first run, at most.
	MaxScan time.Duration
	// StoreTimeout bounds each store call (default 5s).
	StoreTimeout time.Duration
}

// Validate reports a config NewRunner refuses.
func (c RunnerConfig) Validate() error {
	switch {
	case c.Node == "":
		return errors.New("polls: RunnerConfig.Node is required")
	case c.Store == nil:
		return errors.New("polls: RunnerConfig.Store is required")
	case c.Caller == nil:
		return errors.New("polls: RunnerConfig.Caller is required")
	case c.Push == nil:
		return errors.New("polls: RunnerConfig.Push is required")
	case c.MaxScan < 0 || c.StoreTimeout < 0:
		return errors.New("polls: negative MaxScan or StoreTimeout")
	}
	return nil
}

func (c RunnerConfig) withDefaults() RunnerConfig {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Metrics == nil {
		c.Metrics = NopMetrics{}
	}
	if c.MaxScan == 0 {
		c.MaxScan = 5 * time.Second
	}
	if c.StoreTimeout == 0 {
		c.StoreTimeout = 5 * time.Second
	}
	return c
}

// minScan keeps a store with tiny intervals (tests) from spinning.
const minScan = 10 * time.Millisecond

// Runner runs, on one node, the tasks whose lease this node holds. One
// goroutine scans: it lists the tasks, renews the leases it holds, tries to
// acquire the others, and stops what was deleted or lost; each held task
// has a goroutine of its own that calls, compares and pushes, so a slow
// backend never delays renewals. Start once, Stop once.
type Runner struct {
	cfg  RunnerConfig
	log  *slog.Logger
	stop context.CancelFunc
	done chan struct{}

	mu   sync.Mutex
	held map[string]*held
	wg   sync.WaitGroup // the held tasks' goroutines
}

// NewRunner checks cfg and makes a Runner; it does nothing until Start.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Runner{cfg: cfg, log: cfg.Log.With("component", "polls"), held: map[string]*held{}}, nil
}

// Start begins scanning in the background.
func (r *Runner) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.stop, r.done = cancel, make(chan struct{})
	go r.loop(ctx)
}

// Stop ends every task this node runs and releases their leases, so other
// nodes take them at their next scan rather than at expiry. It returns when
// everything stopped or ctx ended.
func (r *Runner) Stop(ctx context.Context) {
	for _, h := range r.halt(ctx) {
		rctx, cancel := context.WithTimeout(ctx, r.cfg.StoreTimeout)
		if err := r.cfg.Store.Release(rctx, h.name, r.cfg.Node, h.token); err != nil {
			r.log.Warn("releasing a poll lease failed; it expires instead", "task", h.name, "err", err)
		}
		cancel()
	}
}

// halt stops the scan and every held task without releasing anything (a
// crash looks like this to the store) and returns what was held.
func (r *Runner) halt(ctx context.Context) []*held {
	if r.stop == nil {
		return nil
	}
	r.stop()
	select {
	case <-r.done:
	case <-ctx.Done():
	}
	r.mu.Lock()
	hs := make([]*held, 0, len(r.held))
	for name, h := range r.held {
		h.cancel()
		hs = append(hs, h)
		delete(r.held, name)
	}
	r.mu.Unlock()
	waited := make(chan struct{})
	go func() { r.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
	}
	return hs
}

// Holding lists the tasks this node runs now.
func (r *Runner) Holding() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.held))
	for name := range r.held {
		out = append(out, name)
	}
	return out
}

func (r *Runner) loop(ctx context.Context) {
	defer close(r.done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(r.scan(ctx))
	}
}

// scan is one round: list, stop deleted, renew held, acquire free. It
// returns when to scan next: a quarter of the shortest interval, bounded.
func (r *Runner) scan(ctx context.Context) time.Duration {
	next := r.cfg.MaxScan
	sctx, cancel := context.WithTimeout(ctx, r.cfg.StoreTimeout)
	tasks, err := r.cfg.Store.List(sctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			r.cfg.Metrics.Failed("", "store")
			r.log.Warn("listing poll tasks failed", "err", err)
		}
		// Without the list, still renew what we hold: keep the leases alive.
		for _, h := range r.snapshot() {
			r.renew(ctx, h, *h.task.Load())
			next = min(next, scanPeriod(h.task.Load().Interval))
		}
		return max(next, minScan)
	}
	byName := make(map[string]bool, len(tasks))
	for _, t := range tasks {
		byName[t.Name] = true
	}
	for _, h := range r.snapshot() {
		if !byName[h.name] {
			r.drop(h, "deleted")
		}
	}
	for _, t := range tasks {
		if ctx.Err() != nil {
			return next
		}
		if t.Interval <= 0 {
			continue // not written through Validate: it would spin
		}
		next = min(next, scanPeriod(t.Interval))
		r.mu.Lock()
		h := r.held[t.Name]
		r.mu.Unlock()
		if h != nil {
			h.task.Store(&t) // a replaced task runs its new definition
			r.renew(ctx, h, t)
			continue
		}
		r.tryAcquire(ctx, t)
	}
	return max(next, minScan)
}

func (r *Runner) snapshot() []*held {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*held, 0, len(r.held))
	for _, h := range r.held {
		out = append(out, h)
	}
	return out
}

func (r *Runner) renew(ctx context.Context, h *held, t Task) {
	ttl := leaseTTL(t.Interval)
	sent := r.cfg.Now()
	sctx, cancel := context.WithTimeout(ctx, r.cfg.StoreTimeout)
	ok, err := r.cfg.Store.Renew(sctx, h.name, r.cfg.Node, h.token, ttl)
	cancel()
	switch {
	case err != nil:
		// Unknown: keep the task, but it stops calling once the lease may
		// have lapsed (validUntil), until a renewal answers either way.
		if ctx.Err() == nil {
			r.cfg.Metrics.Failed(h.name, "store")
			r.log.Warn("renewing a poll lease failed", "task", h.name, "err", err)
		}
	case !ok:
		r.drop(h, "lease")
	default:
		h.validUntil.Store(sent.Add(ttl).UnixNano())
	}
}

func (r *Runner) tryAcquire(ctx context.Context, t Task) {
	ttl := leaseTTL(t.Interval)
	sent := r.cfg.Now()
	sctx, cancel := context.WithTimeout(ctx, r.cfg.StoreTimeout)
	token, ok, err := r.cfg.Store.Acquire(sctx, t.Name, r.cfg.Node, ttl)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			r.cfg.Metrics.Failed(t.Name, "store")
			r.log.Warn("acquiring a poll task failed", "task", t.Name, "err", err)
		}
		return
	}
	if !ok {
		return
	}
	r.cfg.Metrics.Acquired(t.Name)
	r.log.Info("running poll task", "task", t.Name, "token", token, "interval", t.Interval)
	hctx, hcancel := context.WithCancel(ctx)
	h := &held{name: t.Name, token: token, cancel: hcancel}
	h.task.Store(&t)
	h.validUntil.Store(sent.Add(ttl).UnixNano())
	r.mu.Lock()
	r.held[t.Name] = h
	r.mu.Unlock()
	r.wg.Go(func() { r.run(hctx, h) })
}

// drop stops running h (if it is still the one held under its name): its
// lease was refused, its token fenced, or its task deleted. Nothing is
// released: the lease is gone or someone else's already.
func (r *Runner) drop(h *held, reason string) {
	r.mu.Lock()
	cur := r.held[h.name]
	if cur == h {
		delete(r.held, h.name)
	}
	r.mu.Unlock()
	if cur != h {
		return
	}
	h.cancel()
	r.cfg.Metrics.Lost(h.name, reason)
	r.log.Info("stopped running poll task", "task", h.name, "token", h.token, "reason", reason)
}
