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
	tok, err := Sign(secret, Claims{Sub: "alice", Exp: float64(now.Add(time.Hour).Unix()), Rooms: []string{"lobby", "game:*"}})
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
	expired, _ := Sign(secret, Claims{Sub: "alice", Exp: float64(now.Unix() - 1)})
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

// exp and nbf are NumericDates: fractions of a second count, and a token
// is refused before its nbf.
func TestVerifyTimesWithFractionsAndNotBefore(t *testing.T) {
	secret := []byte("s3cret")
	now := time.Unix(1_700_000_000, 500_000_000) // .5 s
	at := func(offset float64) float64 { return 1_700_000_000.5 + offset }
	cases := []struct {
		name string
		c    Claims
		want error
	}{
		{"exp a quarter second ahead", Claims{Sub: "a", Exp: at(0.25)}, nil},
		{"exp a quarter second past", Claims{Sub: "a", Exp: at(-0.25)}, ErrExpired},
		{"exp now", Claims{Sub: "a", Exp: at(0)}, ErrExpired},
		{"nbf a quarter second ahead", Claims{Sub: "a", Nbf: at(0.25)}, ErrNotYet},
		{"nbf past", Claims{Sub: "a", Nbf: at(-10), Exp: at(10)}, nil},
	}
	for _, c := range cases {
		tok, err := Sign(secret, c.c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(secret, tok, now); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// A fractional exp as another issuer writes it.
	payload := encodedHeader + "." + b64.EncodeToString([]byte(`{"sub":"a","exp":1700000000.75}`))
	tok := payload + "." + b64.EncodeToString(mac(secret, payload))
	c, err := Verify(secret, tok, now)
	if err != nil {
		t.Fatalf("fractional exp refused: %v", err)
	}
	if got := c.Expires(); !got.Equal(time.Unix(1_700_000_000, 750_000_000)) {
		t.Errorf("Expires %v", got)
	}
}
