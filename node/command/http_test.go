package command

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"courier/node/errcode"
)

// An existing HTTP interface as a command backend: the command is a JSON
// POST to the route's URL + "/pkg.Service/Method" with trans_info as
// X-Courier-* headers; 2xx JSON is the answer, another status an error
// carrying it.
func TestHTTPBackend(t *testing.T) {
	var got struct {
		path, body string
		header     http.Header
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.path, got.body, got.header = r.URL.Path, string(b), r.Header.Clone()
		switch r.URL.Path {
		case "/api/trpc.app.shop.Shop/Price":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"price":42}`)
		case "/api/trpc.app.shop.Shop/Missing":
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"message":"no such sku"}`)
		case "/api/trpc.app.shop.Shop/Page":
			_, _ = io.WriteString(w, `<html>oops</html>`)
		case "/api/trpc.app.shop.Shop/Slow":
			time.Sleep(500 * time.Millisecond)
		}
	}))
	defer srv.Close()
	r := newRouter(t, &fakeBackend{}, map[string]string{"tester": "qa"},
		Route{Pattern: "trpc.app.shop.*", Addrs: []string{srv.URL + "/api/"}, Timeout: 200 * time.Millisecond})
	origin := Origin{ClientIP: "198.51.100.9", Headers: []string{"user-agent", "MiniProgram"}}

	out, err := r.Call(context.Background(), Request{Name: "/trpc.app.shop.Shop/Price", Data: json.RawMessage(`{"sku":7}`), User: "tester", Device: "d", TraceID: "tr", Origin: origin})
	if err != nil || string(out) != `{"price":42}` {
		t.Fatalf("answer %s %v", out, err)
	}
	h := got.header
	if got.path != "/api/trpc.app.shop.Shop/Price" || got.body != `{"sku":7}` || h.Get("Content-Type") != "application/json" ||
		h.Get("X-Courier-User") != "tester" || h.Get("X-Courier-Device") != "d" || h.Get("X-Courier-Trace-Id") != "tr" ||
		h.Get("X-Courier-Env") != "qa" || h.Get("X-Courier-Trpc-Dyeing-Key") != "qa" ||
		h.Get("X-Courier-Client-Ip") != "198.51.100.9" || h.Get("X-Courier-H-User-Agent") != "MiniProgram" {
		t.Fatalf("the backend got %s %s %v", got.path, got.body, h)
	}

	var ce *Error
	_, err = r.Call(context.Background(), Request{Name: "/trpc.app.shop.Shop/Missing", User: "u"})
	if !errors.As(err, &ce) || ce.Code != errcode.BackendError || ce.FuncRet != 404 || ce.Message != "no such sku" {
		t.Fatalf("404 answered %+v", err)
	}
	if _, err = r.Call(context.Background(), Request{Name: "/trpc.app.shop.Shop/Page", User: "u"}); !errors.As(err, &ce) || ce.Code != errcode.BackendError {
		t.Fatalf("a 200 that is not JSON answered %v", err)
	}
	start := time.Now()
	if _, err = r.Call(context.Background(), Request{Name: "/trpc.app.shop.Shop/Slow", User: "u"}); !errors.As(err, &ce) || ce.Code != errcode.Timeout || time.Since(start) > time.Second {
		t.Fatalf("slow backend answered %v after %v", err, time.Since(start))
	}
	dead := newRouter(t, &fakeBackend{}, nil, Route{Pattern: "trpc.app.*", Addrs: []string{"http://127.0.0.1:1"}})
	if _, err = dead.Call(context.Background(), Request{Name: "/trpc.app.x.X/Y", User: "u"}); !errors.As(err, &ce) || ce.Code != errcode.Unavailable {
		t.Fatalf("unreachable backend answered %v", err)
	}
}

// A route's concurrency and rate: past either a call fails at once with
// rate_limited, never waits, and what is in flight is not disturbed.
func TestRouteConcurrencyAndRate(t *testing.T) {
	release := make(chan struct{})
	var reached atomic.Int64
	held := backendFunc(func(ctx context.Context, addr string, inv Invocation) (Result, error) {
		reached.Add(1)
		<-release
		return Result{Body: []byte(`1`)}, nil
	})
	r := newRouter(t, held, nil, Route{Pattern: "trpc.app.*", Addrs: []string{"a:1"}, Concurrency: 2, Timeout: 5 * time.Second})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Call(context.Background(), Request{Name: "/trpc.app.x.X/Y", User: "u"}); err != nil {
				t.Error(err)
			}
		}()
	}
	for reached.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if _, err := r.Call(context.Background(), Request{Name: "/trpc.app.x.X/Y", User: "u"}); codeOf(err) != errcode.RateLimited || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("a call past the concurrency: %v after %v", err, time.Since(start))
	}
	close(release)
	wg.Wait()
	if _, err := r.Call(context.Background(), Request{Name: "/trpc.app.x.X/Y", User: "u"}); err != nil {
		t.Fatalf("a call once the others answered: %v", err)
	}

	rated := newRouter(t, &fakeBackend{}, nil, Route{Pattern: "trpc.app.*", Addrs: []string{"a:1"}, Rate: 5})
	limited := 0
	start = time.Now()
	for range 20 {
		if _, err := rated.Call(context.Background(), Request{Name: "/trpc.app.x.X/Y", User: "u"}); codeOf(err) == errcode.RateLimited {
			limited++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refilled := int(time.Since(start).Seconds()*5) + 1; limited > 15 || limited < 15-refilled {
		t.Fatalf("%d of 20 calls limited, want 15 (burst 5, 5/s)", limited)
	}
}

func TestRoutesAcceptHTTPAddresses(t *testing.T) {
	for _, ok := range []string{"trpc.app.*=http://127.0.0.1:9000", "trpc.app.*=https://shop.internal/api", "trpc.app.*=http://a:1/p,127.0.0.1:8000"} {
		if _, err := ParseRoute(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"trpc.app.*=http://", "trpc.app.*=http://a:1/p?x=1", "trpc.app.*=ftp"} {
		if _, err := ParseRoute(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if _, err := NewRouter(RouterConfig{Backend: &fakeBackend{}, Routes: []Route{{Pattern: "a.*", Addrs: []string{"a:1"}, Rate: -1}}}); err == nil {
		t.Error("a negative rate accepted")
	}
}
