package node

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"courier/node/api"
	"courier/node/auth"
	"courier/node/command"
	"courier/node/errcode"
	"courier/router/trpc"
)

// echoBackend is a tRPC server answering /test.echo.Echo/Say with what it
// got and who asked (from trans_info).
func echoBackend(t *testing.T) string {
	t.Helper()
	srv, err := trpc.NewServer(trpc.ServerConfig{Listen: "127.0.0.1:0"}, map[string]trpc.Handler{
		"/test.echo.Echo/Say": func(ctx context.Context, req *trpc.ServerRequest) *trpc.ServerResponse {
			body, _ := json.Marshal(map[string]any{"got": json.RawMessage(req.Body), "user": string(req.TransInfo[command.TransUser]),
				"env": string(req.TransInfo[command.TransEnv])})
			return &trpc.ServerResponse{Body: body, ContentType: trpc.ContentTypeJSON}
		},
		"/test.echo.Echo/Fail": func(ctx context.Context, req *trpc.ServerRequest) *trpc.ServerResponse {
			return &trpc.ServerResponse{FuncRet: 1001, ErrorMsg: "order not found"}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Addr().String()
}

func TestCommandsReachATRPCBackend(t *testing.T) {
	addr := echoBackend(t)
	testAddr := echoBackend(t)
	n := newTestNode(t, func(c *Config) {
		c.Commands = []command.Route{{Pattern: "test.echo.*", Addrs: []string{addr}, Envs: map[string][]string{"qa": {testAddr}}}}
	})
	c := connect(t, n, "alice", "phone")
	res := c.Ask(3*time.Second, "cmd", map[string]any{"name": "/test.echo.Echo/Say", "data": map[string]any{"q": 1.0}})[0].(map[string]any)
	if res["ok"] != true || string(res["data"].(json.RawMessage)) != `{"env":"","got":{"q":1},"user":"alice"}` {
		t.Fatalf("cmd answered %v", res)
	}
	res = c.Ask(3*time.Second, "cmd", map[string]any{"name": "/test.echo.Echo/Fail"})[0].(map[string]any)
	if e := res["error"].(*command.Error); e.FuncRet != 1001 || e.Message != "order not found" {
		t.Fatalf("failed cmd answered %+v", e)
	}

	// over HTTP with the client's JWT, after the user is dyed into "qa"
	if err := n.SetDye(context.Background(), "alice", "qa", time.Hour); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(n.Handler())
	t.Cleanup(ts.Close)
	token, _ := auth.Sign([]byte("s"), auth.Claims{Sub: "alice"})
	req, _ := http.NewRequest("POST", ts.URL+"/v1/call/test.echo.Echo/Say", strings.NewReader(`{"q":2}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 200 || body["env"] != "qa" || body["user"] != "alice" {
		t.Fatalf("HTTP call: %d %v", resp.StatusCode, body)
	}
}

func TestDeadBackendAnswersWithinTheTimeout(t *testing.T) {
	n := newTestNode(t, func(c *Config) {
		c.Routes = []string{"test.dead.*=127.0.0.1:1"} // nothing listens there
		c.CallTimeout = 500 * time.Millisecond
	})
	c := connect(t, n, "alice", "phone")
	start := time.Now()
	ack := c.Ask(3*time.Second, "cmd", map[string]any{"name": "/test.dead.D/M"})
	if ack == nil {
		t.Fatal("no answer")
	}
	res := ack[0].(map[string]any)
	if e := res["error"].(*command.Error); e.Code != "unavailable" && e.Code != "timeout" || time.Since(start) > 2*time.Second {
		t.Fatalf("dead backend: %+v after %v", e, time.Since(start))
	}
	res = c.Ask(3*time.Second, "cmd", map[string]any{"name": "/nowhere.N/M"})[0].(map[string]any)
	if e := res["error"].(*command.Error); e.Code != "not_found" {
		t.Fatalf("unrouted: %+v", e)
	}
}

func TestPushOverTRPC(t *testing.T) {
	n := newTestNode(t, func(c *Config) { c.TRPCListen = "127.0.0.1:0" })
	serve(t, n)
	alice := connect(t, n, "alice", "phone")
	pool, err := trpc.NewPool(trpc.PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	callWith := func(authorization, body string) (*trpc.CallResponse, error) {
		var info map[string][]byte
		if authorization != "" {
			info = map[string][]byte{api.AuthorizationKey: []byte(authorization)}
		}
		return pool.Call(context.Background(), n.TRPCAddr(), &trpc.CallRequest{
			Callee: "trpc.courier.push.Push", Func: api.PushFunc, Body: []byte(body), ContentType: trpc.ContentTypeJSON, TransInfo: info})
	}
	call := func(body string) (*trpc.CallResponse, error) { return callWith("Bearer k", body) }
	// Anyone who can reach the port is not a backend: an API key is required.
	for _, authorization := range []string{"", "Bearer wrong", "k", "Bearer "} {
		_, err := callWith(authorization, `{"to":{"all":true},"event":"news","ttl":600}`)
		var te *trpc.Error
		if !errors.As(err, &te) || te.FuncRet != 401 || !strings.Contains(te.Msg, "unauthorized") {
			t.Fatalf("push with authorization %q answered %v, want 401", authorization, err)
		}
	}
	res, err := call(`{"to":{"users":["alice"]},"event":"news","data":{"a":1},"ttl":60}`)
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ ID string }
	if res.FuncRet != 0 || json.Unmarshal(res.Body, &out) != nil || out.ID == "" {
		t.Fatalf("push answered %+v", res)
	}
	if m := metaOf(events(t, alice, "news", 1)[0]); m.ID != out.ID {
		t.Fatalf("delivered %s, pushed %s", m.ID, out.ID)
	}
	_, err = call(`{"to":{"users":["alice"]},"event":"connect"}`)
	var te *trpc.Error
	if !errors.As(err, &te) || te.FuncRet != 400 || !strings.Contains(te.Msg, "reserved_event") {
		t.Fatalf("reserved event answered %v", err)
	}
}

// A `cmd` event's data has the bound of POST /v1/call's body: over it the
// ack is payload_too_large and nothing reaches a backend.
func TestCmdDataIsBoundLikeHTTPCalls(t *testing.T) {
	n := newTestNode(t, func(c *Config) { c.MaxDataBytes = 1000; c.Routes = []string{"trpc.app.echo.*=127.0.0.1:1"} })
	c := connect(t, n, "alice", "phone")
	res := c.Ask(3*time.Second, "cmd", map[string]any{"name": "/trpc.app.echo.Echo/Say", "data": strings.Repeat("x", 1001)})[0].(map[string]any)
	var e *errcode.Error
	if err, _ := res["error"].(error); res["ok"] != false || !errors.As(err, &e) || e.Code != errcode.TooLarge {
		t.Fatalf("oversized cmd acked %v", res)
	}
	// Just under the bound it is a call (to a backend that is not there).
	res = c.Ask(5*time.Second, "cmd", map[string]any{"name": "/trpc.app.echo.Echo/Say", "data": strings.Repeat("x", 990)})[0].(map[string]any)
	if err, _ := res["error"].(error); errors.As(err, &e) && e.Code == errcode.TooLarge {
		t.Fatalf("cmd within the bound refused as too large: %v", res)
	}
}
