package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"courier/node/errcode"
)

type call struct {
	addr string
	inv  Invocation
}

type fakeBackend struct {
	mu    sync.Mutex
	calls []call
	reply func(addr string, inv Invocation) (Result, error)
}

func (f *fakeBackend) Invoke(ctx context.Context, addr string, inv Invocation) (Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, call{addr, inv})
	f.mu.Unlock()
	if f.reply != nil {
		return f.reply(addr, inv)
	}
	return Result{Body: []byte(`{"ok":1}`)}, nil
}

func newRouter(t *testing.T, b Backend, dyes map[string]string, routes ...Route) *Router {
	t.Helper()
	r, err := NewRouter(RouterConfig{Routes: routes, Backend: b, DefaultTimeout: time.Second,
		Dye: func(_ context.Context, user string) (string, error) { return dyes[user], nil }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func codeOf(err error) errcode.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "(not a command error)"
}

func TestRoutingLongestPatternAndEnvironments(t *testing.T) {
	b := &fakeBackend{}
	r := newRouter(t, b, map[string]string{"tester": "test"},
		Route{Pattern: "trpc.app.*", Addrs: []string{"general:1"}},
		Route{Pattern: "trpc.app.echo.*", Addrs: []string{"echo:1"}, Envs: map[string][]string{"test": {"echo-test:1"}}},
		Route{Pattern: "trpc.app.echo.Exact", Addrs: []string{"exact:1"}, Timeout: 200 * time.Millisecond},
	)
	cases := []struct{ name, user, addr string }{
		{"/trpc.app.echo.Echo/Say", "alice", "echo:1"},
		{"/trpc.app.echo.Echo/Say", "tester", "echo-test:1"},
		{"/trpc.app.echo.Exact/Do", "alice", "exact:1"},
		{"/trpc.app.user.User/Get", "tester", "general:1"}, // no "test" env on that route: the default addresses
	}
	for i, c := range cases {
		data, err := r.Call(context.Background(), Request{Name: c.name, Data: json.RawMessage(`{"x":1}`), User: c.user, Device: "d", TraceID: "tr"})
		if err != nil || string(data) != `{"ok":1}` {
			t.Fatalf("%s: %s %v", c.name, data, err)
		}
		got := b.calls[i]
		if got.addr != c.addr {
			t.Errorf("%s as %s went to %s, want %s", c.name, c.user, got.addr, c.addr)
		}
		if got.inv.Func != c.name || string(got.inv.Body) != `{"x":1}` || string(got.inv.TransInfo[TransUser]) != c.user ||
			string(got.inv.TransInfo[TransTrace]) != "tr" || string(got.inv.TransInfo[TransDevice]) != "d" {
			t.Errorf("%s: invocation %+v", c.name, got.inv)
		}
	}
	if env := b.calls[1].inv.TransInfo[TransEnv]; string(env) != "test" || string(b.calls[1].inv.TransInfo[TransDyeing]) != "test" || !b.calls[1].inv.Dyeing {
		t.Errorf("dyed call carries env %q, dyeing bit %v", env, b.calls[1].inv.Dyeing)
	}
	if b.calls[0].inv.Dyeing || b.calls[0].inv.TransInfo[TransDyeing] != nil {
		t.Errorf("an undyed call is dyed: %+v", b.calls[0].inv)
	}
	if b.calls[2].inv.Timeout != 200*time.Millisecond || b.calls[0].inv.Timeout != time.Second {
		t.Errorf("timeouts %v, %v", b.calls[2].inv.Timeout, b.calls[0].inv.Timeout)
	}
}

func TestCallErrors(t *testing.T) {
	b := &fakeBackend{}
	r := newRouter(t, b, nil, Route{Pattern: "svc.*", Addrs: []string{"a:1", "b:1"}})
	cases := []struct {
		name  string
		reply func(string, Invocation) (Result, error)
		want  errcode.Code
	}{
		{"/nope.Svc/M", nil, errcode.NotFound},
		{"not-a-name", nil, errcode.BadRequest},
		{"/svc.A/", nil, errcode.BadRequest},
		{"/svc.A/M", func(string, Invocation) (Result, error) { return Result{}, fmt.Errorf("dial: %w", ErrUnavailable) }, errcode.Unavailable},
		{"/svc.A/M", func(string, Invocation) (Result, error) { return Result{}, ErrTimeout }, errcode.Timeout},
		{"/svc.A/M", func(string, Invocation) (Result, error) { return Result{Body: []byte("<html>")}, nil }, errcode.BackendError},
	}
	for _, c := range cases {
		b.reply = c.reply
		if _, err := r.Call(context.Background(), Request{Name: c.name}); codeOf(err) != c.want {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
	b.reply = func(string, Invocation) (Result, error) {
		return Result{Ret: 0, FuncRet: 42, Msg: "no such order"}, nil
	}
	_, err := r.Call(context.Background(), Request{Name: "/svc.A/M"})
	var e *Error
	if !errors.As(err, &e) || e.Code != errcode.BackendError || e.FuncRet != 42 || e.Message != "no such order" {
		t.Fatalf("backend error came back as %#v", err)
	}
}

func TestCallNeverOutlivesTheTimeout(t *testing.T) {
	hangs := backendFunc(func(ctx context.Context, addr string, inv Invocation) (Result, error) {
		<-ctx.Done()
		return Result{}, ctx.Err()
	})
	r := newRouter(t, hangs, nil, Route{Pattern: "svc.*", Addrs: []string{"a:1"}, Timeout: 50 * time.Millisecond})
	start := time.Now()
	_, err := r.Call(context.Background(), Request{Name: "/svc.A/M"})
	if codeOf(err) != errcode.Timeout || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
}

type backendFunc func(ctx context.Context, addr string, inv Invocation) (Result, error)

func (f backendFunc) Invoke(ctx context.Context, addr string, inv Invocation) (Result, error) {
	return f(ctx, addr, inv)
}

func TestRoutesAreChecked(t *testing.T) {
	for _, rt := range []Route{{Pattern: "", Addrs: []string{"a:1"}}, {Pattern: "a*b", Addrs: []string{"a:1"}}, {Pattern: "svc"}, {Pattern: "svc", Addrs: []string{"nohost"}}} {
		if _, err := NewRouter(RouterConfig{Routes: []Route{rt}, Backend: &fakeBackend{}}); err == nil {
			t.Errorf("route %+v accepted", rt)
		}
	}
}

func TestParseRoute(t *testing.T) {
	r, err := ParseRoute("trpc.app.echo.*=127.0.0.1:8000, 127.0.0.1:8001")
	if err != nil || r.Pattern != "trpc.app.echo.*" || len(r.Addrs) != 2 || r.Addrs[1] != "127.0.0.1:8001" {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{"no-equals", "svc=", "=a:1", "svc=nohost"} {
		if _, err := ParseRoute(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The client's IP and forwarded headers reach the backend's trans_info under
// the SPEC's keys.
func TestOriginInTransInfo(t *testing.T) {
	b := &fakeBackend{}
	r := newRouter(t, b, nil, Route{Pattern: "trpc.app.*", Addrs: []string{"a:1"}})
	origin := Origin{ClientIP: "203.0.113.7", Headers: []string{"user-agent", "MicroMessenger/8.0", "referer", "https://servicewechat.com/app"}}
	if _, err := r.Call(context.Background(), Request{Name: "/trpc.app.x.X/Y", User: "u", TraceID: "t", Origin: origin}); err != nil {
		t.Fatal(err)
	}
	ti := b.calls[0].inv.TransInfo
	if string(ti["courier-client-ip"]) != "203.0.113.7" || string(ti["courier-h-user-agent"]) != "MicroMessenger/8.0" ||
		string(ti["courier-h-referer"]) != "https://servicewechat.com/app" {
		t.Fatalf("trans_info %q", ti)
	}
}
