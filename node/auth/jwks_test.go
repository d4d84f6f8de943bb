package auth

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func jwkOf(kid string, pub any) map[string]string {
	enc := base64.RawURLEncoding.EncodeToString
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": enc(k.N.Bytes()), "e": enc(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		b, _ := k.Bytes() // 0x04 || X || Y
		return map[string]string{"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256", "x": enc(b[1:33]), "y": enc(b[33:])}
	}
	return nil
}

// A JWKS issuer: keys chosen by kid, a rotated-in key found by refetching,
// refetches at most once a minute however many unknown kids arrive, and the
// last good set kept while the issuer is down.
func TestJWKSKeysByKidRefreshedAtMostOncePerMinute(t *testing.T) {
	rk, ek := testKeys(t)
	newRSA, _ := testKeys(t)
	var mu sync.Mutex
	keys := []map[string]string{jwkOf("r1", &rk.PublicKey), jwkOf("e1", &ek.PublicKey), {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}}
	var fetches atomic.Int64
	down := atomic.Bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	defer srv.Close()
	clock := time.Now()
	jwks := NewJWKS(srv.URL, nil)
	jwks.now = func() time.Time { return clock }
	v, err := NewVerifier(VerifierConfig{Keys: jwks})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := Claims{Sub: "alice"}
	for _, tok := range []string{signAsym(t, "RS256", "r1", rk, claims), signAsym(t, "ES256", "e1", ek, claims)} {
		if _, err := v.Verify(tok, now); err != nil {
			t.Fatalf("kid-selected key: %v", err)
		}
	}
	if _, err := v.Verify(signAsym(t, "RS256", "e1", rk, claims), now); !errors.Is(err, ErrSignature) {
		t.Fatalf("RS256 checked with the EC key named by kid: %v", err)
	}
	if _, err := v.Verify(signHS256(map[string]string{"alg": "HS256", "kid": "hmac"}, claims, []byte("secret")), now); err == nil {
		t.Fatal("an HS256 token accepted through a symmetric JWK")
	}
	if fetches.Load() != 1 {
		t.Fatalf("%d fetches for known kids, want 1", fetches.Load())
	}

	// the issuer rotates in r2; unknown kids within the minute do not refetch
	mu.Lock()
	keys = append(keys, jwkOf("r2", &newRSA.PublicKey))
	mu.Unlock()
	rotated := signAsym(t, "RS256", "r2", newRSA, claims)
	clock = clock.Add(30 * time.Second)
	for range 100 {
		if _, err := v.Verify(signAsym(t, "RS256", "made-up", rk, claims), now); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if _, err := v.Verify(rotated, now); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("rotated key before the refresh interval: %v", err)
	}
	if fetches.Load() != 1 {
		t.Fatalf("%d fetches within the minute, want 1", fetches.Load())
	}
	clock = clock.Add(31 * time.Second)
	if _, err := v.Verify(rotated, now); err != nil {
		t.Fatalf("rotated key after the refresh interval: %v", err)
	}
	if fetches.Load() != 2 {
		t.Fatalf("%d fetches, want 2", fetches.Load())
	}

	// the issuer goes down: known keys still verify
	down.Store(true)
	clock = clock.Add(2 * time.Minute)
	if _, err := v.Verify(signAsym(t, "RS256", "made-up-2", rk, claims), now); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown kid while down: %v", err)
	}
	if _, err := v.Verify(rotated, now); err != nil {
		t.Fatalf("a known key lost while the issuer is down: %v", err)
	}
}

// An issuer unreachable from the start: tokens are refused with a reason.
func TestJWKSUnreachable(t *testing.T) {
	rk, _ := testKeys(t)
	v, _ := NewVerifier(VerifierConfig{Keys: NewJWKS("http://127.0.0.1:1/keys", &http.Client{Timeout: time.Second})})
	_, err := v.Verify(signAsym(t, "RS256", "r1", rk, Claims{Sub: "a"}), time.Now())
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("got %v", err)
	}
}
