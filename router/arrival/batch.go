package arrival

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"courier/router/mailbox"
)

// In a connect storm thousands of arrivals are under way at once. Sent one
// pipeline each, they cost a round trip, two syscalls on each side and a
// pooled connection apiece, and queue on the pool; gathered (router/batch),
// the arrivals that came while a batch was in flight go together in the
// next one (as the node's acknowledgements do). A lone arrival is sent at
// once.
const (
	// maxBatch bounds the arrivals of one pipeline, so one batch cannot
	// hold the others back for long.
	maxBatch = 256
	// maxFlushers is how many batches may be in flight at once.
	maxFlushers = 4
	// batchTimeout bounds one batch's round trip; each arrival still
	// waits no longer than its own context.
	batchTimeout = 5 * time.Second
)

// job is one arrival's share of a batch.
type job struct {
	register func(redis.Pipeliner) // queues the registry's commands
	reads    []Read
	done     chan struct{} // closed once got and err are set
	got      []Result
	err      error // the registry's
}

// do sends j in the next batch and waits for it, or for ctx.
func (p *pipelined) do(ctx context.Context, j *job) ([]Result, error) {
	if err := ctx.Err(); err != nil {
		return failed(len(j.reads), err), unavailable(err)
	}
	j.done = make(chan struct{})
	p.batch.Add(j)
	select {
	case <-j.done:
		return j.got, j.err
	case <-ctx.Done():
		err := ctx.Err()
		return failed(len(j.reads), err), unavailable(err)
	}
}

// send runs jobs in one pipeline: each job's registry commands, then its
// reads. If a server lacks a script (restarted, a new master), both
// stores' scripts are loaded and the batch is sent once more: every step
// in it is idempotent.
func (p *pipelined) send(jobs []*job) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		loads := p.loads.Load()
		pipe := p.client.Pipeline()
		regs := make([][2]int, len(jobs)) // each job's registry commands: [from, to)
		readers := make([][]func() ([]mailbox.Message, error), len(jobs))
		for i, j := range jobs {
			regs[i][0] = pipe.Len()
			j.register(pipe)
			regs[i][1] = pipe.Len()
			readers[i] = make([]func() ([]mailbox.Message, error), len(j.reads))
			for k, r := range j.reads {
				readers[i][k] = p.log.QueuePending(ctx, pipe, r.Stream, r.Device, r.After, r.Limit)
			}
		}
		cmds, _ := pipe.Exec(ctx)
		if attempt == 0 && noScript(cmds) {
			if err := p.loadScripts(ctx, loads); err != nil {
				for _, j := range jobs {
					j.got, j.err = failed(len(j.reads), err), unavailable(err)
				}
				return
			}
			continue
		}
		for i, j := range jobs {
			j.got = make([]Result, len(j.reads))
			for k, read := range readers[i] {
				j.got[k].Msgs, j.got[k].Err = read()
			}
			for _, c := range cmds[regs[i][0]:regs[i][1]] {
				if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
					j.err = unavailable(err)
					break
				}
			}
		}
		return
	}
}
