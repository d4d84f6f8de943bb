package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// JWKSRefresh is the least time between two fetches of a JWKS: a token with
// an unknown kid refetches at most this often, so made-up kids cannot make
// the node hammer the issuer.
const JWKSRefresh = time.Minute

// JWKS is the key set at a --jwks-url: fetched on first use, refetched when a
// token names a kid it lacks (at most once per JWKSRefresh), and kept when a
// fetch fails. Safe for concurrent use.
type JWKS struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu   sync.RWMutex
	keys map[string]crypto.PublicKey
	err  error // of the last fetch

	// fetching serializes fetches: callers that miss wait for one fetch
	// instead of each starting theirs, and known kids are not held up.
	fetching sync.Mutex
	fetched  time.Time // last attempt
}

// NewJWKS serves the keys at url; client nil: a 5 s timeout client.
func NewJWKS(url string, client *http.Client) *JWKS {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	return &JWKS{url: url, client: client, now: time.Now}
}

// Key returns the key named kid.
func (j *JWKS) Key(kid string) (crypto.PublicKey, error) {
	if k, ok := j.lookup(kid); ok {
		return k, nil
	}
	j.fetching.Lock()
	if k, ok := j.lookup(kid); ok { // fetched while we waited
		j.fetching.Unlock()
		return k, nil
	}
	if j.fetched.IsZero() || j.now().Sub(j.fetched) >= JWKSRefresh {
		j.fetched = j.now()
		keys, err := j.get()
		j.mu.Lock()
		if j.err = err; err == nil {
			j.keys = keys
		}
		j.mu.Unlock()
	}
	j.fetching.Unlock()
	if k, ok := j.lookup(kid); ok {
		return k, nil
	}
	j.mu.RLock()
	defer j.mu.RUnlock()
	if j.keys == nil && j.err != nil {
		return nil, fmt.Errorf("%w: key set unavailable: %v", ErrUnknownKey, j.err)
	}
	return nil, ErrUnknownKey
}

func (j *JWKS) lookup(kid string) (crypto.PublicKey, bool) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	k, ok := j.keys[kid]
	return k, ok
}

func (j *JWKS) get() (map[string]crypto.PublicKey, error) {
	ctx, cancel := context.WithTimeout(context.Background(), j.client.Timeout+time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, err
	}
	res, err := j.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", j.url, res.Status)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("GET %s: %w", j.url, err)
	}
	keys := map[string]crypto.PublicKey{}
	for _, k := range set.Keys {
		if k.Kid == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		pk, err := k.publicKey()
		if err != nil || usableKey(pk) != nil {
			continue // a key of a kind we do not verify with; others may serve
		}
		keys[k.Kid] = pk
	}
	return keys, nil
}

// jwk is one JSON Web Key (RFC 7517), RSA or EC P-256.
type jwk struct {
	Kty, Kid, Use, Alg string
	N, E               string // RSA
	Crv, X, Y          string // EC
}

func (k jwk) publicKey() (crypto.PublicKey, error) {
	num := func(s string) (*big.Int, error) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) == 0 {
			return nil, errors.New("bad base64url number")
		}
		return new(big.Int).SetBytes(b), nil
	}
	switch k.Kty {
	case "RSA":
		n, err := num(k.N)
		if err != nil {
			return nil, err
		}
		e, err := num(k.E)
		if err != nil || !e.IsInt64() || e.Int64() > 1<<31 {
			return nil, errors.New("bad RSA exponent")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case "EC":
		if k.Crv != "P-256" {
			return nil, errors.New("EC key not on P-256")
		}
		x, errX := base64.RawURLEncoding.DecodeString(k.X)
		y, errY := base64.RawURLEncoding.DecodeString(k.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("bad EC coordinates")
		}
		// checks the point is on the curve
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	}
	return nil, fmt.Errorf("key type %q", k.Kty)
}
