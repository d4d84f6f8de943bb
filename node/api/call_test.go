package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"courier/node/command"
	"courier/node/errcode"
)

func withTokens(cfg Config) Config {
	cfg.VerifyToken = func(token string) (string, error) {
		if user, ok := strings.CutPrefix(token, "jwt-of-"); ok {
			return user, nil
		}
		return "", errors.New("signature invalid")
	}
	return cfg
}

func TestCallWithClientToken(t *testing.T) {
	ts, svc := newTestServer(t, withTokens(Config{MaxDataBytes: 100}))
	req, _ := http.NewRequest("POST", ts.URL+"/v1/call/trpc.app.echo.Echo/Say", strings.NewReader(`{"x":1}`))
	req.Header.Set("Authorization", "Bearer jwt-of-alice")
	req.Header.Set("X-Courier-Device", "phone")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	c := svc.calls[0]
	if c.Name != "/trpc.app.echo.Echo/Say" || c.User != "alice" || c.Device != "phone" || string(c.Data) != `{"x":1}` || c.TraceID == "" {
		t.Fatalf("call %+v", c)
	}

	cases := []struct {
		key, body string
		status    int
		code      string
	}{
		{"", `{}`, 401, "unauthorized"},
		{"k1", `{}`, 401, "unauthorized"}, // an API key is not a client token
		{"jwt-of-alice", `{"x":`, 400, "bad_request"},
		{"jwt-of-alice", `"` + strings.Repeat("x", 200) + `"`, 413, "payload_too_large"},
	}
	for _, c := range cases {
		status, body, _ := call(t, ts, "POST", "/v1/call/svc.S/M", c.key, c.body)
		if status != c.status || errorCode(body) != c.code {
			t.Errorf("%q %q: %d %v, want %d %s", c.key, c.body, status, body, c.status, c.code)
		}
	}

	// Names are bounded as on the socket.io path: a device or a user (from
	// a token) of over 256 bytes is refused and never reaches a backend.
	calls := len(svc.calls)
	for name, set := range map[string]func(*http.Request){
		"long device": func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer jwt-of-alice")
			r.Header.Set("X-Courier-Device", strings.Repeat("d", 257))
		},
		"long user": func(r *http.Request) { r.Header.Set("Authorization", "Bearer jwt-of-"+strings.Repeat("u", 257)) },
	} {
		req, _ := http.NewRequest("POST", ts.URL+"/v1/call/trpc.app.echo.Echo/Say", strings.NewReader(`{}`))
		set(req)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 400 {
			t.Errorf("%s: status %d, want 400", name, res.StatusCode)
		}
	}
	if len(svc.calls) != calls {
		t.Errorf("%d calls with bad names reached the service", len(svc.calls)-calls)
	}
}

func TestCallErrorsCarryTheTRPCCodes(t *testing.T) {
	ts, svc := newTestServer(t, withTokens(Config{}))
	svc.callErr = &command.Error{Code: errcode.BackendError, Message: "no such order", Ret: 0, FuncRet: 42}
	status, body, _ := call(t, ts, "POST", "/v1/call/svc.S/M", "jwt-of-bob", `{}`)
	e, _ := body["error"].(map[string]any)
	if status != 502 || e["code"] != "backend_error" || e["func_ret"] != float64(42) || e["message"] != "no such order" {
		t.Fatalf("%d %v", status, body)
	}
	for code, want := range map[errcode.Code]int{errcode.NotFound: 404, errcode.Timeout: 504, errcode.Unavailable: 503} {
		svc.callErr = &command.Error{Code: code, Message: "m"}
		if status, _, _ := call(t, ts, "POST", "/v1/call/svc.S/M", "jwt-of-bob", `{}`); status != want {
			t.Errorf("%s answered %d, want %d", code, status, want)
		}
	}
}

func TestDye(t *testing.T) {
	ts, svc := newTestServer(t, Config{})
	status, body, _ := call(t, ts, "PUT", "/v1/dye/alice", "k1", `{"env":"test"}`)
	if exp, err := time.Parse(time.RFC3339, fmt.Sprint(body["expires_at"])); status != 200 || body["env"] != "test" || err != nil || time.Until(exp) < 23*time.Hour {
		t.Fatalf("PUT: %d %v", status, body)
	}
	if status, body, _ := call(t, ts, "PUT", "/v1/dye/bob", "k1", `{"env":"qa","ttl":90}`); status != 200 || body["env"] != "qa" {
		t.Fatalf("PUT with ttl: %d %v", status, body)
	}
	if status, _, _ := call(t, ts, "DELETE", "/v1/dye/alice", "k1", ``); status != 200 {
		t.Fatalf("DELETE: %d", status)
	}
	for _, bad := range []string{`{"env":""}`, `{"env":"x","ttl":0}`, `{"env":"x","ttl":-5}`, `{"env":"x","ttl":2592001}`} {
		if status, body, _ := call(t, ts, "PUT", "/v1/dye/alice", "k1", bad); status != 400 || errorCode(body) != "bad_request" {
			t.Fatalf("%s: %d %v", bad, status, body)
		}
	}
	if status, _, _ := call(t, ts, "PUT", "/v1/dye/alice", "", `{"env":"x"}`); status != 401 {
		t.Fatalf("no key: %d", status)
	}
	if got := strings.Join(svc.dyes, " "); got != "alice=test/24h0m0s bob=qa/1m30s alice=/0s" {
		t.Fatalf("dyes %q", got)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/v1/dye", nil)
	req.Header.Set("Authorization", "Bearer k1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(raw) != `[{"user":"tester","env":"qa","expires_at":"2030-03-17T17:46:40Z"}]`+"\n" {
		t.Fatalf("GET /v1/dye: %d %s", res.StatusCode, raw)
	}
}
