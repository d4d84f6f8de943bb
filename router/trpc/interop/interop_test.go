package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	ctrpc "courier/router/trpc"

	trpcgo "trpc.group/trpc-go/trpc-go"
	"trpc.group/trpc-go/trpc-go/errs"
)

func TestMain(m *testing.M) {
	QuietLogs()
	os.Exit(m.Run())
}

const (
	echoService = "trpc.app.echo.Echo"
	echoSay     = "/trpc.app.echo.Echo/Say"
)

// echoServer is a real tRPC-Go server: Say answers {"echo": data, "user":
// trans_info["user"], "deadline_ms": what the request's timeout left};
// Fail answers func_ret 7; Busy a framework error (ret 22, overload); Slow
// answers after 300 ms.
func echoServer(t *testing.T) string {
	return StartJSONServer(t, echoService, map[string]JSONMethod{
		echoSay: func(ctx context.Context, req any) (any, error) {
			out := map[string]any{"echo": req, "user": string(trpcgo.GetMetaData(ctx, "user"))}
			if d, ok := ctx.Deadline(); ok {
				out["deadline_ms"] = time.Until(d).Milliseconds()
			}
			return out, nil
		},
		"/trpc.app.echo.Echo/Fail": func(ctx context.Context, req any) (any, error) {
			return nil, errs.New(7, "no luck")
		},
		"/trpc.app.echo.Echo/Busy": func(ctx context.Context, req any) (any, error) {
			return nil, errs.NewFrameError(errs.RetServerOverload, "busy")
		},
		"/trpc.app.echo.Echo/Slow": func(ctx context.Context, req any) (any, error) {
			time.Sleep(300 * time.Millisecond)
			return "slow", nil
		},
	})
}

func newPool(t *testing.T, cfg ctrpc.PoolConfig) *ctrpc.Pool {
	p, err := ctrpc.NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func call(fn string, body string) *ctrpc.CallRequest {
	return &ctrpc.CallRequest{
		Callee: echoService, Func: fn, Body: []byte(body), ContentType: ctrpc.ContentTypeJSON,
		TransInfo: map[string][]byte{"user": []byte("u42"), "trace": []byte("t-1")},
		Timeout:   3 * time.Second,
	}
}

// Our Pool calls a real tRPC-Go server: JSON body both ways, trans_info in,
// the timeout field honoured.
func TestPoolCallsRealServer(t *testing.T) {
	addr := echoServer(t)
	p := newPool(t, ctrpc.PoolConfig{Caller: "trpc.courier.node.Command"})
	rsp, err := p.Call(context.Background(), addr, call(echoSay, `{"hello":"world","n":[1,2]}`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Echo       map[string]any `json:"echo"`
		User       string         `json:"user"`
		DeadlineMS int64          `json:"deadline_ms"`
	}
	if err := json.Unmarshal(rsp.Body, &got); err != nil {
		t.Fatalf("%v: %s", err, rsp.Body)
	}
	if got.Echo["hello"] != "world" || got.User != "u42" {
		t.Fatalf("%s", rsp.Body)
	}
	if got.DeadlineMS <= 1000 || got.DeadlineMS > 3000 {
		t.Fatalf("the server saw a deadline %d ms away, want about 3000", got.DeadlineMS)
	}
	if rsp.ContentType != ctrpc.ContentTypeJSON {
		t.Fatalf("content type %d", rsp.ContentType)
	}
}

// Error answers of a real tRPC-Go server arrive as ret / func_ret.
func TestPoolSeesRealServerErrors(t *testing.T) {
	addr := echoServer(t)
	p := newPool(t, ctrpc.PoolConfig{})
	cases := []struct {
		fn           string
		ret, funcRet int32
	}{
		{"/trpc.app.echo.Echo/Fail", 0, 7},
		{"/trpc.app.echo.Echo/Busy", int32(errs.RetServerOverload), 0},
		{"/trpc.app.echo.Echo/Nope", ctrpc.RetServerNoFunc, 0},
	}
	for _, c := range cases {
		_, err := p.Call(context.Background(), addr, call(c.fn, `{}`))
		var te *ctrpc.Error
		if !errors.As(err, &te) || te.Ret != c.ret || te.FuncRet != c.funcRet || te.Msg == "" {
			t.Errorf("%s: %v, want ret %d func_ret %d", c.fn, err, c.ret, c.funcRet)
		}
	}
	if int32(errs.RetServerNoFunc) != ctrpc.RetServerNoFunc {
		t.Fatalf("no-func code: trpc-go %d, ours %d", errs.RetServerNoFunc, ctrpc.RetServerNoFunc)
	}
}

// Calls multiplexed on one connection to a real server come back matched
// by request id: a fast call overtakes a slow one, and many concurrent
// calls each get their own answer.
func TestPoolMultiplexesOnRealServer(t *testing.T) {
	addr := echoServer(t)
	p := newPool(t, ctrpc.PoolConfig{MaxConnsPerAddr: 1})
	slow := make(chan error, 1)
	go func() {
		_, err := p.Call(context.Background(), addr, call("/trpc.app.echo.Echo/Slow", `{}`))
		slow <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the slow call go first (only ordering, not correctness, depends on it)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rsp, err := p.Call(context.Background(), addr, call(echoSay, fmt.Sprint(i)))
			if err != nil {
				t.Error(err)
				return
			}
			var got struct{ Echo float64 }
			if json.Unmarshal(rsp.Body, &got); int(got.Echo) != i {
				t.Errorf("call %d got %s", i, rsp.Body)
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-slow:
		t.Fatalf("the slow call finished before the fast ones: %v", err)
	default:
	}
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
}

// A real tRPC-Go client calls our Server's push service: the wire format of
// /trpc.courier.push.Push/Send interoperates.
func TestRealClientCallsOurServer(t *testing.T) {
	var seen struct {
		sync.Mutex
		callee, caller, user string
		ct                   uint32
		timeout              time.Duration
	}
	s, err := ctrpc.NewServer(ctrpc.ServerConfig{Listen: "127.0.0.1:0"}, map[string]ctrpc.Handler{
		"/trpc.courier.push.Push/Send": func(ctx context.Context, r *ctrpc.ServerRequest) *ctrpc.ServerResponse {
			var push struct {
				To    struct{ Users []string } `json:"to"`
				Event string                   `json:"event"`
			}
			if err := json.Unmarshal(r.Body, &push); err != nil {
				return &ctrpc.ServerResponse{FuncRet: 400, ErrorMsg: err.Error()}
			}
			if push.Event == "reject" {
				return &ctrpc.ServerResponse{FuncRet: 413, ErrorMsg: "too large"}
			}
			seen.Lock()
			seen.callee, seen.caller, seen.user, seen.ct, seen.timeout = r.Callee, r.Caller, string(r.TransInfo["user"]), r.ContentType, r.Timeout
			seen.Unlock()
			return &ctrpc.ServerResponse{Body: []byte(`{"id":"msg-1-` + push.To.Users[0] + `"}`)}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addr := s.Addr().String()

	req := map[string]any{"to": map[string]any{"users": []string{"alice"}}, "event": "news", "data": map[string]any{"x": 1}, "ttl": 60}
	var rsp struct {
		ID string `json:"id"`
	}
	if err := Invoke(context.Background(), addr, "trpc.courier.push.Push", "/trpc.courier.push.Push/Send", req, &rsp, map[string][]byte{"user": []byte("backend-1")}); err != nil {
		t.Fatal(err)
	}
	if rsp.ID != "msg-1-alice" {
		t.Fatalf("answer %+v", rsp)
	}
	seen.Lock()
	if seen.callee != "trpc.courier.push.Push" || seen.caller != "trpc.courier.interop.Client" || seen.user != "backend-1" || seen.ct != ctrpc.ContentTypeJSON || seen.timeout <= 0 || seen.timeout > 5*time.Second {
		t.Fatalf("server saw callee %q caller %q user %q content type %d timeout %v", seen.callee, seen.caller, seen.user, seen.ct, seen.timeout)
	}
	seen.Unlock()

	// A func_ret error reaches the tRPC-Go client as its error code.
	req["event"] = "reject"
	err = Invoke(context.Background(), addr, "trpc.courier.push.Push", "/trpc.courier.push.Push/Send", req, &rsp, nil)
	if errs.Code(err) != 413 || errs.Msg(err) != "too large" {
		t.Fatalf("func error: %v", err)
	}
	// An unknown method is tRPC-Go's own "no such func".
	err = Invoke(context.Background(), addr, "trpc.courier.push.Push", "/trpc.courier.push.Push/Nope", req, &rsp, nil)
	if errs.Code(err) != errs.RetServerNoFunc {
		t.Fatalf("no func: %v (code %d)", err, errs.Code(err))
	}
}
