package push

import (
	"encoding/json"
	"testing"
)

func TestFingerprintIsTheRequestNotItsSpelling(t *testing.T) {
	ttl := func(s float64) *float64 { return &s }
	base := Request{To: Target{Users: []string{"a", "b"}, Rooms: []string{"r1", "r2"}}, Event: "e", Data: json.RawMessage(`{"k":1,"l":[1,2]}`), TTL: ttl(60), ID: "x"}
	same := []Request{
		{To: Target{Users: []string{"b", "a"}, Rooms: []string{"r2", "r1"}}, Event: "e", Data: json.RawMessage("{ \"k\": 1,\n \"l\": [1, 2] }"), TTL: ttl(60), ID: "x"},
		{To: base.To, Event: "e", Data: base.Data, TTL: ttl(60), ID: "another id, same request", Scope: "another scope"},
	}
	for _, r := range same {
		if Fingerprint(&r) != Fingerprint(&base) {
			t.Errorf("%+v fingerprints apart from %+v", r, base)
		}
	}
	different := []Request{
		{To: Target{Users: []string{"a"}, Rooms: base.To.Rooms}, Event: "e", Data: base.Data, TTL: ttl(60)},
		{To: Target{Users: base.To.Users, Rooms: base.To.Rooms, All: true}, Event: "e", Data: base.Data, TTL: ttl(60)},
		{To: base.To, Event: "f", Data: base.Data, TTL: ttl(60)},
		{To: base.To, Event: "e", Data: json.RawMessage(`{"k":2,"l":[1,2]}`), TTL: ttl(60)},
		{To: base.To, Event: "e", Data: json.RawMessage(`{"l":[1,2],"k":1}`), TTL: ttl(60)}, // another byte order is another data
		{To: base.To, Event: "e", Data: base.Data, TTL: ttl(0)},
		{To: base.To, Event: "e", Data: base.Data},
	}
	for _, r := range different {
		if Fingerprint(&r) == Fingerprint(&base) {
			t.Errorf("%+v fingerprints as %+v", r, base)
		}
	}
	absent, null := Request{Event: "e"}, Request{Event: "e", Data: json.RawMessage("null")}
	if Fingerprint(&absent) != Fingerprint(&null) {
		t.Error("absent data and null fingerprint apart, though both are stored as null")
	}
}

func TestClaimsAreScopedAndParsed(t *testing.T) {
	a := Request{ID: "order-1", Scope: KeyScope("key-a")}
	b := Request{ID: "order-1", Scope: KeyScope("key-b")}
	if ClaimKey(&a) == ClaimKey(&b) {
		t.Fatalf("two keys' ids share the claim %s", ClaimKey(&a))
	}
	if id, fp := ParseClaim(ClaimValue("m1", "f1")); id != "m1" || fp != "f1" {
		t.Fatalf("parsed %s %s", id, fp)
	}
	if id, fp := ParseClaim("m1"); id != "m1" || fp != "" {
		t.Fatalf("an older node's claim parsed as %s %q", id, fp)
	}
}
