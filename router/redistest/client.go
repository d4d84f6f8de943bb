package redistest

import (
	"net"
	"testing"

	"github.com/redis/go-redis/v9"

	"courier/router/redisconn"
)

// Client connects to url through redisconn (so its URL forms are exercised
// too) and closes the client when the test ends.
func Client(t testing.TB, url string) redis.UniversalClient {
	t.Helper()
	c, err := redisconn.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Unreachable returns a client of a Redis that is not there (a port nothing
// listens on), failing fast and without retries: the store-down paths.
func Unreachable(t testing.TB) redis.UniversalClient {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	return Client(t, "redis://"+addr+"/0?max_retries=-1&dial_timeout=200ms")
}
