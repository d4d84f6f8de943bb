package janitor

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestSweepsUntilStopped(t *testing.T) {
	var n atomic.Int32
	j := Start(time.Millisecond, func() { n.Add(1) })
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no sweeps")
		}
		time.Sleep(time.Millisecond)
	}
	j.Stop()
	j.Stop() // idempotent
	after := n.Load()
	time.Sleep(10 * time.Millisecond)
	if n.Load() != after {
		t.Fatal("swept after Stop")
	}
}
