package janitor

import (
	"sync/atomic"
	"testing"
	"time"

	"courier/router/testkit"
)

func TestSweepsUntilStopped(t *testing.T) {
	var n atomic.Int32
	j := Start(time.Millisecond, func() { n.Add(1) })
	testkit.Eventually(t, 5*time.Second, "three sweeps", func() bool { return n.Load() >= 3 })
	j.Stop()
	j.Stop() // idempotent
	after := n.Load()
	time.Sleep(10 * time.Millisecond)
	if n.Load() != after {
		t.Fatal("swept after Stop")
	}
}
