package cluster

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"courier/router/testkit"
)

func TestValidate(t *testing.T) {
	ok := Config{NodeID: "a", GossipListen: "127.0.0.1:0"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"no id":            func(c *Config) { c.NodeID = "" },
		"no listen":        func(c *Config) { c.GossipListen = "" },
		"host name listen": func(c *Config) { c.GossipListen = "localhost:7946" },
		"bad port":         func(c *Config) { c.GossipListen = "127.0.0.1:99999" },
		"bad seed":         func(c *Config) { c.Join = []string{"seed-without-port"} },
		"negative tuning":  func(c *Config) { c.Tuning.ProbeInterval = -time.Second },
		"rejoin min > max": func(c *Config) { c.Tuning.RejoinMin, c.Tuning.RejoinMax = time.Minute, time.Second },
		"meta too big":     func(c *Config) { c.Meta.APIAddr = strings.Repeat("x", 600) },
	} {
		c := ok
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
	}
}

func TestLogBridge(t *testing.T) {
	var got []string
	var sb strings.Builder
	b := &logBridge{
		log:       slog.New(slog.NewTextHandler(&sb, &slog.HandlerOptions{Level: slog.LevelDebug})),
		onSuspect: func(n string) { got = append(got, n) },
	}
	l := newStdLogger(b)
	l.Printf("[DEBUG] memberlist: Stream connection from=x")
	l.Printf("[ERR] memberlist: Failed to send")
	l.Printf("[INFO] memberlist: Suspect node-7 has failed, no acks received")
	l.Printf("[ERR] memberlist: Failed to send UDP ping: write udp 127.0.0.1:1->127.0.0.1:2: use of closed network connection")
	// Garbage from two addresses: one kind of line, its particulars apart.
	l.Printf("[ERR] memberlist: Decrypt packet failed: No installed keys could decrypt the message from=127.0.0.1:5001")
	l.Printf("[ERR] memberlist: Decrypt packet failed: No installed keys could decrypt the message from=127.0.0.2:6002")
	l.Printf("[WARN] memberlist: Refuting a suspect message (from: n3)")
	out := sb.String()
	for _, want := range []string{`level=DEBUG msg="Stream connection from=x"`, `level=ERROR msg="Failed to send"`, `level=INFO msg="Suspect node-7`,
		`level=DEBUG msg="Failed to send UDP ping`,
		`level=ERROR msg="Decrypt packet failed" peer=127.0.0.1:5001 detail="No installed keys could decrypt the message"`,
		`level=ERROR msg="Decrypt packet failed" peer=127.0.0.2:6002 detail="No installed keys could decrypt the message"`,
		`level=WARN msg="Refuting a suspect message (from: n3)"` + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if len(got) != 1 || got[0] != "node-7" {
		t.Errorf("suspects %v, want [node-7]", got)
	}
}

// A seed that does not answer at start is not fatal: the node runs alone and joins
// once the seed is reachable.
func TestUnreachableSeedIsRetried(t *testing.T) {
	t.Parallel()
	p := NewPartitioner()
	trA, err := NewPartitionableTransport(p, "127.0.0.1:0", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	trB, err := NewPartitionableTransport(p, "127.0.0.1:0", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	p.Cut(trA.Addr(), trB.Addr())
	cfgA := testConfig(t, "a")
	cfgA.Transport = trA
	a := start(t, cfgA)
	cfgB := testConfig(t, "b", trA.Addr())
	cfgB.Transport = trB
	b := start(t, cfgB) // fails the test if New returns an error
	if ms := b.Members(); len(ms) != 1 {
		t.Fatalf("b joined through a cut link: %v", ms)
	}
	p.HealAll()
	testkit.Eventually(t, 5*time.Second, "a and b see each other", func() bool {
		return allSee([]*node{a, b}, StateAlive, "a", "b")
	})
}

func TestEventQueueRunsInOrderAndDropsAfterClose(t *testing.T) {
	q := newEventQueue()
	done := make(chan struct{})
	var got []int
	for i := range 100 {
		q.push(func() { got = append(got, i) })
	}
	q.push(func() { close(done) })
	<-done
	q.close()
	q.push(func() { t.Error("event ran after close") })
	for i, v := range got {
		if v != i {
			t.Fatalf("events ran out of order: %v", got)
		}
	}
}
