// Package auth signs and verifies the client tokens of the client protocol (node/README.md):
// sub is the user, exp the optional expiry, rooms the room patterns the
// client may join ("*" as a suffix wildcard). courier signs HS256; it
// verifies HS256, RS256 and ES256 (Verifier).
package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"time"
)

// Claims are the parts of a client token courier reads. Times are JWT
// NumericDates: seconds since the epoch, fractions allowed (RFC 7519 2).
type Claims struct {
	Sub   string   `json:"sub"`
	Exp   float64  `json:"exp,omitempty"` // not valid from then on
	Nbf   float64  `json:"nbf,omitempty"` // not valid before
	Iat   float64  `json:"iat,omitempty"`
	Iss   string   `json:"iss,omitempty"`
	Aud   Audience `json:"aud,omitempty"`
	Rooms []string `json:"rooms,omitempty"`
}

// Expires is when the token stops being valid; zero when it never does.
func (c Claims) Expires() time.Time {
	if c.Exp == 0 {
		return time.Time{}
	}
	return numericDate(c.Exp)
}

func numericDate(v float64) time.Time {
	sec := math.Floor(v)
	return time.Unix(int64(sec), int64((v-sec)*1e9))
}

var (
	ErrMalformed = errors.New("token malformed")
	ErrAlgorithm = errors.New("token algorithm not accepted")
	ErrSignature = errors.New("token signature invalid")
	ErrExpired   = errors.New("token expired")
	ErrNotYet    = errors.New("token not valid yet (nbf)")
	ErrNoSubject = errors.New("token has no sub")
)

var b64 = base64.RawURLEncoding

// header is fixed: only HS256 is accepted, so only HS256 is produced.
var encodedHeader = b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// Sign returns a compact JWT for c.
func Sign(secret []byte, c Claims) (string, error) {
	if c.Sub == "" {
		return "", ErrNoSubject
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signingInput := encodedHeader + "." + b64.EncodeToString(payload)
	return signingInput + "." + b64.EncodeToString(mac(secret, signingInput)), nil
}

// Verify checks an HS256 token under secret (Verifier with that one secret).
func Verify(secret []byte, token string, now time.Time) (Claims, error) {
	return (&Verifier{cfg: VerifierConfig{Secrets: [][]byte{secret}}}).Verify(token, now)
}

// MayJoin reports whether a room matches one of the token's patterns.
func (c Claims) MayJoin(room string) bool {
	for _, p := range c.Rooms {
		if p == room || (strings.HasSuffix(p, "*") && strings.HasPrefix(room, p[:len(p)-1])) {
			return true
		}
	}
	return false
}

func mac(secret []byte, input string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(input))
	return h.Sum(nil)
}
