package push

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"courier/node/errcode"
)

func ttl(s float64) *float64 { return &s }

func TestValidateRefusesWhatTheContractRefuses(t *testing.T) {
	users := func(us ...string) Target { return Target{Users: us} }
	many := make([]string, MaxTargets+1)
	for i := range many {
		many[i] = "u"
	}
	cases := map[string]struct {
		req  Request
		code errcode.Code
	}{
		"no event":       {Request{To: users("u")}, errcode.BadRequest},
		"long event":     {Request{To: users("u"), Event: strings.Repeat("e", MaxEventLen+1)}, errcode.BadRequest},
		"reserved":       {Request{To: users("u"), Event: "connect"}, errcode.ReservedEvent},
		"courier prefix": {Request{To: users("u"), Event: "courier:disconnect"}, errcode.ReservedEvent},
		"no target":      {Request{Event: "e"}, errcode.BadRequest},
		"all and users":  {Request{To: Target{All: true, Users: []string{"u"}}, Event: "e"}, errcode.BadRequest},
		"too many":       {Request{To: Target{Users: many}, Event: "e"}, errcode.BadRequest},
		"empty name":     {Request{To: users(""), Event: "e"}, errcode.BadRequest},
		"bad utf-8 room": {Request{To: Target{Rooms: []string{"\xff"}}, Event: "e"}, errcode.BadRequest},
		"long id":        {Request{To: users("u"), Event: "e", ID: strings.Repeat("i", MaxNameLen+1)}, errcode.BadRequest},
		"negative ttl":   {Request{To: users("u"), Event: "e", TTL: ttl(-1)}, errcode.BadRequest},
		"ttl past max":   {Request{To: users("u"), Event: "e", TTL: ttl(MaxTTL.Seconds() + 1)}, errcode.BadRequest},
		"data too large": {Request{To: users("u"), Event: "e", Data: json.RawMessage(`"` + strings.Repeat("x", 100) + `"`)}, errcode.TooLarge},
	}
	for name, c := range cases {
		_, err := Validate(&c.req, Limits{MaxDataBytes: 100})
		var e *errcode.Error
		if !errors.As(err, &e) || e.Code != c.code {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
	}
}

func TestValidateAnswersTheTTL(t *testing.T) {
	req := Request{To: Target{All: true}, Event: "e"}
	if got, err := Validate(&req, Limits{DefaultTTL: time.Minute}); err != nil || got != time.Minute {
		t.Fatalf("no ttl: %v %v, want the default", got, err)
	}
	req.TTL = ttl(0)
	if got, err := Validate(&req, Limits{}); err != nil || got != 0 {
		t.Fatalf("ttl 0: %v %v, want fire-and-forget", got, err)
	}
	req.TTL = ttl(1.5)
	if got, err := Validate(&req, Limits{}); err != nil || got != 1500*time.Millisecond {
		t.Fatalf("ttl 1.5: %v %v", got, err)
	}
	req.Data = json.RawMessage(strings.Repeat("1", DefaultMaxDataBytes))
	if _, err := Validate(&req, Limits{}); err != nil {
		t.Fatalf("data at the default limit: %v", err)
	}
}

func TestTargetKind(t *testing.T) {
	for want, to := range map[string]Target{
		"all": {All: true}, "users": {Users: []string{"u"}}, "rooms": {Rooms: []string{"r"}},
		"mixed": {Users: []string{"u"}, Rooms: []string{"r"}},
	} {
		if got := to.Kind(); got != want {
			t.Errorf("%+v: %s, want %s", to, got, want)
		}
	}
}
