package testkit

import (
	"net"
	"testing"
)

// FreePorts reserves n distinct loopback ports: each listened on at once,
// then all closed, so none is handed out twice. A process started later
// races other programs for them.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var out []int
	var ls []net.Listener
	for len(out) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}
