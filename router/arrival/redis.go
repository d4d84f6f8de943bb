package arrival

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"courier/router/mailbox"
	"courier/router/registry"
)

// NewRedis returns a Store whose Arrive and Enter are one pipeline each
// (on a Cluster, one per master, in parallel) over the Redis registry and
// mailbox, which must share client.
func NewRedis(client redis.UniversalClient, reg *registry.Redis, log *mailbox.Redis) Store {
	return &pipelined{client: client, reg: reg, log: log}
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
}

func (p *pipelined) Arrive(ctx context.Context, s registry.Session, maxRooms int, reads []Read) ([]string, []Result, error) {
	var rooms func() ([]string, error)
	got, err := p.run(ctx, reads, func(pipe redis.Pipeliner) { rooms = p.reg.QueueArrive(ctx, pipe, s, maxRooms) })
	if err != nil {
		return nil, got, err
	}
	r, err := rooms()
	return r, got, err
}

func (p *pipelined) Enter(ctx context.Context, s registry.Session, rooms []string, reads []Read) ([]Result, error) {
	return p.run(ctx, reads, func(pipe redis.Pipeliner) { p.reg.QueueEnter(ctx, pipe, s, rooms) })
}

// run sends the registry's commands (queued by register, first) and the
// reads in one pipeline and returns each read's result and the first
// registry error. If a server lacks a script (restarted, a new master),
// both stores' scripts are loaded and the batch is sent once more: every
// step in it is idempotent.
func (p *pipelined) run(ctx context.Context, reads []Read, register func(redis.Pipeliner)) ([]Result, error) {
	for attempt := 0; ; attempt++ {
		loads := p.loads.Load()
		pipe := p.client.Pipeline()
		register(pipe)
		regCmds := pipe.Len()
		readers := make([]func() ([]mailbox.Message, error), len(reads))
		for i, r := range reads {
			readers[i] = p.log.QueuePending(ctx, pipe, r.Stream, r.Device, r.After, r.Limit)
		}
		cmds, _ := pipe.Exec(ctx)
		if attempt == 0 && noScript(cmds) {
			if err := p.loadScripts(ctx, loads); err != nil {
				return failed(len(reads), err), unavailable(err)
			}
			continue
		}
		got := make([]Result, len(reads))
		for i, read := range readers {
			got[i].Msgs, got[i].Err = read()
		}
		for _, c := range cmds[:regCmds] {
			if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
				return got, unavailable(err)
			}
		}
		return got, nil
	}
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
