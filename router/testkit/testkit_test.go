package testkit

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeTB records what the helpers do to a test instead of doing it: Fatalf
// keeps the message and stops the calling goroutine as the real one does,
// Output is a buffer, Cleanup keeps the functions for the test to run.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	fatal    string
	out      bytes.Buffer
	cleanups []func()
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Output() io.Writer { return &f.out }
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

// runCleanups runs the cleanups last registered first, as testing does.
func (f *fakeTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// eventually runs Eventually on its own goroutine (Fatalf ends it) and
// returns the failure message, "" if it passed.
func eventually(t *testing.T, within time.Duration, cond func() bool) string {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Eventually(f, within, "the thing", cond)
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fatal
}

func TestEventuallyPassesOnceTheConditionHolds(t *testing.T) {
	calls := 0
	if msg := eventually(t, 5*time.Second, func() bool { calls++; return calls == 5 }); msg != "" {
		t.Fatalf("failed: %s", msg)
	}
	if calls != 5 {
		t.Fatalf("cond called %d times, want 5 (it stops at the first true)", calls)
	}
}

func TestEventuallyChecksOnceMoreAtTheDeadline(t *testing.T) {
	start := time.Now()
	within := 30 * time.Millisecond
	if msg := eventually(t, within, func() bool { return time.Since(start) >= within }); msg != "" {
		t.Fatalf("failed although the condition held at the deadline: %s", msg)
	}
}

func TestEventuallyFailsNamingWhatAndTheWait(t *testing.T) {
	start := time.Now()
	msg := eventually(t, 50*time.Millisecond, func() bool { return false })
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("gave up after %v, before the 50ms it was given", took)
	}
	m := regexp.MustCompile(`^timed out after (\S+) waiting for the thing$`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("failure message %q does not name what and the time waited", msg)
	}
	if waited, err := time.ParseDuration(m[1]); err != nil || waited < 50*time.Millisecond {
		t.Fatalf("failure message %q: waited %v, %v", msg, waited, err)
	}
}

func TestLoggerWritesThroughOutputAtItsLevel(t *testing.T) {
	f := &fakeTB{TB: t}
	log := Logger(f)
	log.Debug("hidden")
	log.Info("shown", "k", 1)
	debug := LoggerAt(f, slog.LevelDebug)
	debug.Debug("debug shown")
	got := f.out.String()
	if strings.Contains(got, "hidden") || !strings.Contains(got, "msg=shown k=1") || !strings.Contains(got, "msg=\"debug shown\"") {
		t.Fatalf("output:\n%s", got)
	}
}

func TestLoggerQuietAfterCleanup(t *testing.T) {
	f := &fakeTB{TB: t}
	log := Logger(f)
	f.runCleanups()
	log.Info("too late")
	if f.out.Len() != 0 {
		t.Fatalf("wrote after cleanup: %q", f.out.String())
	}
}

func TestLoggerOnARealTest(t *testing.T) {
	Logger(t).Info("a line attached to this test")
}

func TestClock(t *testing.T) {
	c := NewClock()
	t0 := c.Now()
	if t0.Nanosecond()%int(time.Millisecond) != 0 {
		t.Fatalf("NewClock starts at %v, not a whole millisecond", t0)
	}
	time.Sleep(2 * time.Millisecond)
	if !c.Now().Equal(t0) {
		t.Fatal("the clock moved by itself")
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { c.Advance(time.Second); _ = c.Now() })
	}
	wg.Wait()
	if got := c.Now().Sub(t0); got != 10*time.Second {
		t.Fatalf("advanced %v, want 10s", got)
	}
	at := time.UnixMilli(1_700_000_000_000)
	if got := ClockAt(at).Now(); !got.Equal(at) {
		t.Fatalf("ClockAt(%v).Now() = %v", at, got)
	}
}

// Two holders of one Exclusive name never overlap.
func TestExclusiveSerializes(t *testing.T) {
	name := "selftest-" + strconv.Itoa(os.Getpid())
	var inside, overlaps atomic.Int32
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run("holder", func(t *testing.T) {
				Exclusive(t, name)
				if inside.Add(1) > 1 {
					overlaps.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
				inside.Add(-1)
			})
		}()
	}
	wg.Wait()
	if overlaps.Load() != 0 {
		t.Fatalf("%d holders overlapped", overlaps.Load())
	}
}
