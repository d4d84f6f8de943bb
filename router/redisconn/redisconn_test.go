package redisconn_test

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"courier/router/redisconn"
)

func TestOpenSingle(t *testing.T) {
	tests := []struct {
		url        string
		addr       string
		db         int
		user, pass string
		tls        bool
	}{
		{url: "redis://127.0.0.1:6379", addr: "127.0.0.1:6379"},
		{url: "redis://127.0.0.1:6379/3", addr: "127.0.0.1:6379", db: 3},
		{url: "redis://:secret@redis.local:6380/1", addr: "redis.local:6380", db: 1, pass: "secret"},
		{url: "redis://app:secret@redis.local:6380/0", addr: "redis.local:6380", user: "app", pass: "secret"},
		{url: "rediss://:pw@cache.example.com:6380/2", addr: "cache.example.com:6380", db: 2, pass: "pw", tls: true},
		{url: "redis://[::1]:6379/0", addr: "[::1]:6379"},
	}
	for _, tc := range tests {
		c, err := redisconn.Open(tc.url)
		if err != nil {
			t.Errorf("Open(%q): %v", tc.url, err)
			continue
		}
		cl, ok := c.(*redis.Client)
		if !ok {
			t.Errorf("Open(%q) = %T; want *redis.Client", tc.url, c)
			continue
		}
		o := cl.Options()
		if o.Addr != tc.addr || o.DB != tc.db || o.Username != tc.user || o.Password != tc.pass || (o.TLSConfig != nil) != tc.tls {
			t.Errorf("Open(%q) options: addr %q db %d user %q pass %q tls %v", tc.url, o.Addr, o.DB, o.Username, o.Password, o.TLSConfig != nil)
		}
		if tc.tls && o.TLSConfig.ServerName != strings.Split(tc.addr, ":")[0] {
			t.Errorf("Open(%q) TLS ServerName = %q", tc.url, o.TLSConfig.ServerName)
		}
		if o.ReadTimeout != redisconn.DefaultReadTimeout || o.DialTimeout != redisconn.DefaultDialTimeout {
			t.Errorf("Open(%q) timeouts: dial %v read %v; want the defaults", tc.url, o.DialTimeout, o.ReadTimeout)
		}
		c.Close()
	}
}

func TestOpenQueryOverridesDefaults(t *testing.T) {
	c, err := redisconn.Open("redis://127.0.0.1:6379/0?read_timeout=5s&pool_size=7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := c.(*redis.Client).Options()
	if o.ReadTimeout != 5*time.Second || o.PoolSize != 7 || o.WriteTimeout != redisconn.DefaultWriteTimeout {
		t.Fatalf("read %v pool %d write %v", o.ReadTimeout, o.PoolSize, o.WriteTimeout)
	}
}

func TestOpenCluster(t *testing.T) {
	tests := []struct {
		url        string
		addrs      []string
		user, pass string
		tls        bool
	}{
		{url: "redis-cluster://10.0.0.1:7000", addrs: []string{"10.0.0.1:7000"}},
		{url: "redis-cluster://10.0.0.1:7000,10.0.0.2:7001,10.0.0.3:7002", addrs: []string{"10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:7002"}},
		{url: "redis-cluster://:pw@h1:7000,h2:7001/", addrs: []string{"h1:7000", "h2:7001"}, pass: "pw"},
		{url: "redis-cluster://app:pw@h1:7000,h2:7001?read_timeout=4s", addrs: []string{"h1:7000", "h2:7001"}, user: "app", pass: "pw"},
		{url: "rediss-cluster://h1:7000,h2:7001", addrs: []string{"h1:7000", "h2:7001"}, tls: true},
	}
	for _, tc := range tests {
		c, err := redisconn.Open(tc.url)
		if err != nil {
			t.Errorf("Open(%q): %v", tc.url, err)
			continue
		}
		cl, ok := c.(*redis.ClusterClient)
		if !ok {
			t.Errorf("Open(%q) = %T; want *redis.ClusterClient", tc.url, c)
			continue
		}
		o := cl.Options()
		if strings.Join(o.Addrs, ",") != strings.Join(tc.addrs, ",") || o.Username != tc.user || o.Password != tc.pass || (o.TLSConfig != nil) != tc.tls {
			t.Errorf("Open(%q) options: addrs %v user %q pass %q tls %v", tc.url, o.Addrs, o.Username, o.Password, o.TLSConfig != nil)
		}
		if o.DialTimeout != redisconn.DefaultDialTimeout {
			t.Errorf("Open(%q) dial timeout %v", tc.url, o.DialTimeout)
		}
		c.Close()
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct{ url, want string }{
		{"", "not a URL"},
		{"localhost:6379", "not a URL"},
		{"http://localhost:6379", "unsupported scheme"},
		{"redis://localhost", "needs host:port"},
		{"redis://:6379", "no host"},
		{"redis://localhost:63x9", "port"},
		{"redis-cluster://h1:70x0", "not a number"},
		{"redis://localhost:6379/abc", "bad URL"},
		{"redis-cluster://", "names no seed"},
		{"redis-cluster://h1:7000,h2", "needs host:port"},
		{"redis-cluster://h1:7000/2", "only database 0"},
		{"redis://user:hunter2@localhost:6379/x", "xxxxx"},
	}
	for _, tc := range tests {
		_, err := redisconn.Open(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v; want an error containing %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) error shows the password: %v", tc.url, err)
		}
	}
}
