package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"testing"
	"time"
)

// signAsym makes a token as an RS256 or ES256 issuer does.
func signAsym(t *testing.T, alg, kid string, key crypto.Signer, claims any) string {
	t.Helper()
	h := map[string]string{"alg": alg, "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	hb, _ := json.Marshal(h)
	pb, _ := json.Marshal(claims)
	input := b64.EncodeToString(hb) + "." + b64.EncodeToString(pb)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch k := key.(type) {
	case *rsa.PrivateKey:
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:]); err != nil {
			t.Fatal(err)
		}
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	}
	return input + "." + b64.EncodeToString(sig)
}

// signHS256 signs any header and claims with an HMAC key, as an attacker
// would.
func signHS256(header, claims any, key []byte) string {
	hb, _ := json.Marshal(header)
	pb, _ := json.Marshal(claims)
	input := b64.EncodeToString(hb) + "." + b64.EncodeToString(pb)
	return input + "." + b64.EncodeToString(mac(key, input))
}

func pemOf(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func testKeys(t *testing.T) (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return rk, ek
}

func TestVerifierAlgorithmsAndRefusals(t *testing.T) {
	rk, ek := testKeys(t)
	rsaPEM, ecPEM := pemOf(t, &rk.PublicKey), pemOf(t, &ek.PublicKey)
	keys, err := ParsePublicKeys(append(append([]byte{}, rsaPEM...), ecPEM...))
	if err != nil || len(keys) != 2 {
		t.Fatalf("PEM keys: %d %v", len(keys), err)
	}
	v, err := NewVerifier(VerifierConfig{Secrets: [][]byte{[]byte("new-secret"), []byte("old-secret")}, PublicKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := Claims{Sub: "alice", Exp: float64(now.Add(time.Hour).UnixMilli()) / 1000}
	otherRSA, otherEC := testKeys(t)
	oldHS, _ := Sign([]byte("old-secret"), claims)
	strangerHS, _ := Sign([]byte("stranger"), claims)

	for _, c := range []struct {
		name  string
		token string
		want  error // nil: accepted
	}{
		{"HS256 under the new secret", func() string { s, _ := Sign([]byte("new-secret"), claims); return s }(), nil},
		{"HS256 under the old secret (rotation)", oldHS, nil},
		{"HS256 under an unknown secret", strangerHS, ErrSignature},
		{"RS256", signAsym(t, "RS256", "", rk, claims), nil},
		{"ES256", signAsym(t, "ES256", "", ek, claims), nil},
		{"RS256 by another key", signAsym(t, "RS256", "", otherRSA, claims), ErrSignature},
		{"ES256 by another key", signAsym(t, "ES256", "", otherEC, claims), ErrSignature},
		{"RS256 header, ES256 signature", func() string {
			tok := signAsym(t, "ES256", "", ek, claims)
			return b64.EncodeToString([]byte(`{"alg":"RS256"}`)) + tok[len(b64.EncodeToString([]byte(`{"alg":"ES256","typ":"JWT"}`))):]
		}(), ErrSignature},
		{"alg none", b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + b64.EncodeToString([]byte(`{"sub":"alice"}`)) + ".", ErrAlgorithm},
		{"HS256 keyed with the RSA public key (confusion)", signHS256(map[string]string{"alg": "HS256"}, claims, rsaPEM), ErrSignature},
		{"HS256 keyed with the EC public key (confusion)", signHS256(map[string]string{"alg": "HS256"}, claims, ecPEM), ErrSignature},
		{"HS512", signHS256(map[string]string{"alg": "HS512"}, claims, []byte("new-secret")), ErrAlgorithm},
		{"expired", signAsym(t, "RS256", "", rk, Claims{Sub: "alice", Exp: float64(now.Add(-time.Second).Unix())}), ErrExpired},
		{"not yet (nbf)", signAsym(t, "ES256", "", ek, Claims{Sub: "alice", Nbf: float64(now.Add(time.Minute).Unix())}), ErrNotYet},
		{"no sub", signAsym(t, "RS256", "", rk, Claims{Exp: claims.Exp}), ErrNoSubject},
	} {
		got, err := v.Verify(c.token, now)
		switch {
		case c.want == nil && (err != nil || got.Sub != "alice"):
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestVerifierIssuerAndAudience(t *testing.T) {
	rk, _ := testKeys(t)
	v, err := NewVerifier(VerifierConfig{PublicKeys: []crypto.PublicKey{&rk.PublicKey}, Issuer: "https://login.example", Audience: "courier"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, c := range []struct {
		name   string
		claims map[string]any
		want   error
	}{
		{"iss and aud", map[string]any{"sub": "a", "iss": "https://login.example", "aud": "courier"}, nil},
		{"aud among several", map[string]any{"sub": "a", "iss": "https://login.example", "aud": []string{"shop", "courier"}}, nil},
		{"another issuer", map[string]any{"sub": "a", "iss": "https://evil.example", "aud": "courier"}, ErrIssuer},
		{"no issuer", map[string]any{"sub": "a", "aud": "courier"}, ErrIssuer},
		{"another audience", map[string]any{"sub": "a", "iss": "https://login.example", "aud": []string{"shop"}}, ErrAudience},
		{"no audience", map[string]any{"sub": "a", "iss": "https://login.example"}, ErrAudience},
		{"aud of the wrong type", map[string]any{"sub": "a", "iss": "https://login.example", "aud": 7}, ErrMalformed},
	} {
		_, err := v.Verify(signAsym(t, "RS256", "", rk, c.claims), now)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestVerifierRefusesUnusableKeys(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, k := range map[string]crypto.PublicKey{"RSA 1024": &small.PublicKey, "P-384": &p384.PublicKey} {
		if _, err := ParsePublicKeys(pemOf(t, k)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := ParsePublicKeys([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")); err == nil {
		t.Error("a private key block accepted as a public key")
	}
	if _, err := ParsePublicKeys([]byte("not pem")); err == nil {
		t.Error("no PEM accepted")
	}
	if _, err := NewVerifier(VerifierConfig{}); err == nil {
		t.Error("a verifier with nothing to verify with")
	}
}
