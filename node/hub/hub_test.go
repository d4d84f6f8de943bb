package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"courier/node/auth"
	"courier/node/engine/enginetest"
	"courier/node/errcode"
	"courier/node/push"
	"courier/node/session"
	"courier/router/arrival"
	"courier/router/forward"
	"courier/router/mailbox"
	"courier/router/registry"
	"courier/router/testkit"
)

// fakePeers records envelopes; nodes in refuse take none.
type fakePeers struct {
	mu     sync.Mutex
	others []string
	refuse map[string]bool
	sent   map[string][]forward.Envelope
}

func (p *fakePeers) Enabled() bool    { return true }
func (p *fakePeers) Others() []string { return p.others }
func (p *fakePeers) Send(node string, env forward.Envelope) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refuse[node] {
		return false
	}
	if p.sent == nil {
		p.sent = map[string][]forward.Envelope{}
	}
	p.sent[node] = append(p.sent[node], env)
	return true
}

func (p *fakePeers) sentTo(node string) []forward.Envelope {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]forward.Envelope(nil), p.sent[node]...)
}

type fixture struct {
	hub  *Hub
	mb   *mailbox.Memory
	reg  *registry.Memory
	opts *session.Options
}

func newFixture(t *testing.T, peers Peers) *fixture {
	t.Helper()
	mb := mailbox.NewMemory(mailbox.Config{})
	reg := registry.NewMemory(registry.Config{})
	t.Cleanup(func() { mb.Close(); reg.Close() })
	log := slog.New(slog.DiscardHandler)
	h, err := New(Config{Node: "n1", Mailbox: mb, Registry: reg, Arrival: arrival.New(reg, mb), Peers: peers, MaxRooms: 2, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	opts := &session.Options{Node: "n1", Mailbox: mb, Metrics: nopMetrics{}, Log: log,
		AckTimeout: time.Minute, AckRetries: 1, QueueLimit: 100, Window: 10, Now: time.Now}
	return &fixture{hub: h, mb: mb, reg: reg, opts: opts}
}

var conns int

// connect adds a session of user on device, allowed into rooms.
func (f *fixture) connect(t *testing.T, user, device string, rooms ...string) (*session.Session, *enginetest.Conn) {
	t.Helper()
	conns++
	c := &enginetest.Conn{Id: fmt.Sprintf("c%d", conns)}
	s := session.New(f.opts, c, auth.Claims{Sub: user, Rooms: rooms}, device)
	f.hub.Arrive(context.Background(), s)
	c.OnClose(func(reason string) { f.hub.Remove(s, reason) })
	return s, c
}

type nopMetrics struct{}

func (nopMetrics) Delivered()          {}
func (nopMetrics) Acked()              {}
func (nopMetrics) Retried()            {}
func (nopMetrics) Disconnected(string) {}

func ttl(s float64) *float64 { return &s }

// A room push goes to the local members and as one envelope to each other
// node holding members, never one per member; a node whose link refuses
// it is nudged through the store instead.
func TestRoomPushFansOutOncePerNodeAndNudgesWhereTheLinkFails(t *testing.T) {
	peers := &fakePeers{refuse: map[string]bool{"n3": true}}
	f := newFixture(t, peers)
	s, local := f.connect(t, "alice", "d", "r")
	if err := f.hub.ClientJoin(context.Background(), s, "r"); err != nil {
		t.Fatal(err)
	}
	_, outside := f.connect(t, "carol", "d", "r")     // not a member
	for i, node := range []string{"n2", "n2", "n3"} { // members elsewhere, as the registry knows them
		entry := registry.Session{ID: fmt.Sprint("remote", i), User: fmt.Sprint("u", i), Device: "d", Node: node}
		if err := f.reg.Add(context.Background(), entry); err != nil {
			t.Fatal(err)
		}
		if err := f.reg.Join(context.Background(), "r", entry); err != nil {
			t.Fatal(err)
		}
	}
	res, err := f.hub.Push(context.Background(), &push.Request{To: push.Target{Rooms: []string{"r"}}, Event: "tick", TTL: ttl(60)})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the local member got it", func() bool { return len(local.EmitsOf("tick")) == 1 })
	if len(outside.EmitsOf("tick")) != 0 {
		t.Fatal("a session outside the room got its message")
	}
	if envs := peers.sentTo("n2"); len(envs) != 1 || envs[0].Msg.ID != res.ID || envs[0].Room != "r" {
		t.Fatalf("n2 got %+v, want one envelope of %s", envs, res.ID)
	}
	nudged, err := f.mb.TakeNudges(context.Background(), "n3", 0)
	if err != nil || len(nudged) != 1 || nudged[0] != mailbox.RoomStream("r") {
		t.Fatalf("n3 nudged for %v (%v), want the room's stream", nudged, err)
	}
}

func TestClientJoinChecksTheTokenTheNameAndTheBound(t *testing.T) {
	f := newFixture(t, nil)
	s, _ := f.connect(t, "alice", "d", "game:*")
	cases := []struct {
		room string
		code errcode.Code
	}{
		{"game:1", ""}, {"lobby", errcode.Forbidden}, {"", errcode.BadRequest},
		{"game:2", ""}, {"game:1", ""}, {"game:3", errcode.LimitExceeded},
	}
	for _, c := range cases {
		err := f.hub.ClientJoin(context.Background(), s, c.room)
		var e *errcode.Error
		switch {
		case c.code == "" && err != nil:
			t.Errorf("join %q: %v", c.room, err)
		case c.code != "" && (!errors.As(err, &e) || e.Code != c.code):
			t.Errorf("join %q: %v, want %s", c.room, err, c.code)
		}
	}
	if rooms, _ := f.reg.DeviceRooms(context.Background(), "alice", "d"); len(rooms) != 2 {
		t.Fatalf("remembered rooms %v, want game:1 and game:2", rooms)
	}
}

// A session that closes leaves the index and the registry; the registry
// keeps the device's rooms for its next connection, which is put back in
// them.
func TestClosedSessionLeavesAndItsDeviceComesBackToItsRooms(t *testing.T) {
	f := newFixture(t, nil)
	s, c := f.connect(t, "alice", "d", "*")
	f.hub.Join(context.Background(), s, "r")
	c.Close("client")
	if f.hub.Count() != 0 {
		t.Fatalf("%d sessions held after close", f.hub.Count())
	}
	f.hub.AwaitDepartures(context.Background())
	if sessions, _ := f.reg.UserSessions(context.Background(), "alice"); len(sessions) != 0 {
		t.Fatalf("registry still has %v", sessions)
	}
	again, _ := f.connect(t, "alice", "d", "*")
	if rooms := f.hub.RoomsOf(again); len(rooms) != 1 || rooms[0] != "r" {
		t.Fatalf("rooms after reconnect %v", rooms)
	}
	if readers := f.hub.StreamReaders(mailbox.RoomStream("r")); len(readers) != 1 || readers[0] != again {
		t.Fatalf("room readers %v", readers)
	}
}

// A peer's deliver envelope reaches the sessions here that read its stream.
func TestEnvelopesFromAPeerDeliverHere(t *testing.T) {
	f := newFixture(t, nil)
	_, c := f.connect(t, "alice", "d")
	m := mailbox.Message{ID: "m1", Seq: 1, Event: "news", Data: []byte(`1`), TS: time.Now().UnixMilli(), Expires: time.Now().Add(time.Minute).UnixMilli()}
	if _, _, err := f.mb.Append(context.Background(), mailbox.UserStream("alice"), m); err != nil {
		t.Fatal(err)
	}
	f.hub.HandleEnvelopes(context.Background(), "n2", []forward.Envelope{
		{Kind: forward.KindDeliver, Stream: mailbox.UserStream("alice"), User: "alice", Msg: m},
		{Kind: 250}, // a newer peer's kind: skipped
	})
	testkit.Eventually(t, 5*time.Second, "delivered", func() bool { return len(c.EmitsOf("news")) == 1 })
}

// unregistering fails every registration of an arrival, as a store that
// timed out would; its reads go through.
type unregistering struct{ arrival.Store }

func (u unregistering) Arrive(ctx context.Context, s registry.Session, maxRooms int, reads []arrival.Read) (registry.Arrived, []arrival.Result, error) {
	_, got, _ := u.Store.Arrive(ctx, s, maxRooms, reads)
	return registry.Arrived{}, got, errors.New("registry unavailable: context deadline exceeded")
}

// A session whose registration failed does not count as registered (so
// healing does not take it for a store that lost this node's sessions),
// and RegisterMissing registers it alone, back in its device's rooms.
func TestFailedRegistrationIsHealedAlone(t *testing.T) {
	f := newFixture(t, nil)
	ok := f.hub.cfg.Arrival
	f.connect(t, "bob", "d")
	if err := f.reg.RememberRoom(context.Background(), "alice", "d", "lobby", true); err != nil {
		t.Fatal(err)
	}
	f.hub.cfg.Arrival = unregistering{ok}
	alice, _ := f.connect(t, "alice", "d", "*")
	if rooms := f.hub.RoomsOf(alice); len(rooms) != 0 {
		t.Fatalf("alice in %v before her registration", rooms)
	}
	if got := f.hub.RegisteredCount(); got != 1 {
		t.Fatalf("RegisteredCount = %d with alice's registration failed; want 1 (bob)", got)
	}
	f.hub.cfg.Arrival = ok
	if n, err := f.hub.RegisterMissing(context.Background()); n != 1 || err != nil {
		t.Fatalf("RegisterMissing = %d, %v; want 1", n, err)
	}
	if sessions, _ := f.reg.UserSessions(context.Background(), "alice"); len(sessions) != 1 {
		t.Fatalf("alice in the registry: %v", sessions)
	}
	if rooms := f.hub.RoomsOf(alice); len(rooms) != 1 || rooms[0] != "lobby" {
		t.Fatalf("alice back in %v; want [lobby]", rooms)
	}
	if members, _, _ := f.reg.Room(context.Background(), "lobby"); members != 1 {
		t.Fatalf("lobby has %d members in the registry; want 1", members)
	}
	if got := f.hub.RegisteredCount(); got != 2 {
		t.Fatalf("RegisteredCount = %d; want 2", got)
	}
	if n, _ := f.hub.RegisterMissing(context.Background()); n != 0 {
		t.Fatalf("a second RegisterMissing registered %d again", n)
	}
	f.hub.cfg.Arrival = unregistering{ok}
	_, gone := f.connect(t, "carol", "d")
	gone.Close("client")
	if n, _ := f.hub.RegisterMissing(context.Background()); n != 0 {
		t.Fatalf("RegisterMissing registered %d sessions that had closed", n)
	}
}
