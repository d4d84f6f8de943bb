package node

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"courier/node/auth"
)

// An existing HTTP interface serves commands unchanged, from a client's cmd
// event and from GET/POST /v1/call, through the --route flag.
func TestCommandsReachAnHTTPBackend(t *testing.T) {
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "got": json.RawMessage(body), "user": r.Header.Get("X-Courier-User"),
			"ip": r.Header.Get("X-Courier-Client-Ip")})
	}))
	defer shop.Close()
	n := newTestNode(t, func(c *Config) { c.Routes = []string{"trpc.app.shop.*=" + shop.URL + "/legacy"} })
	c := connect(t, n, "alice", "phone")
	res := c.Ask(3*time.Second, "cmd", map[string]any{"name": "/trpc.app.shop.Shop/Price", "data": map[string]any{"sku": 7.0}})[0].(map[string]any)
	var data map[string]any
	if raw, _ := res["data"].(json.RawMessage); res["ok"] != true || json.Unmarshal(raw, &data) != nil {
		t.Fatalf("cmd answered %v", res)
	}
	if got, _ := json.Marshal(data["got"]); data["path"] != "/legacy/trpc.app.shop.Shop/Price" || data["user"] != "alice" || string(got) != `{"sku":7}` {
		t.Fatalf("the HTTP backend saw %v", data)
	}

	ts := httptest.NewServer(n.Handler())
	defer ts.Close()
	token, _ := auth.Sign([]byte("s"), auth.Claims{Sub: "bob"})
	req, _ := http.NewRequest("GET", ts.URL+"/v1/call/trpc.app.shop.Shop/Price?sku=9", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	_ = json.NewDecoder(r.Body).Decode(&out)
	r.Body.Close()
	if got, _ := json.Marshal(out["got"]); r.StatusCode != 200 || out["user"] != "bob" || string(got) != `{"sku":"9"}` || out["ip"] != "127.0.0.1" {
		t.Fatalf("GET /v1/call answered %d %v", r.StatusCode, out)
	}
}
