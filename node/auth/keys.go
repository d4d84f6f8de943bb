package auth

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParsePublicKeys reads the PEM blocks of a --jwt-public-key file: PUBLIC
// KEY (PKIX), RSA PUBLIC KEY (PKCS #1) or CERTIFICATE, RSA of 2048 bits or
// more or ECDSA P-256. Several blocks give several keys (rotation).
func ParsePublicKeys(data []byte) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var k crypto.PublicKey
		var err error
		switch b.Type {
		case "PUBLIC KEY":
			k, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			k, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(b.Bytes); err == nil {
				k = c.PublicKey
			}
		default:
			return nil, fmt.Errorf("auth: PEM block %q is not a public key (PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", b.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("auth: PEM block %q: %w", b.Type, err)
		}
		if err := usableKey(k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("auth: no PEM public key found")
	}
	return keys, nil
}
