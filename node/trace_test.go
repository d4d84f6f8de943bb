package node

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"courier/node/command"
	"courier/router/opsbus"
	"courier/router/testkit"
)

// traceStream reads GET /v1/trace?user=U as a client would: one event per
// "data:" line.
type traceStream struct {
	t      *testing.T
	events chan opsbus.Event
}

func openTrace(t *testing.T, base, query string) *traceStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/trace?"+query, nil)
	req.Header.Set("Authorization", "Bearer k")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /v1/trace?%s: %s %s", query, res.Status, res.Header.Get("Content-Type"))
	}
	s := &traceStream{t: t, events: make(chan opsbus.Event, 256)}
	go func() {
		defer res.Body.Close()
		defer close(s.events)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var ev opsbus.Event
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					t.Errorf("trace event %q: %v", data, err)
					return
				}
				s.events <- ev
			}
		}
	}()
	return s
}

// next waits at most a second for the next event and checks its type and
// node.
func (s *traceStream) next(typ, node string) opsbus.Event {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatalf("trace ended; want a %s event from %s", typ, node)
		}
		if ev.Type != typ || ev.Node != node {
			s.t.Fatalf("trace event %+v; want a %s event from %s", ev, typ, node)
		}
		return ev
	case <-time.After(time.Second):
		s.t.Fatalf("no %s event from %s within a second", typ, node)
	}
	return opsbus.Event{}
}

func apiCall(t *testing.T, method, url, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer k")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode >= 300 {
		t.Fatalf("%s %s: %s", method, url, res.Status)
	}
	return res
}

// A trace started on one node follows its user on another, within a
// second of each event: connect, push, delivery, ack, join, command,
// disconnect; and the push's trace id replays its delivery and ack.
func TestLiveTraceFollowsAUserAcrossNodes(t *testing.T) {
	tc := startCluster(t, 2)
	n1, n2 := tc.nodes[0], tc.nodes[1]
	// Closed after the trace's stream (cleanups run last-in first-out):
	// Close waits for the requests under way.
	api1 := httptest.NewServer(n1.Handler())
	t.Cleanup(api1.Close)
	api2 := httptest.NewServer(n2.Handler())
	t.Cleanup(api2.Close)

	trace := openTrace(t, api1.URL, "user=alice")
	testkit.Eventually(t, 3*time.Second, "n2 sees the watch", func() bool { return n2.stores.ops.Traced("alice") })

	c := connect(t, n2, "alice", "phone")
	if ev := trace.next(opsbus.TypeConnect, "n2"); ev.Device != "phone" || ev.Session != c.Id {
		t.Fatalf("connect = %+v", ev)
	}
	res := apiCall(t, "POST", api1.URL+"/v1/push", `{"to":{"users":["alice"]},"event":"hello","data":1,"ttl":60}`)
	pushTrace := res.Header.Get("X-Trace-Id")
	var pushed struct{ ID string }
	if err := json.NewDecoder(res.Body).Decode(&pushed); err != nil {
		t.Fatal(err)
	}
	if ev := trace.next(opsbus.TypePush, "n1"); ev.ID != pushed.ID || ev.Seq != 1 || ev.Event != "hello" || ev.TraceID != pushTrace {
		t.Fatalf("push = %+v; want id %s seq 1 trace %s", ev, pushed.ID, pushTrace)
	}
	if ev := trace.next(opsbus.TypeDeliver, "n2"); ev.ID != pushed.ID || ev.Seq != 1 || ev.TraceID != pushTrace {
		t.Fatalf("deliver = %+v", ev)
	}
	events(t, c, "hello", 1)[0].Ack(nil)
	if ev := trace.next(opsbus.TypeAck, "n2"); ev.ID != pushed.ID || ev.Seq != 1 {
		t.Fatalf("ack = %+v", ev)
	}

	apiCall(t, "POST", api1.URL+"/v1/rooms/lobby/join", `{"users":["alice"]}`)
	if ev := trace.next(opsbus.TypeJoin, "n2"); ev.Room != "lobby" {
		t.Fatalf("join = %+v", ev)
	}
	_, err := n2.commands.Caller.Call(context.Background(), command.Request{Name: "/trpc.app.x.X/Y", User: "alice", Device: "phone", TraceID: "cmd-1"})
	if err == nil {
		t.Fatal("an unrouted command answered")
	}
	if ev := trace.next(opsbus.TypeCmd, "n2"); ev.Name != "/trpc.app.x.X/Y" || ev.Code != "not_found" || ev.TraceID != "cmd-1" {
		t.Fatalf("cmd = %+v", ev)
	}
	apiCall(t, "POST", api1.URL+"/v1/users/alice/disconnect", ``)
	got := map[string]opsbus.Event{}
	for range 2 { // the API call's record (n1) and the session's close (n2), in either order
		select {
		case ev := <-trace.events:
			got[ev.Node] = ev
		case <-time.After(time.Second):
			t.Fatal("no disconnect event within a second")
		}
	}
	if got["n2"].Type != opsbus.TypeDisconnect || got["n2"].Reason != "kicked" || got["n2"].Session != c.Id || got["n1"].Type != opsbus.TypeDisconnect {
		t.Fatalf("disconnect events = %+v", got)
	}

	// The push's trace id, asked of the other node: accepted on n1,
	// delivered and acknowledged on n2.
	var record struct {
		TraceID string         `json:"trace_id"`
		Events  []opsbus.Event `json:"events"`
	}
	testkit.Eventually(t, 3*time.Second, "the push's record holds push, deliver and ack", func() bool {
		res := apiCall(t, "GET", api2.URL+"/v1/trace?trace="+pushTrace, "")
		record.Events = nil
		_ = json.NewDecoder(res.Body).Decode(&record)
		return len(record.Events) == 3
	})
	for i, want := range []struct{ typ, node string }{{"push", "n1"}, {"deliver", "n2"}, {"ack", "n2"}} {
		if ev := record.Events[i]; ev.Type != want.typ || ev.Node != want.node || ev.ID != pushed.ID {
			t.Fatalf("record event %d = %+v; want %s on %s", i, ev, want.typ, want.node)
		}
	}
}

// A live trace ends when its max is reached, and when the node shuts down
// (a stream left open would hold the shutdown to its timeout).
func TestLiveTraceEnds(t *testing.T) {
	n := newTestNode(t, nil)
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(srv.Close)
	short := openTrace(t, srv.URL, "user=bob&max=1")
	select {
	case _, ok := <-short.events:
		if ok {
			t.Fatal("an event for nobody's doing")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a trace with max=1 still open after 3 s")
	}
	long := openTrace(t, srv.URL, "user=bob")
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("shutdown with a live trace took %v", took)
	}
	select {
	case <-long.events:
	case <-time.After(time.Second):
		t.Fatal("the live trace outlived the node's shutdown")
	}
}

func TestTraceCallRefusesBadQueries(t *testing.T) {
	n := newTestNode(t, nil)
	h := n.Handler()
	for _, q := range []string{"", "user=a&trace=b", "user=a&max=0", "user=a&max=99999", "user=" + strings.Repeat("x", 300)} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/v1/trace?"+q, nil)
		req.Header.Set("Authorization", "Bearer k")
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"code":"bad_request"`) {
			t.Errorf("GET /v1/trace?%s = %d %s; want 400 bad_request", q, rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/trace?user=a", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("GET /v1/trace without a key = %d; want 401", rec.Code)
	}
}

// A dyed user's deliveries and acks join their push's trace record with no
// one watching: a tester's message can be followed by its trace id alone.
func TestDyedUsersDeliveriesJoinThePushRecord(t *testing.T) {
	tc := startCluster(t, 2)
	n1, n2 := tc.nodes[0], tc.nodes[1]
	api1 := httptest.NewServer(n1.Handler())
	t.Cleanup(api1.Close)
	apiCall(t, "PUT", api1.URL+"/v1/dye/dave", `{"env":"test","ttl":60}`)
	testkit.Eventually(t, 5*time.Second, "n2 sees dave dyed", func() bool { return n2.dyed("dave") })
	if n2.stores.ops.Traced("dave") {
		t.Fatal("dave is watched: the test is about dyes alone")
	}
	c := connect(t, n2, "dave", "phone")
	res := apiCall(t, "POST", api1.URL+"/v1/push", `{"to":{"users":["dave"]},"event":"e","ttl":60}`)
	id := res.Header.Get("X-Trace-Id")
	events(t, c, "e", 1)[0].Ack(nil)
	var record struct{ Events []opsbus.Event }
	testkit.Eventually(t, 5*time.Second, "the push's record holds dave's delivery and ack", func() bool {
		_ = json.NewDecoder(apiCall(t, "GET", api1.URL+"/v1/trace?trace="+id, "").Body).Decode(&record)
		types := map[string]string{}
		for _, ev := range record.Events {
			types[ev.Type] = ev.Node
		}
		return types["push"] == "n1" && types["deliver"] == "n2" && types["ack"] == "n2"
	})
	// An undyed, unwatched user's record is the call alone.
	connect(t, n2, "erin", "phone")
	res = apiCall(t, "POST", api1.URL+"/v1/push", `{"to":{"users":["erin"]},"event":"e","ttl":60}`)
	id = res.Header.Get("X-Trace-Id")
	time.Sleep(300 * time.Millisecond) // what would be recorded is written within this
	_ = json.NewDecoder(apiCall(t, "GET", api1.URL+"/v1/trace?trace="+id, "").Body).Decode(&record)
	if len(record.Events) != 1 || record.Events[0].Type != "push" {
		t.Fatalf("erin's push record = %+v; want the push alone", record.Events)
	}
}
