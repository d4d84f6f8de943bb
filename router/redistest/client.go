package redistest

import (
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
