package trpc

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"testing"
	"time"

	"courier/router/testkit"
)

// testLog is testkit's Debug logger, silent in benchmarks (whose log is
// always printed).
func testLog(t testing.TB) *slog.Logger {
	if _, bench := t.(*testing.B); bench {
		return slog.New(slog.DiscardHandler)
	}
	return testkit.LoggerAt(t, slog.LevelDebug)
}

// echoHandlers answer {"echo": body, "user": trans_info["user"]}; Fail
// answers func_ret 7; Slow overruns its ctx.
func echoHandlers() map[string]Handler {
	return map[string]Handler{
		"/trpc.test.Echo/Say": func(ctx context.Context, r *ServerRequest) *ServerResponse {
			b, _ := json.Marshal(map[string]any{"echo": json.RawMessage(r.Body), "user": string(r.TransInfo["user"]), "timeout_ms": r.Timeout.Milliseconds()})
			return &ServerResponse{Body: b, TransInfo: map[string][]byte{"seen": []byte("yes")}}
		},
		"/trpc.test.Echo/Fail": func(ctx context.Context, r *ServerRequest) *ServerResponse {
			return &ServerResponse{FuncRet: 7, ErrorMsg: "no luck"}
		},
		"/trpc.test.Echo/Slow": func(ctx context.Context, r *ServerRequest) *ServerResponse {
			<-ctx.Done()
			time.Sleep(200 * time.Millisecond) // a backend that overruns its deadline
			return &ServerResponse{Body: []byte(`"late"`)}
		},
	}
}

func startServer(t testing.TB, handlers map[string]Handler) *Server {
	s, err := NewServer(ServerConfig{Listen: "127.0.0.1:0", Log: testLog(t)}, handlers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newTestPool(t testing.TB, cfg PoolConfig) *Pool {
	if cfg.Log == nil {
		cfg.Log = testLog(t)
	}
	p, err := NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func say(body string) *CallRequest {
	return &CallRequest{Callee: "trpc.test.Echo", Func: "/trpc.test.Echo/Say", Body: []byte(body), ContentType: ContentTypeJSON}
}

// freeAddr is an address nobody listens on (connection refused).
func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func (p *Pool) connCount(addr string) int {
	p.mu.Lock()
	t := p.targets[addr]
	p.mu.Unlock()
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

func (p *Pool) addrCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.targets)
}
