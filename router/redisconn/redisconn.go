// Package redisconn turns the node's --redis URL into a go-redis client.
//
// Accepted forms (the --redis flag):
//
//	redis://[user:password@]host:port[/db]          one server, plain TCP
//	rediss://[user:password@]host:port[/db]         one server over TLS
//	redis-cluster://[user:password@]h1:p1,h2:p2,... Redis Cluster seeds
//	rediss-cluster://...                            the same over TLS
//
// A query string passes go-redis options through (dial_timeout=2s,
// pool_size=50, ...); anything unset takes this package's defaults. Open
// does not contact Redis: the node decides whether to wait for it.
package redisconn

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults for options the URL leaves unset. Short I/O timeouts because every
// call sits on a push or a connect: a stuck Redis should surface as
// ErrUnavailable quickly rather than pile up goroutines.
const (
	DefaultDialTimeout  = 3 * time.Second
	DefaultReadTimeout  = 2 * time.Second
	DefaultWriteTimeout = 2 * time.Second
	DefaultPoolTimeout  = 3 * time.Second
	DefaultMinIdleConns = 4
)

// Open parses url and returns a client for it: a *redis.Client for redis://
// and rediss://, a *redis.ClusterClient for redis-cluster://. The caller
// closes it.
func Open(rawURL string) (redis.UniversalClient, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("redisconn: %q is not a URL: want redis://host:port/db, rediss://host:port/db or redis-cluster://h1:p1,h2:p2", redact(rawURL))
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss":
		opt, err := parseSingle(rawURL)
		if err != nil {
			return nil, err
		}
		return redis.NewClient(opt), nil
	case "redis-cluster", "rediss-cluster":
		opt, err := parseCluster(strings.TrimSuffix(strings.ToLower(scheme), "-cluster"), rest)
		if err != nil {
			return nil, err
		}
		return redis.NewClusterClient(opt), nil
	}
	return nil, fmt.Errorf("redisconn: unsupported scheme %q in %q: want redis://, rediss:// or redis-cluster://", scheme, redact(rawURL))
}

// parseSingle parses redis:// and rediss:// with go-redis's own parser
// (db, user, password, TLS, query options), after checking what it lets pass.
func parseSingle(rawURL string) (*redis.Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisconn: bad URL %q: %w", redact(rawURL), unwrapURLError(err))
	}
	if err := checkHostPort(u.Host, rawURL); err != nil {
		return nil, err
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisconn: bad URL %q: %w", redact(rawURL), err)
	}
	withDefaults(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout, &opt.MinIdleConns)
	return opt, nil
}

// parseCluster parses the part after "redis-cluster://": userinfo, a
// comma-separated seed list, an optional "/" and a query. It hands
// go-redis's ParseClusterURL the form it knows (first seed as host, the
// others as addr= parameters), so query options mean the same as there.
func parseCluster(scheme, rest string) (*redis.ClusterOptions, error) {
	shown := redact(scheme + "-cluster://" + rest)
	hostPart, query, _ := strings.Cut(rest, "?")
	userinfo := ""
	if i := strings.LastIndexByte(hostPart, '@'); i >= 0 {
		userinfo, hostPart = hostPart[:i+1], hostPart[i+1:]
	}
	hostPart, path, _ := strings.Cut(hostPart, "/")
	if path != "" && path != "0" {
		return nil, fmt.Errorf("redisconn: %q selects database %q: Redis Cluster has only database 0", shown, path)
	}
	var seeds []string
	for _, h := range strings.Split(hostPart, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if err := checkHostPort(h, shown); err != nil {
			return nil, err
		}
		seeds = append(seeds, h)
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("redisconn: %q names no seed node: want redis-cluster://h1:p1,h2:p2", shown)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("redisconn: bad query in %q: %w", shown, err)
	}
	for _, s := range seeds[1:] {
		q.Add("addr", s)
	}
	opt, err := redis.ParseClusterURL(scheme + "://" + userinfo + seeds[0] + "?" + q.Encode())
	if err != nil {
		return nil, fmt.Errorf("redisconn: bad URL %q: %w", shown, err)
	}
	withDefaults(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout, &opt.MinIdleConns)
	return opt, nil
}

// checkHostPort insists on an explicit host and numeric port: a default
// port hides typos such as "redis://redis:63790" read as a host name.
// withDefaults fills the timeouts and idle pool a URL left unset, the same
// for one server and a cluster (their option types differ, the fields not).
func withDefaults(dial, read, write, pool *time.Duration, minIdle *int) {
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{dial, DefaultDialTimeout}, {read, DefaultReadTimeout}, {write, DefaultWriteTimeout}, {pool, DefaultPoolTimeout}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if *minIdle == 0 {
		*minIdle = DefaultMinIdleConns
	}
}

func checkHostPort(hostport, shown string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("redisconn: %q: address %q needs host:port", redact(shown), hostport)
	}
	if host == "" {
		return fmt.Errorf("redisconn: %q: address %q has no host", redact(shown), hostport)
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return fmt.Errorf("redisconn: %q: port %q is not a number", redact(shown), port)
		}
	}
	if port == "" || len(port) > 5 {
		return fmt.Errorf("redisconn: %q: bad port %q", redact(shown), port)
	}
	return nil
}

// redact hides the password of a URL so errors can be logged.
func redact(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	end := len(rest)
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		end = i
	}
	at := strings.LastIndexByte(rest[:end], '@')
	if at < 0 {
		return s
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return s
	}
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
