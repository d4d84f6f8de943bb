package node

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"courier/router/redistest"
	"courier/router/testkit"
)

// Redis restarted (empty) during pushes: every push is either stored (202)
// or refused (503), never accepted and lost; the node rides it out and the
// registry learns its sessions again.
func TestRedisRestartDuringPushes(t *testing.T) {
	redis := redistest.StartRestartable(t)
	n := newTestNode(t, func(c *Config) { c.Redis = "redis://" + redis.Addr; c.HealInterval = 100 * time.Millisecond })
	startLoops(t, n)
	api := httptest.NewServer(n.Handler())
	t.Cleanup(api.Close)
	alice := connect(t, n, "alice", "phone")

	pushOnce := func() (int, string) {
		body := []byte(`{"to":{"users":["alice"]},"event":"news","data":1,"ttl":60}`)
		req, _ := http.NewRequest("POST", api.URL+"/v1/push", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct{ ID string }
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out.ID
	}
	var accepted []string
	statuses := map[int]int{}
	round := func(count int) {
		for i := 0; i < count; i++ {
			status, id := pushOnce()
			statuses[status]++
			switch status {
			case 202:
				accepted = append(accepted, id)
			case 503:
			default:
				t.Fatalf("push answered %d", status)
			}
		}
	}
	round(20)
	redis.Kill()
	round(20)
	testkit.Eventually(t, 5*time.Second, "/readyz 503 while the store is down", func() bool { return readyz(n) == http.StatusServiceUnavailable })
	if statuses[503] == 0 {
		t.Fatal("no push was refused while Redis was down")
	}
	redis.Start()
	testkit.Eventually(t, 5*time.Second, "pushes stored again", func() bool {
		status, id := pushOnce()
		if status == 202 {
			accepted = append(accepted, id)
		}
		return status == 202
	})
	round(20)
	testkit.Eventually(t, 5*time.Second, "/readyz 200 with the store back", func() bool { return readyz(n) == http.StatusOK })

	got := map[string]bool{}
	testkit.Eventually(t, 5*time.Second, "every accepted push delivered", func() bool {
		for _, e := range alice.EmitsOf("news") {
			got[metaOf(e).ID] = true
		}
		for _, id := range accepted {
			if !got[id] {
				return false
			}
		}
		return true
	})
	testkit.Eventually(t, 5*time.Second, "registry healed", func() bool {
		info, err := n.User(context.Background(), "alice")
		return err == nil && len(info.Sessions) == 1
	})
	t.Logf("statuses %v, %d accepted and delivered", statuses, len(accepted))
}
