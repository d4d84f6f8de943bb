package node

import (
	"strings"
	"testing"
	"time"

	"courier/node/command"
)

func routeWithTimeout(d time.Duration) command.Route {
	return command.Route{Pattern: "trpc.app.slow.*", Addrs: []string{"127.0.0.1:1"}, Timeout: d}
}

// Clustering, secrets and HTTP bounds (SPEC, Limits): what Validate
// refuses, each with the flag to fix in its message, and what it lets run.
func TestConfigRefusesUnsafeClusteringAndShortSecrets(t *testing.T) {
	long := strings.Repeat("k", MinSecretLen)
	base := func() Config {
		return Config{Listen: "127.0.0.1:8080", NodeID: "n", APIKeys: []string{"k"}, JWTSecret: "s"}.WithDefaults()
	}
	cases := []struct {
		name string
		edit func(*Config)
		want string // "" = valid
	}{
		{"loopback, short secrets", func(*Config) {}, ""},
		{"peer link without gossip", func(c *Config) { c.PeerListen = "127.0.0.1:7950"; c.ClusterSecret = "cs" }, "--peer-listen needs --gossip-listen"},
		{"gossip without a secret, even on loopback", func(c *Config) { c.GossipListen = "127.0.0.1:7946"; c.Redis = "redis://r" }, "--cluster-secret"},
		{"gossip on loopback with a short secret", func(c *Config) {
			c.GossipListen, c.PeerListen, c.Redis, c.ClusterSecret = "127.0.0.1:7946", "127.0.0.1:7950", "redis://r", "cs"
		}, ""},
		{"off loopback, short API key", func(c *Config) { c.Listen = "0.0.0.0:8080"; c.JWTSecret = long }, "--api-key number 1 is 1 bytes"},
		{"off loopback, one short key of two", func(c *Config) { c.Listen = ":8080"; c.APIKeys = []string{long, "short"}; c.JWTSecret = long }, "--api-key number 2 is 5 bytes"},
		{"off loopback, short admin key", func(c *Config) {
			c.Listen, c.APIKeys, c.JWTSecret, c.AdminKeys = "10.0.0.1:8080", []string{long}, long, []string{long, "admin"}
		}, "--admin-key number 2 is 5 bytes"},
		{"off loopback, short JWT secret", func(c *Config) { c.Listen = "10.0.0.1:8080"; c.APIKeys = []string{long} }, "--jwt-secret number 1 is 1 bytes"},
		{"off loopback, one short JWT secret of two (rotation)", func(c *Config) {
			c.Listen, c.APIKeys, c.JWTSecret = "10.0.0.1:8080", []string{long}, long+",old"
		}, "--jwt-secret number 2 is 3 bytes"},
		{"an empty JWT secret in the list", func(c *Config) { c.JWTSecret = "s,,t" }, "empty secret"},
		{"public key alone, off loopback", func(c *Config) {
			c.Listen, c.APIKeys, c.JWTSecret, c.JWTPublicKey = "10.0.0.1:8080", []string{long}, "", "/keys.pem"
		}, ""},
		{"JWKS alone", func(c *Config) { c.JWTSecret, c.JWKSURL = "", "https://login.example/jwks" }, ""},
		{"nothing to verify tokens with", func(c *Config) { c.JWTSecret = "" }, "one of --jwt-secret, --jwt-public-key, --jwks-url"},
		{"gossip off loopback, short cluster secret", func(c *Config) {
			c.APIKeys, c.JWTSecret = []string{long}, long
			c.GossipListen, c.Redis, c.ClusterSecret = "10.0.0.1:7946", "redis://r", "cs"
		}, "--cluster-secret is 2 bytes"},
		{"off loopback, long secrets", func(c *Config) {
			c.Listen, c.APIKeys, c.JWTSecret = "0.0.0.0:8080", []string{long}, long
			c.GossipListen, c.PeerListen, c.Redis, c.ClusterSecret = "10.0.0.1:7946", "10.0.0.1:7950", "redis://r", long
		}, ""},
		{"write bound shorter than a long poll", func(c *Config) { c.HTTPWriteTimeout = 20 * time.Second }, "--http-write-timeout"},
		{"write bound shorter than a route's timeout", func(c *Config) {
			c.Routes = nil
			c.Commands = append(c.Commands, routeWithTimeout(time.Minute))
		}, "the longest call timeout 1m0s"},
	}
	for _, tc := range cases {
		c := base()
		tc.edit(&c)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}
