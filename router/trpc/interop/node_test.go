package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	trpcgo "trpc.group/trpc-go/trpc-go"
	"trpc.group/trpc-go/trpc-go/errs"

	"courier/node"
	"courier/node/auth"
	"courier/router/testkit"
)

// startNode serves a real courier node (in-memory stores) whose commands
// for trpc.app.echo.* go to backend, with the tRPC push service on.
func startNode(t *testing.T, backend string) (api string, trpcAddr string) {
	return startNodeWith(t, backend, nil)
}

// startNodeWith is startNode with tune applied to the node's config.
func startNodeWith(t *testing.T, backend string, tune func(*node.Config)) (api string, trpcAddr string) {
	t.Helper()
	cfg := node.Config{
		Listen: "127.0.0.1:0", NodeID: "interop", APIKeys: []string{"key"}, JWTSecret: "secret",
		Routes: []string{"trpc.app.echo.*=" + backend}, TRPCListen: "127.0.0.1:0",
	}
	if tune != nil {
		tune(&cfg)
	}
	n, err := node.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	testkit.Eventually(t, 5*time.Second, "the node's tRPC server", func() bool { return n.TRPCAddr() != "" })
	return ln.Addr().String(), n.TRPCAddr()
}

// sioClient speaks just enough socket.io over a raw WebSocket for this test.
type sioClient struct {
	t    *testing.T
	conn net.Conn
	r    io.Reader // what the handshake read ahead, then the conn
}

func dialSIO(t *testing.T, api, token string) *sioClient {
	return dialSIOWith(t, api, token, nil)
}

// dialSIOWith is dialSIO sending header with the handshake.
func dialSIOWith(t *testing.T, api, token string, header http.Header) *sioClient {
	t.Helper()
	conn, br, _, err := ws.Dialer{Header: ws.HandshakeHeaderHTTP(header)}.Dial(context.Background(), "ws://"+api+"/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &sioClient{t: t, conn: conn, r: conn}
	if br != nil { // the server may send OPEN in the same write as its 101
		c.r = io.MultiReader(br, conn)
	}
	if m := c.next(); !strings.HasPrefix(m, "0{") {
		t.Fatalf("want OPEN, got %q", m)
	}
	c.send(`40{"token":"` + token + `","device":"interop"}`)
	if m := c.next(); !strings.HasPrefix(m, `40{"sid"`) {
		t.Fatalf("want CONNECT, got %q", m)
	}
	return c
}

func (c *sioClient) send(m string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, []byte(m)); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next socket.io packet, answering pings on the way.
func (c *sioClient) next() string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		b, err := wsutil.ReadServerText(struct {
			io.Reader
			io.Writer
		}{c.r, c.conn})
		if err != nil {
			c.t.Fatal(err)
		}
		if string(b) == "2" {
			c.send("3")
			continue
		}
		return string(b)
	}
}

// A client's cmd event and HTTP call reach a real tRPC-Go server through
// the node, and a real tRPC-Go client pushes through the node's push service.
func TestNodeWithRealTRPCGo(t *testing.T) {
	backend := StartJSONServer(t, echoService, map[string]JSONMethod{
		echoSay: func(ctx context.Context, req any) (any, error) {
			return map[string]any{"echo": req, "user": string(trpcgo.GetMetaData(ctx, "courier-user"))}, nil
		},
		"/trpc.app.echo.Echo/Fail": func(ctx context.Context, req any) (any, error) {
			return nil, errs.New(1001, "no such order")
		},
	})
	api, trpcAddr := startNode(t, backend)
	token, _ := auth.Sign([]byte("secret"), auth.Claims{Sub: "alice"})
	c := dialSIO(t, api, token)

	c.send(`421["cmd",{"name":"` + echoSay + `","data":{"q":1}}]`)
	if m := c.next(); m != `431[{"data":{"echo":{"q":1},"user":"alice"},"ok":true}]` {
		t.Fatalf("cmd answered %q", m)
	}
	c.send(`422["cmd",{"name":"/trpc.app.echo.Echo/Fail"}]`)
	if m := c.next(); !strings.Contains(m, `"func_ret":1001`) || !strings.Contains(m, `"ok":false`) || !strings.Contains(m, "no such order") {
		t.Fatalf("failing cmd answered %q", m)
	}

	req, _ := http.NewRequest("POST", "http://"+api+"/v1/call/trpc.app.echo.Echo/Say", bytes.NewReader([]byte(`{"q":2}`)))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != `{"echo":{"q":2},"user":"alice"}` {
		t.Fatalf("HTTP call: %d %s", res.StatusCode, body)
	}

	// a real tRPC-Go client pushes to alice through the push service
	push := map[string]any{"to": map[string]any{"users": []string{"alice"}}, "event": "news", "data": map[string]any{"x": 1}, "ttl": 60}
	var out struct {
		ID string `json:"id"`
	}
	// without the API key in trans_info the push service refuses (401)
	if err := Invoke(context.Background(), trpcAddr, "trpc.courier.push.Push", "/trpc.courier.push.Push/Send", push, &out, nil); errs.Code(err) != 401 {
		t.Fatalf("push without an API key: %v", err)
	}
	authorized := map[string][]byte{"authorization": []byte("Bearer key")}
	if err := Invoke(context.Background(), trpcAddr, "trpc.courier.push.Push", "/trpc.courier.push.Push/Send", push, &out, authorized); err != nil {
		t.Fatal(err)
	}
	m := c.next()
	if !strings.HasPrefix(m, "42") || !strings.Contains(m, `"news"`) || !strings.Contains(m, `"id":"`+out.ID+`"`) {
		t.Fatalf("pushed %s, client got %q", out.ID, m)
	}
	var packet []json.RawMessage
	if err := json.Unmarshal([]byte(m[strings.Index(m, "["):]), &packet); err != nil || string(packet[1]) != `{"x":1}` {
		t.Fatalf("push packet %q", m)
	}
	// a refused push comes back to the tRPC-Go client as its error code
	push["event"] = "connect"
	if err := Invoke(context.Background(), trpcAddr, "trpc.courier.push.Push", "/trpc.courier.push.Push/Send", push, &out, authorized); errs.Code(err) != 400 {
		t.Fatalf("reserved event: %v", err)
	}
}

// What a backend learns of a command's origin, read by a real tRPC-Go server:
// the client IP (X-Forwarded-For believed from a trusted proxy, the socket's
// peer otherwise), the forwarded headers, and a dyed user's dyeing key and
// message type bit, for GET /v1/call (the query as the body) and for `cmd`.
func TestNodeForwardsOriginAndDyeToRealTRPCGo(t *testing.T) {
	backend := StartJSONServer(t, echoService, map[string]JSONMethod{
		"/trpc.app.echo.Echo/Who": func(ctx context.Context, req any) (any, error) {
			msg := trpcgo.Message(ctx)
			return map[string]any{
				"body": req, "ip": string(trpcgo.GetMetaData(ctx, "courier-client-ip")),
				"ua": string(trpcgo.GetMetaData(ctx, "courier-h-user-agent")), "dyeing": msg.Dyeing(), "dyeing_key": msg.DyeingKey(),
			}, nil
		},
	})
	api, _ := startNodeWith(t, backend, func(c *node.Config) { c.TrustedProxies = []string{"127.0.0.1/32"} })
	token, _ := auth.Sign([]byte("secret"), auth.Claims{Sub: "alice"})

	get := func() map[string]any {
		req, _ := http.NewRequest("GET", "http://"+api+"/v1/call/trpc.app.echo.Echo/Who?q=1&tag=a&tag=b", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("User-Agent", "MiniProgram/1.0")
		req.Header.Set("X-Forwarded-For", "198.51.100.9")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 {
			t.Fatalf("GET call: %d %v", res.StatusCode, err)
		}
		return out
	}
	got := get()
	if b, _ := json.Marshal(got["body"]); string(b) != `{"q":"1","tag":["a","b"]}` || got["ip"] != "198.51.100.9" || got["ua"] != "MiniProgram/1.0" || got["dyeing"] != false {
		t.Fatalf("GET call seen by the backend: %v", got)
	}

	req, _ := http.NewRequest("PUT", "http://"+api+"/v1/dye/alice", strings.NewReader(`{"env":"qa"}`))
	req.Header.Set("Authorization", "Bearer key")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("dye: %v %v", res, err)
	}
	if got := get(); got["dyeing"] != true || got["dyeing_key"] != "qa" {
		t.Fatalf("a dyed user's call seen by the backend: %v", got)
	}

	c := dialSIOWith(t, api, token, http.Header{"User-Agent": {"CocosCreator/3.8"}})
	c.send(`421["cmd",{"name":"/trpc.app.echo.Echo/Who","data":{"x":1}}]`)
	m := c.next()
	for _, want := range []string{`"ip":"127.0.0.1"`, `"ua":"CocosCreator/3.8"`, `"dyeing":true`, `"dyeing_key":"qa"`, `"body":{"x":1}`} {
		if !strings.Contains(m, want) {
			t.Fatalf("cmd seen by the backend: %s (want %s)", m, want)
		}
	}
}

// A tRPC-Go auth hook (--auth-hook trpc://host:port/pkg.Service/Method): a
// client with a session cookie and no courier token is who the hook says;
// func_ret 401 refuses with connect_error {code: 401}.
func TestNodeWithRealTRPCGoAuthHook(t *testing.T) {
	hook := StartJSONServer(t, "trpc.shop.auth.Auth", map[string]JSONMethod{
		"/trpc.shop.auth.Auth/Check": func(ctx context.Context, req any) (any, error) {
			ask, _ := req.(map[string]any)
			headers, _ := ask["headers"].(map[string]any)
			if headers["cookie"] == "session=carol" {
				return map[string]any{"user": "carol", "rooms": []string{"lobby"}, "expires_in": 30}, nil
			}
			return nil, errs.New(401, "log in first")
		},
	})
	api, _ := startNodeWith(t, hook, func(c *node.Config) { c.AuthHook = "trpc://" + hook + "/trpc.shop.auth.Auth/Check" })

	c := dialSIOWith(t, api, "", http.Header{"Cookie": {"session=carol"}})
	c.send(`421["join",{"room":"lobby"}]`)
	if m := c.next(); m != `431[{"ok":true}]` {
		t.Fatalf("join as the hook's user: %q", m)
	}
	conn, br, _, err := ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Cookie": {"session=mallory"}})}.Dial(context.Background(), "ws://"+api+"/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	refused := &sioClient{t: t, conn: conn, r: conn}
	if br != nil {
		refused.r = io.MultiReader(br, conn)
	}
	refused.next() // OPEN
	refused.send(`40{"device":"d"}`)
	if m := refused.next(); !strings.HasPrefix(m, "44") || !strings.Contains(m, `"code":401`) {
		t.Fatalf("a cookie the hook refuses: %q", m)
	}
}
