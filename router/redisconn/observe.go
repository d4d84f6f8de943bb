package redisconn

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Observer receives the duration of every store call (a command, or a
// pipeline as one call named after its first command) and the kind of each
// failure: "timeout", "unreachable", "script" or "other". A missing key
// (redis.Nil) is an answer, not an error. Implementations must be cheap.
type Observer interface {
	Observed(op string, took time.Duration, errKind string)
}

// Observe adds a hook that reports client's calls to o.
func Observe(client redis.UniversalClient, o Observer) {
	client.AddHook(observer{o})
}

type observer struct{ o Observer }

func (observer) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h observer) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		h.o.Observed(opName(cmd), time.Since(start), errKind(err))
		return err
	}
}

func (h observer) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		op := "pipeline"
		if len(cmds) > 0 {
			op = "pipeline:" + opName(cmds[0])
		}
		h.o.Observed(op, time.Since(start), errKind(err))
		return err
	}
}

// opName is the command's name, lower case; every script call is "script"
// (a sha says nothing to an operator).
func opName(cmd redis.Cmder) string {
	name := strings.ToLower(cmd.Name())
	if name == "evalsha" || name == "eval" || name == "evalsha_ro" || name == "eval_ro" {
		return "script"
	}
	return name
}

func errKind(err error) string {
	var ne net.Error
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		return ""
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout"
	case errors.As(err, new(*net.OpError)) || errors.Is(err, redis.ErrClosed) || strings.Contains(err.Error(), "connection refused"):
		return "unreachable"
	case strings.HasPrefix(err.Error(), "NOSCRIPT") || strings.HasPrefix(err.Error(), "ERR Error running script"):
		return "script"
	}
	return "other"
}
