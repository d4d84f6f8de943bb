package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"courier/node"
)

// ensureSecrets fills a missing API key or JWT secret with a random one and
// sets cfg.DevSecrets, so cfg.Validate refuses them on a non-loopback listener.
// It reports what it generated, for printDevSecrets.
func ensureSecrets(cfg *node.Config, r io.Reader) (apiKey, jwtSecret bool, err error) {
	if r == nil {
		r = rand.Reader
	}
	if len(cfg.APIKeys) == 0 {
		k, err := randomSecret(r)
		if err != nil {
			return false, false, err
		}
		cfg.APIKeys, apiKey = []string{k}, true
	}
	if cfg.JWTSecret == "" && cfg.JWTPublicKey == "" && cfg.JWKSURL == "" && cfg.AuthHook == "" {
		s, err := randomSecret(r)
		if err != nil {
			return false, false, err
		}
		cfg.JWTSecret, jwtSecret = s, true
	}
	cfg.DevSecrets = cfg.DevSecrets || apiKey || jwtSecret
	return apiKey, jwtSecret, nil
}

// randomSecret is 32 random bytes, base64url. One that starts with '-'
// is drawn again: pasted after --api-key or --jwt-secret, as the hints we
// print do, it would read as a flag.
func randomSecret(r io.Reader) (string, error) {
	b := make([]byte, 32)
	for {
		if _, err := io.ReadFull(r, b); err != nil {
			return "", fmt.Errorf("generating a dev secret: %w", err)
		}
		if s := base64.RawURLEncoding.EncodeToString(b); s[0] != '-' {
			return s, nil
		}
	}
}

// printDevSecrets shows generated secrets once, on stdout, with commands
// that use them: they exist nowhere else and die with the process.
func printDevSecrets(w io.Writer, cfg node.Config, apiKey, jwtSecret bool, self string) {
	if !apiKey && !jwtSecret {
		return
	}
	bar := strings.Repeat("=", 72)
	fmt.Fprintf(w, "%s\ncourier: generated dev secrets (loopback only, new on every start)\n", bar)
	if apiKey {
		fmt.Fprintf(w, "  API key:    %s\n", cfg.APIKeys[0])
	}
	if jwtSecret {
		fmt.Fprintf(w, "  JWT secret: %s\n", cfg.JWTSecret)
	}
	fmt.Fprintln(w, "try:")
	if jwtSecret {
		fmt.Fprintf(w, "  %s token --jwt-secret %s --user alice --rooms 'lobby,game:*'\n", self, cfg.JWTSecret)
	}
	if apiKey {
		fmt.Fprintf(w, "  curl -H 'Authorization: Bearer %s' -d '{\"to\":{\"users\":[\"alice\"]},\"event\":\"hello\",\"data\":\"hi\",\"ttl\":60}' http://%s/v1/push\n",
			cfg.APIKeys[0], cfg.Listen)
	}
	fmt.Fprintf(w, "set --api-key and --jwt-secret (or COURIER_API_KEY, COURIER_JWT_SECRET) to keep them.\n%s\n", bar)
}
