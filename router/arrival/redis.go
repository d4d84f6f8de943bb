package arrival

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"courier/router/batch"
	"courier/router/mailbox"
	"courier/router/registry"
)

// NewRedis returns a Store whose Arrive and Enter are one pipeline each
// (on a Cluster, one per master, in parallel) over the Redis registry and
// mailbox, which must share client; arrivals under way together share
// their pipelines (batch.go).
func NewRedis(client redis.UniversalClient, reg *registry.Redis, log *mailbox.Redis) Store {
	p := &pipelined{client: client, reg: reg, log: log}
	p.batch = batch.New(maxBatch, maxFlushers, func(jobs []*job) {
		p.send(jobs)
		for _, j := range jobs {
			close(j.done)
		}
	})
	return p
}

type pipelined struct {
	client redis.UniversalClient
	reg    *registry.Redis
	log    *mailbox.Redis

	// loading makes the scripts load once for all the arrivals that met
	// NOSCRIPT together (a node's first connect storm, a restarted Redis):
	// loads is how many loads finished, so a waiter whose batch failed
	// before the last one finished retries without loading again.
	loading sync.Mutex
	loads   atomic.Uint64

	batch *batch.Queue[*job]
}

func (p *pipelined) Arrive(ctx context.Context, s registry.Session, maxRooms int, reads []Read) (registry.Arrived, []Result, error) {
	var arrived func() (registry.Arrived, error)
	got, err := p.run(ctx, reads, func(pipe redis.Pipeliner) { arrived = p.reg.QueueArrive(ctx, pipe, s, maxRooms) })
	if err != nil {
		return registry.Arrived{}, got, err
	}
	a, err := arrived()
	return a, got, err
}

func (p *pipelined) Enter(ctx context.Context, s registry.Session, rooms []string, reads []Read) ([]Result, error) {
	return p.run(ctx, reads, func(pipe redis.Pipeliner) { p.reg.QueueEnter(ctx, pipe, s, rooms) })
}

// run sends an arrival's registry commands (queued by register) and reads
// in the next batch, and returns each read's result and the first registry
// error.
func (p *pipelined) run(ctx context.Context, reads []Read, register func(redis.Pipeliner)) ([]Result, error) {
	return p.do(ctx, &job{register: register, reads: reads})
}

// loadScripts loads both stores' scripts, unless a load finished since
// seen (the count of loads when the caller's batch was sent).
func (p *pipelined) loadScripts(ctx context.Context, seen uint64) error {
	p.loading.Lock()
	defer p.loading.Unlock()
	if p.loads.Load() != seen {
		return nil
	}
	if err := p.reg.LoadScripts(ctx); err != nil {
		return err
	}
	if err := p.log.LoadScripts(ctx); err != nil {
		return err
	}
	p.loads.Add(1)
	return nil
}

func noScript(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if err := c.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			return true
		}
	}
	return false
}

func failed(n int, err error) []Result {
	got := make([]Result, n)
	for i := range got {
		got[i].Err = fmt.Errorf("%w: %w", mailbox.ErrUnavailable, err)
	}
	return got
}

func unavailable(err error) error { return fmt.Errorf("%w: %w", registry.ErrUnavailable, err) }
