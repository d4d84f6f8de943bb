package node

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"courier/node/errcode"
	"courier/node/push"
	"courier/router/mailbox"
)

func TestDisconnectsAreCountedByTheirOwnReason(t *testing.T) {
	n := newTestNode(t, nil)
	connect(t, n, "alice", "d")
	if _, err := n.DisconnectUser(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(n.metrics.disconnects.WithLabelValues("kicked")); got != 1 {
		t.Fatalf("kicked counted %v times", got)
	}
	if got := counterValue(n.metrics.disconnects.WithLabelValues("client")); got != 0 {
		t.Fatalf("a kick was also counted as a client close")
	}
}

func TestRoomsPerConnectionAreBounded(t *testing.T) {
	n := newTestNode(t, func(c *Config) { c.MaxRooms = 2 })
	c := connect(t, n, "alice", "d", "*")
	for _, room := range []string{"a", "b", "b"} { // rejoining one it is in is fine
		if ack := c.Event("join", map[string]any{"room": room}); ack[0].(map[string]any)["ok"] != true {
			t.Fatalf("join %s: %v", room, ack)
		}
	}
	ack := c.Event("join", map[string]any{"room": "c"})[0].(map[string]any)
	if ack["ok"] != false || ack["error"].(*errcode.Error).Code != errcode.LimitExceeded {
		t.Fatalf("third room: %v", ack)
	}
}

// failingStream fails appends to one stream while armed.
type failingStream struct {
	mailbox.Mailbox
	stream mailbox.Stream
	armed  bool
}

func (f *failingStream) Append(ctx context.Context, s mailbox.Stream, m mailbox.Message) (uint64, bool, error) {
	if f.armed && s == f.stream {
		return 0, false, errors.New("store down")
	}
	return f.Mailbox.Append(ctx, s, m)
}

func TestRetryAfterPartialStoreFailureDeliversEverywhere(t *testing.T) {
	var fs *failingStream
	n := newTestNodeOn(t, nil, func(st *stores) {
		fs = &failingStream{Mailbox: st.mailbox, stream: mailbox.RoomStream("r"), armed: true}
		st.mailbox = fs
	})
	alice := connect(t, n, "alice", "d")
	req := push.Request{To: push.Target{Users: []string{"alice"}, Rooms: []string{"r"}}, Event: "e", TTL: ttl(60), ID: "k1"}
	_, err := n.Push(context.Background(), &req)
	var e *errcode.Error
	if !errors.As(err, &e) || e.Code != errcode.Unavailable {
		t.Fatalf("push with the store down: %v, want unavailable", err)
	}
	fs.armed = false
	doPush(t, n, req) // the publisher retries with the same id
	events(t, alice, "e", 1)
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
