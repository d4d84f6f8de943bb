package trpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"courier/router/testkit"
)

func TestCallRoundTrip(t *testing.T) {
	s := startServer(t, echoHandlers())
	p := newTestPool(t, PoolConfig{})
	req := say(`{"n":1}`)
	req.TransInfo = map[string][]byte{"user": []byte("u1")}
	req.Timeout = 2 * time.Second
	rsp, err := p.Call(context.Background(), s.Addr().String(), req)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Echo      map[string]int `json:"echo"`
		User      string         `json:"user"`
		TimeoutMS int64          `json:"timeout_ms"`
	}
	if err := json.Unmarshal(rsp.Body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Echo["n"] != 1 || got.User != "u1" || got.TimeoutMS <= 1000 || got.TimeoutMS > 2000 {
		t.Fatalf("%+v", got)
	}
	if rsp.ContentType != ContentTypeJSON || string(rsp.TransInfo["seen"]) != "yes" {
		t.Fatalf("%+v", rsp)
	}
}

func TestCallErrorAnswers(t *testing.T) {
	s := startServer(t, echoHandlers())
	p := newTestPool(t, PoolConfig{})
	addr := s.Addr().String()

	rsp, err := p.Call(context.Background(), addr, &CallRequest{Callee: "trpc.test.Echo", Func: "/trpc.test.Echo/Fail"})
	var te *Error
	if !errors.As(err, &te) || te.FuncRet != 7 || te.Msg != "no luck" || rsp == nil || rsp.FuncRet != 7 {
		t.Fatalf("func error: %v %+v", err, rsp)
	}
	_, err = p.Call(context.Background(), addr, &CallRequest{Callee: "trpc.test.Echo", Func: "/trpc.test.Echo/Nope"})
	if !errors.As(err, &te) || te.Ret != RetServerNoFunc || !strings.Contains(te.Msg, "/trpc.test.Echo/Nope") {
		t.Fatalf("no func: %v", err)
	}
}

func TestCallsMultiplexOnFewConns(t *testing.T) {
	s := startServer(t, echoHandlers())
	p := newTestPool(t, PoolConfig{MaxConnsPerAddr: 3})
	addr := s.Addr().String()
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rsp, err := p.Call(context.Background(), addr, say(fmt.Sprint(i)))
			if err != nil {
				errs <- err
				return
			}
			var got struct{ Echo int }
			if json.Unmarshal(rsp.Body, &got); got.Echo != i {
				errs <- fmt.Errorf("call %d got answer %s", i, rsp.Body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := p.connCount(addr); n < 1 || n > 3 {
		t.Fatalf("%d conns", n)
	}
	s.mu.Lock()
	served := len(s.conns)
	s.mu.Unlock()
	if served > 3 {
		t.Fatalf("server saw %d conns", served)
	}
}

func TestCallTimeout(t *testing.T) {
	s := startServer(t, echoHandlers())
	p := newTestPool(t, PoolConfig{})
	slow := &CallRequest{Callee: "trpc.test.Echo", Func: "/trpc.test.Echo/Slow", Timeout: 50 * time.Millisecond}
	start := time.Now()
	_, err := p.Call(context.Background(), s.Addr().String(), slow)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	// The connection survives a timed-out call.
	if _, err := p.Call(context.Background(), s.Addr().String(), say("1")); err != nil {
		t.Fatal(err)
	}
	// A cancelled context is the caller's doing: context.Canceled, not a timeout.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	slow.Timeout = 0
	if _, err := p.Call(ctx, s.Addr().String(), slow); !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("cancel: %v", err)
	}
}

func TestCallRefused(t *testing.T) {
	p := newTestPool(t, PoolConfig{})
	_, err := p.Call(context.Background(), freeAddr(t), say("1"))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("%v", err)
	}
}

func TestBreakerOpensAndProbes(t *testing.T) {
	clock := testkit.NewClock()
	p := newTestPool(t, PoolConfig{Breaker: BreakerConfig{Failures: 3, OpenFor: time.Minute}, Now: clock.Now})
	addr := freeAddr(t)
	for range 3 {
		if _, err := p.Call(context.Background(), addr, say("1")); !errors.Is(err, ErrUnavailable) {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if _, err := p.Call(context.Background(), addr, say("1")); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("open: %v", err)
	}
	if time.Since(start) > 100*time.Millisecond {
		t.Fatal("an open breaker must fail fast")
	}
	// After OpenFor a probe goes through; the backend is now up, so it closes.
	s, err := NewServer(ServerConfig{Listen: addr, Log: testLog(t)}, echoHandlers())
	if err != nil {
		t.Skipf("port taken meanwhile: %v", err)
	}
	defer s.Close()
	clock.Advance(time.Minute)
	if _, err := p.Call(context.Background(), addr, say("1")); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if _, err := p.Call(context.Background(), addr, say("1")); err != nil {
		t.Fatalf("closed again: %v", err)
	}
}

func TestReconnectAfterServerRestart(t *testing.T) {
	s := startServer(t, echoHandlers())
	addr := s.Addr().String()
	p := newTestPool(t, PoolConfig{})
	if _, err := p.Call(context.Background(), addr, say("1")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	testkit.Eventually(t, 5*time.Second, "the pool to see the conn die", func() bool { return p.connCount(addr) == 0 })
	s2, err := NewServer(ServerConfig{Listen: addr, Log: testLog(t)}, echoHandlers())
	if err != nil {
		t.Skipf("port taken meanwhile: %v", err)
	}
	defer s2.Close()
	if _, err := p.Call(context.Background(), addr, say("2")); err != nil {
		t.Fatal(err)
	}
}

func TestInFlightCallsFailWhenConnDies(t *testing.T) {
	s := startServer(t, echoHandlers())
	p := newTestPool(t, PoolConfig{})
	done := make(chan error, 1)
	go func() {
		_, err := p.Call(context.Background(), s.Addr().String(), &CallRequest{Func: "/trpc.test.Echo/Slow", Timeout: 10 * time.Second})
		done <- err
	}()
	testkit.Eventually(t, 5*time.Second, "the call to be in flight", func() bool {
		p.mu.Lock()
		tg := p.targets[s.Addr().String()]
		p.mu.Unlock()
		return tg != nil && tg.busy()
	})
	s.Close()
	if err := <-done; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%v", err)
	}
}

func TestIdleConnsAndAddrsEvicted(t *testing.T) {
	s := startServer(t, echoHandlers())
	p := newTestPool(t, PoolConfig{IdleTimeout: 50 * time.Millisecond})
	addr := s.Addr().String()
	if _, err := p.Call(context.Background(), addr, say("1")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "idle eviction", func() bool { return p.addrCount() == 0 })
	testkit.Eventually(t, 5*time.Second, "the server to see the close", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.conns) == 0 })
	if _, err := p.Call(context.Background(), addr, say("2")); err != nil {
		t.Fatal(err)
	}
}

func TestMaxAddrsEvictsLeastRecentlyUsed(t *testing.T) {
	p := newTestPool(t, PoolConfig{MaxAddrs: 2})
	servers := []*Server{startServer(t, echoHandlers()), startServer(t, echoHandlers()), startServer(t, echoHandlers())}
	for _, s := range servers {
		if _, err := p.Call(context.Background(), s.Addr().String(), say("1")); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.addrCount(); n != 2 {
		t.Fatalf("%d addresses kept", n)
	}
	if p.connCount(servers[0].Addr().String()) != 0 {
		t.Fatal("the first address should be the one forgotten")
	}
}

func TestOverloaded(t *testing.T) {
	s := startServer(t, echoHandlers())
	p := newTestPool(t, PoolConfig{MaxConnsPerAddr: 1, MaxPendingPerConn: 2})
	addr := s.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 {
		go p.Call(ctx, addr, &CallRequest{Func: "/trpc.test.Echo/Slow"})
	}
	testkit.Eventually(t, 5*time.Second, "two calls in flight", func() bool {
		p.mu.Lock()
		tg := p.targets[addr]
		p.mu.Unlock()
		if tg == nil {
			return false
		}
		tg.mu.Lock()
		defer tg.mu.Unlock()
		return len(tg.conns) == 1 && tg.conns[0].load() == 2
	})
	if _, err := p.Call(context.Background(), addr, say("1")); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("%v", err)
	}
}

func TestPoolClose(t *testing.T) {
	p, _ := NewPool(PoolConfig{})
	p.Close()
	if _, err := p.Call(context.Background(), "127.0.0.1:1", say("1")); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := (PoolConfig{MaxConnsPerAddr: -1}).Validate(); err == nil {
		t.Fatal("negative limit accepted")
	}
}
