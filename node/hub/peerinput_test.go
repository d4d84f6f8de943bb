package hub

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"courier/node/push"
	"courier/router/forward"
	"courier/router/mailbox"
	"courier/router/testkit"
)

type refusals struct {
	noMetrics
	n atomic.Int64
}

func (r *refusals) PeerRefused() { r.n.Add(1) }

// Envelopes from a peer meet the rules of API input: a forged reserved
// event, oversized data, a stream delivered to the readers of another,
// bad names are refused and counted; the sound ones around them go through.
func TestEnvelopesThatBreakTheRulesOfInputAreRefused(t *testing.T) {
	f := newFixture(t, nil)
	counted := &refusals{}
	f.hub.cfg.Metrics = counted
	f.hub.cfg.Limits = push.Limits{MaxDataBytes: 100}
	alice, ac := f.connect(t, "alice", "d", "*")
	f.hub.Join(context.Background(), alice, "lobby")
	_, bc := f.connect(t, "bob", "d")

	msg := func(id, event, data, room string) mailbox.Message {
		return mailbox.Message{ID: id, Seq: 1, Event: event, Data: []byte(data), TS: time.Now().UnixMilli(),
			Expires: time.Now().Add(time.Minute).UnixMilli(), Room: room}
	}
	toAlice := func(m mailbox.Message) forward.Envelope {
		return forward.Envelope{Kind: forward.KindDeliver, Stream: mailbox.UserStream("alice"), User: "alice", Msg: m}
	}
	bad := []forward.Envelope{
		toAlice(msg("m1", "courier:disconnect", `{"reason":"kicked"}`, "")),
		toAlice(msg("m2", "connect", `1`, "")),
		toAlice(msg("m3", "big", `"`+strings.Repeat("x", 200)+`"`, "")),
		toAlice(msg("", "noid", `1`, "")),
		toAlice(msg("m4", strings.Repeat("e", push.MaxEventLen+1), `1`, "")),
		// bob's stream handed to alice's sessions
		{Kind: forward.KindDeliver, Stream: mailbox.UserStream("bob"), User: "alice", Msg: msg("m5", "stolen", `1`, "")},
		// a room message claiming another room in its meta
		{Kind: forward.KindDeliver, Stream: mailbox.RoomStream("lobby"), Room: "lobby", Msg: msg("m6", "mislabelled", `1`, "vip")},
		{Kind: forward.KindDeliver, Stream: mailbox.RoomStream("lobby"), Room: "lobby", User: "alice", Msg: msg("m7", "both", `1`, "lobby")},
		{Kind: forward.KindJoin, Room: "", Users: []string{"alice"}},
		{Kind: forward.KindJoin, Room: "vip", Users: []string{strings.Repeat("u", push.MaxNameLen+1)}},
		{Kind: forward.KindDisconnect, User: ""},
	}
	good := []forward.Envelope{
		toAlice(msg("g1", "news", `{"ok":1}`, "")),
		{Kind: forward.KindDeliver, Stream: mailbox.RoomStream("lobby"), Room: "lobby", Msg: msg("g2", "chat", `1`, "lobby")},
		{Kind: forward.KindDeliver, Stream: mailbox.AllStream, Room: "*", Msg: msg("g3", "all", `1`, "*")},
		{Kind: forward.KindDisconnect, User: "bob"},
	}
	var envs []forward.Envelope
	for i := range bad {
		envs = append(envs, bad[i])
		if i < len(good) {
			envs = append(envs, good[i])
		}
	}
	f.hub.HandleEnvelopes(context.Background(), "n2", envs)

	if got := counted.n.Load(); got != int64(len(bad)) {
		t.Errorf("%d envelopes refused, want %d", got, len(bad))
	}
	testkit.Eventually(t, 5*time.Second, "the sound envelopes delivered", func() bool {
		return len(ac.EmitsOf("news")) == 1 && len(ac.EmitsOf("chat")) == 1 && len(ac.EmitsOf("all")) == 1
	})
	if bc.Kicked.Load() != 1 {
		t.Errorf("bob's sound disconnect: kicked %d times", bc.Kicked.Load())
	}
	for _, e := range ac.Emits() {
		switch e.Event {
		case "news", "chat", "all":
		default:
			t.Errorf("alice got %q %s", e.Event, e.Args)
		}
	}
	if ac.Kicked.Load() != 0 {
		t.Error("a forged envelope closed alice's session")
	}
	if rooms := f.hub.RoomsOf(alice); len(rooms) != 1 || rooms[0] != "lobby" {
		t.Errorf("alice's rooms %v", rooms)
	}
}
