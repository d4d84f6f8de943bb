package node

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"courier/node/push"
	"courier/router/redistest"
	"courier/router/testkit"
)

// GET /v1/users/{user}/mailbox shows each device's cursor, pending
// messages and remembered rooms, on a real Redis, and looking changes
// nothing; GET /v1/rooms/{room} adds members per node and the room's log.
func TestMailboxAndRoomAsTheOperatorSeesThem(t *testing.T) {
	n := newTestNode(t, func(c *Config) { c.Redis = "redis://" + redistest.StartServer(t) })
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(srv.Close)
	phone := connect(t, n, "alice", "phone", "lobby")
	connect(t, n, "alice", "tablet", "lobby")
	apiCall(t, "POST", srv.URL+"/v1/rooms/lobby/join", `{"users":["alice"]}`)
	for _, ev := range []string{"a", "b", "c"} {
		doPush(t, n, push.Request{To: push.Target{Users: []string{"alice"}}, Event: ev, TTL: ttl(60)})
	}
	doPush(t, n, push.Request{To: push.Target{Rooms: []string{"lobby"}}, Event: "news", TTL: ttl(60)})
	got := events(t, phone, "a", 1)
	got[0].Ack(nil)
	events(t, phone, "b", 1)[0].Ack(nil)
	testkit.Eventually(t, 3*time.Second, "the phone's acks stored", func() bool {
		n.sessionOpts.FlushAcks(t.Context())
		mb := getJSON[struct {
			Devices []struct {
				Device  string
				Cursor  uint64
				Rooms   []string
				Pending []struct {
					ID    string
					Seq   uint64
					Event string
				}
			}
			LastSeq uint64 `json:"last_seq"`
			Held    int
		}](t, srv.URL+"/v1/users/alice/mailbox")
		if len(mb.Devices) != 2 || mb.LastSeq != 3 || mb.Held != 3 {
			return false
		}
		p, tab := mb.Devices[0], mb.Devices[1]
		return p.Device == "phone" && p.Cursor == 2 && len(p.Pending) == 1 && p.Pending[0].Event == "c" && p.Pending[0].Seq == 3 &&
			len(p.Rooms) == 1 && p.Rooms[0] == "lobby" && tab.Device == "tablet" && len(tab.Pending) >= 2
	})
	room := getJSON[struct {
		Members       int
		MembersByNode map[string]int `json:"members_by_node"`
		LastSeq       uint64         `json:"last_seq"`
		Recent        []struct{ Event string }
	}](t, srv.URL+"/v1/rooms/lobby")
	if room.MembersByNode["n1"] != room.Members || room.Members == 0 || room.LastSeq != 1 || len(room.Recent) != 1 || room.Recent[0].Event != "news" {
		t.Fatalf("room = %+v", room)
	}
}

// PUT /v1/admin/log-level changes this node's level, or every node's.
func TestLogLevelChangesAtRunTime(t *testing.T) {
	var levels []*slog.LevelVar
	tc := startClusterTuned(t, 2, func(c *Config) {
		c.LogLevel = new(slog.LevelVar)
		levels = append(levels, c.LogLevel)
	})
	srv := httptest.NewServer(tc.nodes[0].Handler())
	t.Cleanup(srv.Close)
	apiCall(t, "PUT", srv.URL+"/v1/admin/log-level", `{"level":"warn"}`)
	if levels[0].Level() != slog.LevelWarn || levels[1].Level() != slog.LevelInfo {
		t.Fatalf("levels after a node's change = %v, %v; want WARN, INFO", levels[0].Level(), levels[1].Level())
	}
	if got := getJSON[struct{ Level string }](t, srv.URL+"/v1/admin/log-level"); got.Level != "warn" {
		t.Fatalf("GET log-level = %q", got.Level)
	}
	testkit.Eventually(t, 3*time.Second, "both nodes at debug", func() bool {
		apiCall(t, "PUT", srv.URL+"/v1/admin/log-level", `{"level":"debug","cluster":true}`)
		return levels[0].Level() == slog.LevelDebug && levels[1].Level() == slog.LevelDebug
	})
	req := httptest.NewRequest("PUT", "/v1/admin/log-level", strings.NewReader(`{"level":"loud"}`))
	req.Header.Set("Authorization", "Bearer k")
	rec := httptest.NewRecorder()
	tc.nodes[0].Handler().ServeHTTP(rec, req)
	if rec.Code != 400 {
		t.Fatalf("level loud = %d %s; want 400", rec.Code, rec.Body)
	}
}

func getJSON[T any](t *testing.T, url string) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(apiCall(t, "GET", url, "").Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
