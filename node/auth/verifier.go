package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Errors of the checks a Verifier adds to Verify's.
var (
	ErrUnknownKey = errors.New("token key unknown (kid)")
	ErrIssuer     = errors.New("token issuer not accepted (iss)")
	ErrAudience   = errors.New("token audience not accepted (aud)")
)

// VerifierConfig says which tokens a Verifier accepts: HS256 under any of
// Secrets (rotation: add the new one, move the issuers, drop the old), RS256
// or ES256 under one of PublicKeys or a key of Keys (a JWKS, selected by kid),
// with iss and aud checked when set. An algorithm is only ever checked with
// keys of its own kind, so "none" and a public key used as an HMAC secret
// are refused.
type VerifierConfig struct {
	Secrets    [][]byte
	PublicKeys []crypto.PublicKey // *rsa.PublicKey or *ecdsa.PublicKey (P-256)
	Keys       KeySource          // nil: none
	Issuer     string
	Audience   string
}

// KeySource finds a public key by kid (JWKS).
type KeySource interface {
	Key(kid string) (crypto.PublicKey, error)
}

// Verifier checks client tokens. Safe for concurrent use.
type Verifier struct{ cfg VerifierConfig }

// NewVerifier checks cfg: at least one way to verify, keys of a kind this
// package verifies.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if len(cfg.Secrets) == 0 && len(cfg.PublicKeys) == 0 && cfg.Keys == nil {
		return nil, errors.New("auth: no secret, public key or JWKS to verify tokens with")
	}
	for _, s := range cfg.Secrets {
		if len(s) == 0 {
			return nil, errors.New("auth: empty HS256 secret")
		}
	}
	for _, k := range cfg.PublicKeys {
		if err := usableKey(k); err != nil {
			return nil, err
		}
	}
	return &Verifier{cfg: cfg}, nil
}

func usableKey(k crypto.PublicKey) error {
	switch k := k.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("auth: RSA key of %d bits, want 2048 or more", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return errors.New("auth: ECDSA key not on P-256 (ES256)")
		}
	default:
		return fmt.Errorf("auth: %T keys are not supported (RSA for RS256, ECDSA P-256 for ES256)", k)
	}
	return nil
}

// Verify checks token's signature, times, issuer and audience against now
// and returns its claims.
func (v *Verifier) Verify(token string, now time.Time) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, ErrMalformed
	}
	rawHeader, err := b64.DecodeString(parts[0])
	if err != nil {
		return Claims{}, ErrMalformed
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if json.Unmarshal(rawHeader, &h) != nil {
		return Claims{}, ErrMalformed
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return Claims{}, ErrMalformed
	}
	input := parts[0] + "." + parts[1]
	if err := v.checkSignature(h.Alg, h.Kid, input, sig); err != nil {
		return Claims{}, err
	}
	c, err := readClaims(parts[1], now)
	if err != nil {
		return c, err
	}
	if v.cfg.Issuer != "" && c.Iss != v.cfg.Issuer {
		return c, ErrIssuer
	}
	if v.cfg.Audience != "" && !c.Aud.has(v.cfg.Audience) {
		return c, ErrAudience
	}
	return c, nil
}

func (v *Verifier) checkSignature(alg, kid, input string, sig []byte) error {
	switch alg {
	case "HS256":
		for _, s := range v.cfg.Secrets {
			if hmac.Equal(sig, mac(s, input)) {
				return nil
			}
		}
		return ErrSignature
	case "RS256", "ES256":
		keys := v.cfg.PublicKeys
		if kid != "" && v.cfg.Keys != nil {
			// the key set's key by that name, else the configured keys
			if k, err := v.cfg.Keys.Key(kid); err == nil {
				keys = []crypto.PublicKey{k}
			} else if len(keys) == 0 {
				return err
			}
		}
		digest := sha256.Sum256([]byte(input))
		for _, k := range keys {
			if verifyAsym(alg, k, digest[:], sig) {
				return nil
			}
		}
		if len(keys) == 0 {
			return ErrUnknownKey
		}
		return ErrSignature
	default:
		return fmt.Errorf("%w: %q (HS256, RS256, ES256 are)", ErrAlgorithm, alg)
	}
}

// verifyAsym checks sig with k when k is of alg's kind, never otherwise.
func verifyAsym(alg string, k crypto.PublicKey, digest, sig []byte) bool {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return alg == "RS256" && rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig) == nil
	case *ecdsa.PublicKey:
		// JWS ES256: r and s, 32 bytes each (RFC 7518 3.4), not ASN.1
		if alg != "ES256" || len(sig) != 64 {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k, digest, r, s)
	}
	return false
}

// readClaims decodes the payload and checks sub, exp and nbf.
func readClaims(payload string, now time.Time) (Claims, error) {
	var c Claims
	raw, err := b64.DecodeString(payload)
	if err != nil {
		return c, ErrMalformed
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if c.Sub == "" {
		return c, ErrNoSubject
	}
	if c.Exp != 0 && !now.Before(numericDate(c.Exp)) {
		return c, ErrExpired
	}
	if c.Nbf != 0 && now.Before(numericDate(c.Nbf)) {
		return c, ErrNotYet
	}
	return c, nil
}

// Audience is a token's aud: one string or several (RFC 7519 4.1.3).
type Audience []string

func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor a list of strings")
	}
	*a = many
	return nil
}

func (a Audience) has(want string) bool {
	for _, s := range a {
		if s == want {
			return true
		}
	}
	return false
}
