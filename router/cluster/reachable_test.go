package cluster

import (
	"net"
	"testing"
)

// A node listening on every interface announces 0.0.0.0:port; others dial
// its gossip IP on that port instead (a container's peer links).
func TestReachableAt(t *testing.T) {
	ip := net.ParseIP("10.1.2.3")
	for in, want := range map[string]string{
		"0.0.0.0:7950":   "10.1.2.3:7950",
		"[::]:7950":      "10.1.2.3:7950",
		":7950":          "10.1.2.3:7950",
		"10.9.9.9:7950":  "10.9.9.9:7950",
		"courier-1:7950": "courier-1:7950",
		"":               "",
	} {
		if got := reachableAt(in, ip); got != want {
			t.Errorf("reachableAt(%q) = %q, want %q", in, got, want)
		}
	}
}
