package engine

import (
	"sync"
	"time"
)

// wheel is a hashed timer wheel shared by every lean connection: one
// goroutine ticks, and a connection's timers are intrusive list nodes inside
// the connection, so arming one allocates nothing and an idle connection
// costs no runtime timer and no goroutine.
//
// Precision is one tick (a few percent of the shortest heartbeat period):
// heartbeats never need better.
type wheel struct {
	tick  time.Duration
	mu    sync.Mutex
	now   uint64 // ticks since start
	slots []timerNode
	due   []*timerNode // reused by the ticker goroutine only
	stop  chan struct{}
	done  chan struct{}
}

// timerNode is one timer of a connection. Its fields are guarded by the
// wheel's mutex; fire runs on the ticker goroutine without that lock.
type timerNode struct {
	next, prev *timerNode
	at         uint64 // tick at which it fires
	armed      bool
	kind       uint8
	// owner's onTimer runs on the wheel's goroutine; it must not block.
	// The timer may have been re-armed between its expiry and that call:
	// the owner checks w.armed(t) under its own lock. A concrete type, not
	// an interface: 8 bytes less per timer, two timers per connection.
	owner *wconn
}

const wheelSlots = 512

// newWheel starts a wheel whose resolution suits heartbeats of period
// shortest: an eighth of it, within [5ms, 500ms].
func newWheel(shortest time.Duration) *wheel {
	tick := min(max(shortest/8, 5*time.Millisecond), 500*time.Millisecond)
	w := &wheel{tick: tick, slots: make([]timerNode, wheelSlots), stop: make(chan struct{}), done: make(chan struct{})}
	for i := range w.slots {
		s := &w.slots[i]
		s.next, s.prev = s, s
	}
	go w.run()
	return w
}

// set arms t to fire after d (re-arming it if it was armed).
func (w *wheel) set(t *timerNode, d time.Duration) {
	ticks := uint64((d + w.tick - 1) / w.tick)
	if ticks == 0 {
		ticks = 1
	}
	w.mu.Lock()
	if t.armed {
		unlink(t)
	}
	t.at = w.now + ticks
	head := &w.slots[t.at%wheelSlots]
	t.prev, t.next = head.prev, head
	head.prev.next = t
	head.prev = t
	t.armed = true
	w.mu.Unlock()
}

// cancel disarms t; harmless when it is not armed.
func (w *wheel) cancel(t *timerNode) {
	w.mu.Lock()
	if t.armed {
		unlink(t)
	}
	w.mu.Unlock()
}

// isArmed reports whether t is waiting to fire (re-armed after expiry).
func (w *wheel) isArmed(t *timerNode) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return t.armed
}

func unlink(t *timerNode) {
	t.prev.next = t.next
	t.next.prev = t.prev
	t.next, t.prev = nil, nil
	t.armed = false
}

func (w *wheel) run() {
	defer close(w.done)
	tk := time.NewTicker(w.tick)
	defer tk.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-tk.C:
		}
		w.mu.Lock()
		w.now++
		head := &w.slots[w.now%wheelSlots]
		for t := head.next; t != head; {
			next := t.next
			if t.at <= w.now {
				unlink(t)
				w.due = append(w.due, t)
			}
			t = next
		}
		w.mu.Unlock()
		for i, t := range w.due {
			t.owner.onTimer(t.kind)
			w.due[i] = nil
		}
		w.due = w.due[:0]
	}
}

func (w *wheel) close() {
	close(w.stop)
	<-w.done
}
