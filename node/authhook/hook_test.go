package authhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"courier/node/authhook"
	"courier/node/command"
	"courier/router/trpc"
)

// businessLogin is the business's own endpoint: it knows session cookies.
func businessLogin(calls *atomic.Int64, slow time.Duration) func(req authhook.Request) (int, any) {
	return func(req authhook.Request) (int, any) {
		calls.Add(1)
		time.Sleep(slow)
		switch req.Headers["cookie"] {
		case "session=alice":
			return 200, map[string]any{"user": "alice", "rooms": []string{"lobby", "game:*"}, "expires_in": 60}
		case "session=bob":
			return 200, map[string]any{"user": "bob", "rooms": []string{}} // no expires_in: not cached
		case "session=banned":
			return 403, map[string]any{"message": "banned"}
		case "session=broken":
			return 500, "oops"
		case "session=garbage":
			return 200, map[string]any{"no": "user"}
		}
		return 401, map[string]any{"message": "log in first"}
	}
}

func httpHook(t *testing.T, answer func(authhook.Request) (int, any)) (string, *authhook.Request) {
	var mu sync.Mutex
	var last authhook.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req authhook.Request
		body, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &req) != nil {
			http.Error(w, "bad hook request", 400)
			return
		}
		mu.Lock()
		last = req
		mu.Unlock()
		status, out := answer(req)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/courier/auth", &last
}

func newHook(t *testing.T, cfg authhook.Config) *authhook.Hook {
	t.Helper()
	h, err := authhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func describe(h *authhook.Hook, cookie string) authhook.Request {
	hdr := http.Header{"Cookie": {cookie}, "User-Agent": {"MicroMessenger"}, "X-Secret": {"not told"}}
	// EIO, transport and t are the transport's: a polling client's t changes on every request
	return h.Describe(hdr, "198.51.100.9", map[string]any{"device": "d1"}, url.Values{"v": {"2"}, "EIO": {"4"}, "transport": {"polling"}, "t": {time.Now().String()}})
}

func TestHTTPHook(t *testing.T) {
	var calls atomic.Int64
	u, last := httpHook(t, businessLogin(&calls, 0))
	clock := time.Now()
	h := newHook(t, authhook.Config{URL: u, Now: func() time.Time { return clock }})

	a, err := h.Authenticate(context.Background(), describe(h, "session=alice"))
	if err != nil || a.User != "alice" || len(a.Rooms) != 2 || a.ExpiresIn != 60 {
		t.Fatalf("alice: %+v %v", a, err)
	}
	if last.Headers["cookie"] != "session=alice" || last.Headers["user-agent"] != "MicroMessenger" || last.Headers["x-secret"] != "" ||
		last.IP != "198.51.100.9" || last.Auth["device"] != "d1" || len(last.Query) != 1 || last.Query["v"] != "2" {
		t.Fatalf("the hook was told %+v", *last)
	}
	// cached for its expires_in, with what is left of it
	clock = clock.Add(20 * time.Second)
	if a, err := h.Authenticate(context.Background(), describe(h, "session=alice")); err != nil || a.User != "alice" || a.ExpiresIn != 40 || calls.Load() != 1 {
		t.Fatalf("cached alice: %+v %v after %d calls", a, err, calls.Load())
	}
	clock = clock.Add(41 * time.Second)
	if _, err := h.Authenticate(context.Background(), describe(h, "session=alice")); err != nil || calls.Load() != 2 {
		t.Fatalf("alice after her answer's end: %v after %d calls", err, calls.Load())
	}
	for range 2 { // no expires_in: asked each time
		if a, err := h.Authenticate(context.Background(), describe(h, "session=bob")); err != nil || a.User != "bob" {
			t.Fatalf("bob: %+v %v", a, err)
		}
	}
	if calls.Load() != 4 {
		t.Fatalf("%d calls, want 4", calls.Load())
	}

	for cookie, want := range map[string]int{"session=banned": 403, "": 401, "session=nobody": 401} {
		_, err := h.Authenticate(context.Background(), describe(h, cookie))
		if status, ok := authhook.IsRefused(err); !ok || status != want {
			t.Errorf("%q: %v, want refused %d", cookie, err, want)
		}
	}
	for _, cookie := range []string{"session=broken", "session=garbage"} {
		if _, err := h.Authenticate(context.Background(), describe(h, cookie)); !errors.Is(err, authhook.ErrUnavailable) {
			t.Errorf("%q: %v, want unavailable", cookie, err)
		}
	}
	dead := newHook(t, authhook.Config{URL: "http://127.0.0.1:1/auth"})
	if _, err := dead.Authenticate(context.Background(), describe(dead, "session=alice")); !errors.Is(err, authhook.ErrUnavailable) {
		t.Fatalf("unreachable hook: %v", err)
	}
}

// A slow hook: each call ends at the timeout, and past MaxInFlight calls a
// client is refused at once instead of waiting.
func TestHookTimeoutAndCallsInFlight(t *testing.T) {
	var calls atomic.Int64
	u, _ := httpHook(t, businessLogin(&calls, 2*time.Second))
	h := newHook(t, authhook.Config{URL: u, Timeout: 300 * time.Millisecond, MaxInFlight: 2})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_, err := h.Authenticate(context.Background(), describe(h, "session=bob"))
			if !errors.Is(err, authhook.ErrUnavailable) || time.Since(start) > time.Second {
				t.Errorf("slow hook: %v after %v", err, time.Since(start))
			}
		}()
	}
	for calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if _, err := h.Authenticate(context.Background(), describe(h, "session=bob")); !errors.Is(err, authhook.ErrUnavailable) || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("a call past the bound: %v after %v", err, time.Since(start))
	}
	wg.Wait()
}

// A tRPC hook (trpc://host:port/pkg.Service/Method): the same JSON, func_ret
// 401/403 refuses.
func TestTRPCHook(t *testing.T) {
	var calls atomic.Int64
	login := businessLogin(&calls, 0)
	srv, err := trpc.NewServer(trpc.ServerConfig{Listen: "127.0.0.1:0"}, map[string]trpc.Handler{
		"/trpc.shop.auth.Auth/Check": func(ctx context.Context, req *trpc.ServerRequest) *trpc.ServerResponse {
			var r authhook.Request
			if json.Unmarshal(req.Body, &r) != nil {
				return &trpc.ServerResponse{FuncRet: 400}
			}
			status, out := login(r)
			body, _ := json.Marshal(out)
			if status != 200 {
				return &trpc.ServerResponse{FuncRet: int32(status), ErrorMsg: string(body)}
			}
			return &trpc.ServerResponse{Body: body, ContentType: trpc.ContentTypeJSON}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	caller, err := command.NewTRPC("trpc.courier.node.test", time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caller.Close() })
	h := newHook(t, authhook.Config{URL: "trpc://" + srv.Addr().String() + "/trpc.shop.auth.Auth/Check", Caller: caller})
	if a, err := h.Authenticate(context.Background(), describe(h, "session=alice")); err != nil || a.User != "alice" {
		t.Fatalf("alice: %+v %v", a, err)
	}
	if _, err := h.Authenticate(context.Background(), describe(h, "session=banned")); func() bool { s, ok := authhook.IsRefused(err); return !ok || s != 403 }() {
		t.Fatalf("banned: %v", err)
	}
	if _, err := h.Authenticate(context.Background(), describe(h, "session=broken")); !errors.Is(err, authhook.ErrUnavailable) {
		t.Fatalf("broken: %v", err)
	}
}

func TestHookURLs(t *testing.T) {
	for _, bad := range []string{"", "ftp://x/y", "trpc://host/pkg.S/M", "trpc://host:1/nope", "http://"} {
		if _, err := authhook.New(authhook.Config{URL: bad, Caller: &command.TRPC{}}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
