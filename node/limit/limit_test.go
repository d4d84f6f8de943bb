package limit

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"courier/router/testkit"
)

func TestRatesAllowTheRateWithABurstOfTwice(t *testing.T) {
	clk := testkit.NewClock()
	r := NewRates(5, clk.Now)
	allowed := 0
	for range 100 {
		if r.Allow("1.2.3.4") {
			allowed++
		}
	}
	if allowed != 10 {
		t.Fatalf("a burst let %d through, want 10 (2 x 5)", allowed)
	}
	if !r.Allow("5.6.7.8") {
		t.Fatal("another key was limited by the first")
	}
	clk.Advance(time.Second)
	allowed = 0
	for range 100 {
		if r.Allow("1.2.3.4") {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("a second later %d got through, want 5", allowed)
	}
	if !NewRates(0, clk.Now).Allow("x") {
		t.Fatal("rate 0 limited")
	}
}

// Keys that refilled are swept, so made-up keys do not pile up.
func TestRatesForgetIdleKeys(t *testing.T) {
	clk := testkit.NewClock()
	r := NewRates(10, clk.Now)
	for i := range 5000 {
		r.Allow(fmt.Sprint("10.0.", i/256, ".", i%256))
	}
	if r.Keys() != 5000 {
		t.Fatalf("%d keys", r.Keys())
	}
	clk.Advance(sweepEvery)
	r.Allow("1.1.1.1")
	if r.Keys() != 1 {
		t.Fatalf("%d keys after the sweep, want 1", r.Keys())
	}
}

func TestCountsBoundEachKeyAndForgetZero(t *testing.T) {
	c := NewCounts(2)
	for i := range 2 {
		if !c.Add("a") {
			t.Fatalf("a's connection %d refused", i+1)
		}
	}
	if c.Add("a") || !c.Full("a") {
		t.Fatal("a third for a was allowed")
	}
	if !c.Add("b") {
		t.Fatal("b was limited by a")
	}
	c.Done("a")
	if c.Full("a") || !c.Add("a") {
		t.Fatal("a is not free again after Done")
	}
	c.Done("a")
	c.Done("a")
	c.Done("b")
	if c.Len() != 0 {
		t.Fatalf("%d keys held at zero", c.Len())
	}
	if u := NewCounts(0); !u.Add("x") || u.Full("x") {
		t.Fatal("max 0 bounded")
	}
}

func TestClientIPBelievesOnlyTrustedProxies(t *testing.T) {
	proxies, err := ParseProxies([]string{"10.0.0.0/8", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		remote, xff, want string
	}{
		{"203.0.113.5:4000", "", "203.0.113.5"},
		{"203.0.113.5:4000", "1.2.3.4", "203.0.113.5"}, // not a proxy: its header is the client's word
		{"10.1.2.3:4000", "198.51.100.7", "198.51.100.7"},
		{"10.1.2.3:4000", "6.6.6.6, 198.51.100.7, 10.9.9.9", "198.51.100.7"}, // spoofed head ignored
		{"127.0.0.1:4000", "garbage, 198.51.100.7", "198.51.100.7"},
		{"10.1.2.3:4000", "10.2.2.2", "10.2.2.2"}, // every hop trusted: the farthest
		{"[::ffff:10.1.2.3]:4000", "198.51.100.8", "198.51.100.8"},
	}
	for _, c := range cases {
		r := &http.Request{RemoteAddr: c.remote, Header: http.Header{}}
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := proxies.ClientIP(r); got != c.want {
			t.Errorf("%s + %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
	if _, err := ParseProxies([]string{"not-an-ip"}); err == nil {
		t.Error("a bad proxy entry was taken")
	}
	none := Proxies(nil)
	r := &http.Request{RemoteAddr: "10.1.2.3:1", Header: http.Header{"X-Forwarded-For": {"1.2.3.4"}}}
	if got := none.ClientIP(r); got != "10.1.2.3" {
		t.Errorf("without trusted proxies: %s", got)
	}
}
