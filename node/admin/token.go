package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// A session token is "v1.<expiry unix seconds>.<nonce hex>.<mac>": the
// mac is HMAC-SHA256 over the part before it, keyed by sessionKey of the
// admin key that logged in. Nothing is stored: any node configured with
// that admin key verifies the token, so a session survives a load
// balancer's choice of node, and removing the key from every node ends
// every session made with it.
const tokenVersion = "v1"

// sessionKey derives the signing key of an admin key's sessions, so that
// the admin key itself never signs anything a browser holds.
func sessionKey(adminKey string) []byte {
	m := hmac.New(sha256.New, []byte(adminKey))
	m.Write([]byte("courier admin session " + tokenVersion))
	return m.Sum(nil)
}

// signToken makes a token valid until expires, signed with key (sessionKey).
func signToken(key []byte, expires time.Time) string {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails (Go 1.24+)
	payload := tokenVersion + "." + strconv.FormatInt(expires.Unix(), 10) + "." + hex.EncodeToString(nonce[:])
	return payload + "." + mac(key, payload)
}

func mac(key []byte, payload string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verifyToken reports whether token was signed by one of keys and has not
// expired at now. Each key is tried in full, so the time taken does not
// tell which one matched.
func verifyToken(keys [][]byte, token string, now time.Time) bool {
	i := strings.LastIndexByte(token, '.')
	if i < 0 || len(token) > 200 {
		return false
	}
	payload, sig := token[:i], token[i+1:]
	parts := strings.Split(payload, ".")
	if len(parts) != 3 || parts[0] != tokenVersion || len(parts[2]) != 32 {
		return false
	}
	expires, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return false
	}
	ok := 0
	for _, k := range keys {
		ok |= subtle.ConstantTimeCompare([]byte(mac(k, payload)), []byte(sig))
	}
	return ok == 1 && now.Unix() < expires
}
