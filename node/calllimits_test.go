package node

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"courier/node/auth"
	"courier/node/command"
	"courier/router/testkit"
	"courier/router/trpc"
)

// heldBackend answers /test.hold.Hold/Wait only once release is closed and
// counts the calls that reached it.
func heldBackend(t *testing.T, release <-chan struct{}, reached *atomic.Int64) string {
	t.Helper()
	srv, err := trpc.NewServer(trpc.ServerConfig{Listen: "127.0.0.1:0"}, map[string]trpc.Handler{
		"/test.hold.Hold/Wait": func(ctx context.Context, req *trpc.ServerRequest) *trpc.ServerResponse {
			reached.Add(1)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return &trpc.ServerResponse{Body: []byte(`{}`), ContentType: trpc.ContentTypeJSON}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Addr().String()
}

// httpCall posts /v1/call/{name} as user and returns the status and the
// error code of the answer, if any.
func httpCall(t *testing.T, base, user, name string) (int, string, http.Header) {
	token, _ := auth.Sign([]byte("s"), auth.Claims{Sub: user})
	req, _ := http.NewRequest("POST", base+"/v1/call/"+name, strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, "", nil
	}
	defer res.Body.Close()
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body.Error.Code, res.Header
}

// One user's slow HTTP calls: past command.MaxInFlight of them waiting on the
// backend, the next is refused at once with 429 and never reaches it; another
// user still gets through, and the user can call again once answers come.
func TestHTTPCallsInFlightAreBoundPerUser(t *testing.T) {
	release := make(chan struct{})
	var reached atomic.Int64
	addr := heldBackend(t, release, &reached)
	n := newTestNode(t, func(c *Config) {
		c.CmdRate = 1000 // the in-flight bound alone
		c.CallTimeout = 10 * time.Second
		c.Commands = []command.Route{{Pattern: "test.hold.*", Addrs: []string{addr}}}
	})
	ts := httptest.NewServer(n.Handler())
	t.Cleanup(ts.Close)

	var wg sync.WaitGroup
	defer func() { close(release); wg.Wait() }()
	for range command.MaxInFlight {
		wg.Add(1)
		go func() { defer wg.Done(); httpCall(t, ts.URL, "alice", "test.hold.Hold/Wait") }()
	}
	testkit.Eventually(t, 5*time.Second, "the first calls reach the backend", func() bool { return reached.Load() == command.MaxInFlight })
	for range 20 {
		if status, code, h := httpCall(t, ts.URL, "alice", "test.hold.Hold/Wait"); status != 429 || code != "rate_limited" || h.Get("Retry-After") == "" {
			t.Fatalf("call past the bound answered %d %q (Retry-After %q)", status, code, h.Get("Retry-After"))
		}
	}
	if got := reached.Load(); got != command.MaxInFlight {
		t.Fatalf("%d calls reached the backend, want %d", got, command.MaxInFlight)
	}
	if got := counterValue(n.metrics.refused.WithLabelValues("call_in_flight")); got != 20 {
		t.Errorf("call_in_flight refusals counted %v, want 20", got)
	}
	wg.Add(1)
	go func() { defer wg.Done(); httpCall(t, ts.URL, "bob", "test.hold.Hold/Wait") }()
	testkit.Eventually(t, 5*time.Second, "another user's call reaches the backend", func() bool { return reached.Load() == command.MaxInFlight+1 })
}

// One user's calls past the command rate (burst 2x) are refused with 429;
// another user's are not.
func TestHTTPCallRateIsBoundPerUser(t *testing.T) {
	addr := echoBackend(t)
	n := newTestNode(t, func(c *Config) {
		c.CmdRate = 5
		c.Commands = []command.Route{{Pattern: "test.echo.*", Addrs: []string{addr}}}
	})
	ts := httptest.NewServer(n.Handler())
	t.Cleanup(ts.Close)
	limited := 0
	start := time.Now()
	for range 20 {
		switch status, code, _ := httpCall(t, ts.URL, "alice", "test.echo.Echo/Say"); {
		case status == 429 && code == "rate_limited":
			limited++
		case status != 200:
			t.Fatalf("call answered %d %q", status, code)
		}
	}
	took := time.Since(start)
	// past the burst of 10, less what refilled while the 20 were sent
	if limited > 10 || limited < 10-int(took.Seconds()*5)-1 {
		t.Fatalf("%d of 20 calls rate limited in %v, want 10 (burst 10, 5/s)", limited, took)
	}
	if status, code, _ := httpCall(t, ts.URL, "bob", "test.echo.Echo/Say"); status != 200 {
		t.Fatalf("another user's call answered %d %q", status, code)
	}
	if counterValue(n.metrics.refused.WithLabelValues("call_rate")) != float64(limited) {
		t.Errorf("call_rate refusals not counted")
	}
}
