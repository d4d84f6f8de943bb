package node

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// SPEC, Limits: an idempotency id repeated with the same request answers
// the first msg-id and delivers nothing; with another request it answers
// 409 with the first msg-id and delivers nothing; ids of different API keys
// never collide.
func TestIdempotencyIdsAreScopedPerKeyAndAnotherRequestConflicts(t *testing.T) {
	n := newTestNode(t, func(c *Config) { c.APIKeys = []string{"key-a", "key-b"} })
	api := httptest.NewServer(n.Handler())
	t.Cleanup(api.Close)
	alice := connect(t, n, "alice", "phone")
	bob := connect(t, n, "bob", "phone")

	type answer struct {
		status int
		ID     string `json:"id"`
		Error  struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	post := func(key, body string) answer {
		t.Helper()
		req, _ := http.NewRequest("POST", api.URL+"/v1/push", bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var a answer
		if err := json.NewDecoder(res.Body).Decode(&a); err != nil {
			t.Fatalf("answer %d: %v", res.StatusCode, err)
		}
		a.status = res.StatusCode
		return a
	}

	first := post("key-a", `{"to":{"users":["alice"]},"event":"paid","data":{"order":1},"ttl":60,"id":"order-1"}`)
	if first.status != 202 || first.ID == "" {
		t.Fatalf("first push: %+v", first)
	}
	// The same request again, formatted differently: a retry.
	again := post("key-a", `{"id":"order-1","ttl":60,"event":"paid","data":{ "order": 1 },"to":{"users":["alice"]}}`)
	if again.status != 202 || again.ID != first.ID {
		t.Fatalf("retry answered %+v, want 202 with %s", again, first.ID)
	}
	// Another request under the same id: refused, with the first msg-id.
	for _, body := range []string{
		`{"to":{"users":["bob"]},"event":"paid","data":{"order":1},"ttl":60,"id":"order-1"}`,
		`{"to":{"users":["alice"]},"event":"paid","data":{"order":2},"ttl":60,"id":"order-1"}`,
		`{"to":{"users":["alice"]},"event":"refund","data":{"order":1},"ttl":60,"id":"order-1"}`,
		`{"to":{"users":["alice"]},"event":"paid","data":{"order":1},"ttl":0,"id":"order-1"}`,
	} {
		if got := post("key-a", body); got.status != 409 || got.Error.Code != "conflict" || got.ID != first.ID {
			t.Fatalf("%s answered %+v, want 409 conflict with %s", body, got, first.ID)
		}
	}
	// Another key's id of the same name is its own.
	other := post("key-b", `{"to":{"users":["bob"]},"event":"paid","data":{"order":9},"ttl":60,"id":"order-1"}`)
	if other.status != 202 || other.ID == first.ID {
		t.Fatalf("key-b's push answered %+v (key-a's msg-id %s)", other, first.ID)
	}

	if got := metaOf(events(t, alice, "paid", 1)[0]); got.ID != first.ID {
		t.Fatalf("alice got %s, want %s", got.ID, first.ID)
	}
	if got := metaOf(events(t, bob, "paid", 1)[0]); got.ID != other.ID {
		t.Fatalf("bob got %s, want key-b's %s", got.ID, other.ID)
	}
	time.Sleep(100 * time.Millisecond) // what a conflict would wrongly deliver has arrived by now
	if len(alice.EmitsOf("paid")) != 1 || len(alice.EmitsOf("refund")) != 0 || len(bob.EmitsOf("paid")) != 1 {
		t.Fatalf("delivered: alice paid %d refund %d, bob paid %d; want 1, 0, 1",
			len(alice.EmitsOf("paid")), len(alice.EmitsOf("refund")), len(bob.EmitsOf("paid")))
	}
}
