// Package janitor runs a sweep on a ticker until stopped: the background
// clean-up of the in-memory stores.
package janitor

import (
	"sync"
	"time"
)

// Janitor calls a sweep every period until Stop.
type Janitor struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Start calls sweep every period on a goroutine of its own.
func Start(every time.Duration, sweep func()) *Janitor {
	j := &Janitor{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(j.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-j.stop:
				return
			case <-t.C:
				sweep()
			}
		}
	}()
	return j
}

// Stop ends the sweeps and waits for one under way. Idempotent.
func (j *Janitor) Stop() {
	j.once.Do(func() { close(j.stop) })
	<-j.done
}
