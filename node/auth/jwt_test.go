package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	secret := []byte("s3cret")
	now := time.Unix(1_700_000_000, 0)
	tok, err := Sign(secret, Claims{Sub: "alice", Exp: now.Add(time.Hour).Unix(), Rooms: []string{"lobby", "game:*"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Verify(secret, tok, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sub != "alice" || len(c.Rooms) != 2 {
		t.Fatalf("claims = %+v", c)
	}
}

func TestVerifyRefuses(t *testing.T) {
	secret := []byte("s3cret")
	now := time.Unix(1_700_000_000, 0)
	good, _ := Sign(secret, Claims{Sub: "alice"})
	expired, _ := Sign(secret, Claims{Sub: "alice", Exp: now.Unix() - 1})
	none := b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + b64.EncodeToString([]byte(`{"sub":"mallory"}`)) + "."
	noSub := encodedHeader + "." + b64.EncodeToString([]byte(`{}`))
	noSub += "." + b64.EncodeToString(mac(secret, noSub))
	parts := strings.Split(good, ".")
	forged := parts[0] + "." + b64.EncodeToString([]byte(`{"sub":"mallory"}`)) + "." + parts[2]
	cases := map[string]struct {
		token  string
		secret string
		want   error
	}{
		"wrong secret": {good, "other", ErrSignature},
		"expired":      {expired, "s3cret", ErrExpired},
		"alg none":     {none, "s3cret", ErrAlgorithm},
		"no sub":       {noSub, "s3cret", ErrNoSubject},
		"forged sub":   {forged, "s3cret", ErrSignature},
		"garbage":      {"not-a-token", "s3cret", ErrMalformed},
		"bad base64":   {"a.b!.c", "s3cret", ErrMalformed},
	}
	for name, tc := range cases {
		if _, err := Verify([]byte(tc.secret), tc.token, now); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

func TestMayJoin(t *testing.T) {
	c := Claims{Rooms: []string{"lobby", "game:*"}}
	for room, want := range map[string]bool{"lobby": true, "lobby2": false, "game:1": true, "game:": true, "gam": false, "other": false} {
		if got := c.MayJoin(room); got != want {
			t.Errorf("MayJoin(%q) = %v, want %v", room, got, want)
		}
	}
	if (Claims{Rooms: []string{"*"}}).MayJoin("anything") != true {
		t.Error("* should allow any room")
	}
}
