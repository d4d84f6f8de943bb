package polls

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"courier/router/testkit"
)

func TestHTTP(t *testing.T) {
	t.Parallel()
	store := NewMemory(Config{})
	mux := http.NewServeMux()
	Routes(mux, store, testkit.LoggerAt(t, slog.LevelDebug))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	do := func(method, path, body string, wantStatus int) string {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != wantStatus {
			t.Fatalf("%s %s = %d %s; want %d", method, path, res.StatusCode, b, wantStatus)
		}
		return string(b)
	}
	task := `{"name":"score","cmd":"/game.Score/Get","data":{"match":7},"interval":"30s",
		"to":{"rooms":["match-7"]},"event":"score","ttl":60}`
	got := do("POST", "/v1/polls", task, http.StatusCreated)
	if !strings.Contains(got, `"interval":30`) || !strings.Contains(got, `"name":"score"`) {
		t.Fatalf("created %s", got)
	}
	do("POST", "/v1/polls", task, http.StatusOK) // replaced

	for body, code := range map[string]string{
		`{"name":"x"`: `"bad_request"`,
		strings.Replace(task, `"event":"score"`, `"event":"connect"`, 1): `"reserved_event"`,
		strings.Replace(task, `"30s"`, `0.5`, 1):                         `between 1s and 24h`,
		strings.Replace(task, `"score","cmd"`, `"a b","cmd"`, 1):         `may hold only letters`,
	} {
		if out := do("POST", "/v1/polls", body, http.StatusBadRequest); !strings.Contains(out, code) {
			t.Errorf("POST %s answered %s; want %s", body, out, code)
		}
	}

	// Running: a holder and a last run show up in the listing.
	tok, ok, _ := store.Acquire(t.Context(), "score", "node-a", time.Minute)
	if !ok {
		t.Fatal("could not acquire")
	}
	if ok, _ := store.SetLastResult(t.Context(), "score", tok, "h"); !ok {
		t.Fatal("could not record a result")
	}
	var list struct {
		Polls []map[string]any `json:"polls"`
	}
	if err := json.Unmarshal([]byte(do("GET", "/v1/polls", "", http.StatusOK)), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Polls) != 1 {
		t.Fatalf("listed %v", list.Polls)
	}
	p := list.Polls[0]
	if p["name"] != "score" || p["node"] != "node-a" || p["interval"] != 30.0 || p["last_run"] == nil || p["ttl"] != 60.0 {
		t.Fatalf("listed %v", p)
	}
	if one := do("GET", "/v1/polls/score", "", http.StatusOK); !strings.Contains(one, `"node":"node-a"`) {
		t.Fatalf("GET one = %s", one)
	}

	do("GET", "/v1/polls/nope", "", http.StatusNotFound)
	do("DELETE", "/v1/polls/nope", "", http.StatusNotFound)
	do("PUT", "/v1/polls", task, http.StatusMethodNotAllowed)
	do("POST", "/v1/polls/score", task, http.StatusMethodNotAllowed)
	do("DELETE", "/v1/polls/score", "", http.StatusNoContent)
	if out := do("GET", "/v1/polls", "", http.StatusOK); strings.TrimSpace(out) != `{"polls":[]}` {
		t.Fatalf("after delete: %s", out)
	}
	do("POST", "/v1/polls", `{"data":"`+strings.Repeat("x", maxBody)+`"}`, http.StatusRequestEntityTooLarge)
}
