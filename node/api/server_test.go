package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"courier/node/command"
	"courier/node/errcode"
	"courier/node/hub"
	"courier/node/peers"
	"courier/node/push"
	"courier/node/trace"
	"courier/router/opsbus"
	"courier/router/registry"
)

type fakeService struct {
	pushed  []*push.Request
	err     error
	dyes    []string
	calls   []command.Request
	callErr error
}

func (f *fakeService) Push(_ context.Context, r *push.Request) (push.Result, error) {
	if f.err != nil {
		return push.Result{}, f.err
	}
	f.pushed = append(f.pushed, r)
	return push.Result{ID: "m1"}, nil
}
func (f *fakeService) JoinRoom(context.Context, string, []string) error  { return f.err }
func (f *fakeService) LeaveRoom(context.Context, string, []string) error { return f.err }
func (f *fakeService) User(_ context.Context, u string) (hub.UserInfo, error) {
	return hub.UserInfo{User: u}, f.err
}
func (f *fakeService) Room(_ context.Context, r string) (hub.RoomInfo, error) {
	return hub.RoomInfo{Room: r}, f.err
}
func (f *fakeService) DisconnectUser(context.Context, string) (int, error) { return 2, f.err }
func (f *fakeService) SetDye(_ context.Context, user, env string, ttl time.Duration) error {
	f.dyes = append(f.dyes, user+"="+env+"/"+ttl.String())
	return f.err
}
func (f *fakeService) Dyes(context.Context) ([]registry.Dye, error) {
	return []registry.Dye{{User: "tester", Env: "qa", Expires: time.UnixMilli(1_900_000_000_000)}}, f.err
}
func (f *fakeService) Call(_ context.Context, req command.Request) (json.RawMessage, error) {
	f.calls = append(f.calls, req)
	if f.callErr != nil {
		return nil, f.callErr
	}
	return json.RawMessage(`{"echo":` + string(req.Data) + `}`), nil
}
func (f *fakeService) Watch(context.Context, string) (<-chan opsbus.Event, error) { return nil, f.err }
func (f *fakeService) TraceRecord(context.Context, string) ([]opsbus.Event, error) {
	return nil, f.err
}
func (f *fakeService) Mailbox(_ context.Context, u string) (hub.MailboxInfo, error) {
	return hub.MailboxInfo{User: u}, f.err
}
func (f *fakeService) LogLevel() string                                { return "info" }
func (f *fakeService) SetLogLevel(context.Context, string, bool) error { return f.err }
func (f *fakeService) Cluster(context.Context) (peers.ClusterInfo, error) {
	return peers.ClusterInfo{}, f.err
}

func newTestServer(t *testing.T, cfg Config) (*httptest.Server, *fakeService) {
	t.Helper()
	svc := &fakeService{}
	if cfg.Keys == nil {
		cfg.Keys = []string{"k1", "k2"}
	}
	s, err := New(cfg, svc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, svc
}

func call(t *testing.T, ts *httptest.Server, method, path, key, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s answered non-JSON %q", method, path, raw)
	}
	return resp.StatusCode, out, resp.Header
}

func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	if msg, _ := e["message"].(string); msg == "" {
		return "(no message)"
	}
	return code
}

func TestPushAccepted(t *testing.T) {
	ts, svc := newTestServer(t, Config{})
	status, body, hdr := call(t, ts, "POST", "/v1/push", "k2", `{"to":{"users":["u"]},"event":"e","data":{"a":1},"ttl":0,"id":"x"}`)
	if status != 202 || body["id"] != "m1" {
		t.Fatalf("got %d %v", status, body)
	}
	if hdr.Get(trace.Header) == "" {
		t.Error("no trace id header")
	}
	p := svc.pushed[0]
	if p.TTL == nil || *p.TTL != 0 || string(p.Data) != `{"a":1}` || p.ID != "x" {
		t.Fatalf("request decoded as %+v", p)
	}
}

func TestErrors(t *testing.T) {
	ts, _ := newTestServer(t, Config{MaxDataBytes: 100})
	// Past the data limit and all that may surround it: refused unread. (Data
	// just over its limit is the push contract's to refuse: node/push.)
	big := `{"to":{"users":["u"]},"event":"e","data":"` + strings.Repeat("x", 100+maxEnvelope) + `"}`
	cases := []struct {
		method, path, key, body string
		status                  int
		code                    string
	}{
		{"POST", "/v1/push", "", `{}`, 401, "unauthorized"},
		{"POST", "/v1/push", "nope", `{}`, 401, "unauthorized"},
		{"POST", "/v1/push", "k1", `{"to":`, 400, "bad_request"},
		{"POST", "/v1/push", "k1", big, 413, "payload_too_large"},
		{"GET", "/v1/nothing", "k1", ``, 404, "not_found"},
		{"GET", "/v1/push", "k1", ``, 405, "method_not_allowed"},
		{"DELETE", "/v1/users/u", "k1", ``, 405, "method_not_allowed"},
		{"POST", "/v1/rooms/r/join", "k1", `{"users":[]}`, 400, "bad_request"},
		{"POST", "/v1/rooms/r/join", "k1", `[1]`, 400, "bad_request"},
	}
	for _, c := range cases {
		status, body, _ := call(t, ts, c.method, c.path, c.key, c.body)
		if status != c.status || errorCode(body) != c.code {
			t.Errorf("%s %s: got %d %v, want %d %s", c.method, c.path, status, body, c.status, c.code)
		}
	}
}

func TestServiceErrorsKeepTheirCode(t *testing.T) {
	ts, svc := newTestServer(t, Config{})
	svc.err = errcode.New(errcode.Unavailable, "store down")
	status, body, _ := call(t, ts, "POST", "/v1/push", "k1", `{"to":{"all":true},"event":"e"}`)
	if status != 503 || errorCode(body) != "unavailable" {
		t.Fatalf("got %d %v", status, body)
	}
	svc.err = io.ErrUnexpectedEOF // not coded: a 500 that names the trace id
	status, body, hdr := call(t, ts, "GET", "/v1/users/u", "k1", "")
	msg := body["error"].(map[string]any)["message"].(string)
	if status != 500 || !strings.Contains(msg, hdr.Get(trace.Header)) {
		t.Fatalf("got %d %v", status, body)
	}
}

func TestRateLimitPerKey(t *testing.T) {
	now := time.Unix(0, 0)
	ts, _ := newTestServer(t, Config{RatePerKey: 3, Now: func() time.Time { return now }})
	for i := 0; i < 3; i++ {
		if status, _, _ := call(t, ts, "GET", "/v1/cluster", "k1", ""); status != 200 {
			t.Fatalf("call %d: %d", i, status)
		}
	}
	status, body, hdr := call(t, ts, "GET", "/v1/cluster", "k1", "")
	if status != 429 || errorCode(body) != "rate_limited" || hdr.Get("Retry-After") == "" {
		t.Fatalf("4th call: %d %v", status, body)
	}
	if status, _, _ := call(t, ts, "GET", "/v1/cluster", "k2", ""); status != 200 {
		t.Fatalf("other key limited too: %d", status)
	}
	now = now.Add(time.Second)
	if status, _, _ := call(t, ts, "GET", "/v1/cluster", "k1", ""); status != 200 {
		t.Fatalf("after refill: %d", status)
	}
}

func TestTraceIDIsKeptFromCaller(t *testing.T) {
	ts, _ := newTestServer(t, Config{})
	req, _ := http.NewRequest("GET", ts.URL+"/v1/cluster", nil)
	req.Header.Set("Authorization", "Bearer k1")
	req.Header.Set(trace.Header, "abc123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get(trace.Header) != "abc123" {
		t.Fatalf("trace id %q", resp.Header.Get(trace.Header))
	}
}

func TestRateBelowOnePerSecond(t *testing.T) {
	now := time.Unix(0, 0)
	ts, _ := newTestServer(t, Config{RatePerKey: 0.5, Now: func() time.Time { return now }})
	if status, _, _ := call(t, ts, "GET", "/v1/cluster", "k1", ""); status != 200 {
		t.Fatalf("first call at 0.5/s: %d", status)
	}
	if status, _, _ := call(t, ts, "GET", "/v1/cluster", "k1", ""); status != 429 {
		t.Fatalf("second call at once: %d", status)
	}
	now = now.Add(2 * time.Second)
	if status, _, _ := call(t, ts, "GET", "/v1/cluster", "k1", ""); status != 200 {
		t.Fatalf("after 2 s: %d", status)
	}
}

// A route mounted by another package answers a wrong method 405, not the
// catch-all's 404: the known paths come from the routes themselves.
func TestMountedRoutesTellWrongMethodFromUnknownPath(t *testing.T) {
	s, err := New(Config{Keys: []string{"k1"}}, &fakeService{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.Handle("GET /v1/extra/{name}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"name": r.PathValue("name")})
	}))
	s.Handle("POST /v1/extra", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/extra/a", 200},
		{"DELETE", "/v1/extra/a", 405},
		{"GET", "/v1/extra", 405},
		{"GET", "/v1/extra/a/b", 404},
		{"PUT", "/v1/cluster", 405},
		{"GET", "/v1/rooms/r/join", 405},
		{"GET", "/v1/rooms/r/nothing", 404},
	} {
		if status, body, _ := call(t, ts, c.method, c.path, "k1", ""); status != c.status {
			t.Errorf("%s %s: %d %v, want %d", c.method, c.path, status, body, c.status)
		}
	}
}
