package redistest

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// CommandCalls reads INFO commandstats of the server at addr: calls per
// command, commands a Lua script runs included (Redis counts each as a call
// of its own), over a fresh connection of its own.
func CommandCalls(t testing.TB, addr string) map[string]int64 {
	t.Helper()
	c, err := dial(addr)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	defer c.close()
	info, err := c.do("INFO", "commandstats")
	if err != nil {
		t.Fatalf("redistest: INFO commandstats: %v", err)
	}
	calls := map[string]int64{}
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		for kv := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				calls[name], _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return calls
}

// RoundTrips is a go-redis hook (client.AddHook) that counts the requests
// a client sends, a pipeline once, leaving out what a new connection sends
// before its first request. Requests whose first command is named Apart
// are counted apart (a periodic probe, say).
type RoundTrips struct {
	Apart    string
	n, apart atomic.Int64
}

// Count is how many requests were sent since the last Reset.
func (r *RoundTrips) Count() int64 { return r.n.Load() }

// ApartCount is how many requests named Apart were sent since the last Reset.
func (r *RoundTrips) ApartCount() int64 { return r.apart.Load() }

// Reset starts counting again and returns the count so far.
func (r *RoundTrips) Reset() int64 { r.apart.Store(0); return r.n.Swap(0) }

func (r *RoundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *RoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.count(cmd); return next(ctx, cmd) }
}

func (r *RoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.count(cmds[0]); return next(ctx, cmds) }
}

func (r *RoundTrips) count(first redis.Cmder) {
	switch name := first.Name(); {
	case name == "hello" || name == "client":
	case name == r.Apart:
		r.apart.Add(1)
	default:
		r.n.Add(1)
	}
}
