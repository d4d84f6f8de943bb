package peers

import (
	"context"
	"testing"
	"time"

	"courier/node/auth"
	"courier/node/engine/enginetest"
	"courier/node/hub"
	"courier/node/session"
	"courier/router/arrival"
	"courier/router/mailbox"
	"courier/router/registry"
	"courier/router/testkit"
)

type nopMetrics struct{}

func (nopMetrics) Delivered()          {}
func (nopMetrics) Acked()              {}
func (nopMetrics) Retried()            {}
func (nopMetrics) Disconnected(string) {}

// A node alone still heals: when the registry loses its sessions (a store
// restarted empty), the healer registers them again on its second look,
// and the cluster answer counts them.
func TestAloneTheHealerRegistersLostSessionsAgain(t *testing.T) {
	mb := mailbox.NewMemory(mailbox.Config{})
	reg := registry.NewMemory(registry.Config{})
	t.Cleanup(func() { mb.Close(); reg.Close() })
	log := testkit.Logger(t)
	p, err := New(Config{Node: "n1", APIAddr: "127.0.0.1:8080", Registry: reg, Mailbox: mb, Log: log, HealInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(hub.Config{Node: "n1", Mailbox: mb, Registry: reg, Arrival: arrival.New(reg, mb), Peers: p, MaxRooms: 4, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	p.SetHub(h)
	opts := &session.Options{Node: "n1", Mailbox: mb, Metrics: nopMetrics{}, Log: log,
		AckTimeout: time.Minute, AckRetries: 1, QueueLimit: 10, Window: 10, Now: time.Now}
	s := session.New(opts, &enginetest.Conn{Id: "c1"}, auth.Claims{Sub: "alice", Rooms: []string{"*"}}, "d")
	h.Arrive(t.Context(), s)
	h.Join(t.Context(), s, "lobby")

	if err := p.Start(t.Context(), "127.0.0.1:9999"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	if p.Enabled() {
		t.Fatal("a node without gossip reports a cluster")
	}
	if _, err := reg.PurgeNode(context.Background(), "n1"); err != nil { // the store forgot everything
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "alice registered again, in her room", func() bool {
		sessions, err := reg.UserSessions(context.Background(), "alice")
		members, _, _ := reg.Room(context.Background(), "lobby")
		return err == nil && len(sessions) == 1 && members == 1
	})
	info, err := p.Cluster(context.Background())
	if err != nil || len(info.Nodes) != 1 || info.Nodes[0].Addr != "127.0.0.1:9999" || info.Nodes[0].Sessions != 1 {
		t.Fatalf("cluster answer %+v %v", info, err)
	}
}
