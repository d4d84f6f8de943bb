package node

import (
	"crypto"
	"fmt"
	"os"

	"courier/node/auth"
)

// newTokenVerifier builds what checks client tokens from the --jwt-* flags:
// HS256 secrets, a PEM file of public keys, a JWKS URL, iss and aud.
func newTokenVerifier(cfg Config) (*auth.Verifier, error) {
	vc := auth.VerifierConfig{Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience}
	for _, s := range cfg.JWTSecrets() {
		vc.Secrets = append(vc.Secrets, []byte(s))
	}
	if cfg.JWTPublicKey != "" {
		pem, err := os.ReadFile(cfg.JWTPublicKey)
		if err != nil {
			return nil, fmt.Errorf("--jwt-public-key: %w", err)
		}
		keys, err := auth.ParsePublicKeys(pem)
		if err != nil {
			return nil, fmt.Errorf("--jwt-public-key %s: %w", cfg.JWTPublicKey, err)
		}
		vc.PublicKeys = append([]crypto.PublicKey(nil), keys...)
	}
	if cfg.JWKSURL != "" {
		vc.Keys = auth.NewJWKS(cfg.JWKSURL, nil)
	}
	return auth.NewVerifier(vc)
}
