package tfc

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for the window limiter.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestWindowLimiterSlots(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	t0 := clock.Now()
	l := NewWindowLimiter(3, time.Second)
	l.now = clock.Now
	ctx := context.Background()
	reserve := func() time.Duration {
		_, at, err := l.reserve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return at.Sub(t0)
	}
	// A burst of three goes at once; the next three wait a window each.
	for i, want := range []time.Duration{0, 0, 0, time.Second, time.Second, time.Second, 2 * time.Second} {
		if got := reserve(); got != want {
			t.Fatalf("slot %d at %v, want %v", i, got, want)
		}
	}
	// After a quiet spell the window is free again.
	clock.Advance(10 * time.Second)
	for range 3 {
		if got := reserve(); got != 10*time.Second {
			t.Fatalf("after a pause: slot at %v, want 10s", got)
		}
	}
	if got := reserve(); got != 11*time.Second {
		t.Fatalf("fourth slot after the pause at %v, want 11s", got)
	}
}

// TestWindowLimiterZeroValue: a zero WindowLimiter holds the default ceiling instead
// of panicking.
func TestWindowLimiterZeroValue(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := &WindowLimiter{now: clock.Now}
	for i := range DefaultRateLimit {
		if ok, _ := l.Allow(); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
	if ok, wait := l.Allow(); ok || wait != time.Second+windowGuard {
		t.Errorf("request %d: allowed %v, wait %v", DefaultRateLimit+1, ok, wait)
	}
	var zero WindowLimiter
	if err := zero.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestWindowLimiterNeverExceeds checks the invariant on a long random-ish sequence: no
// window of the limiter's length holds more than n slots.
func TestWindowLimiterNeverExceeds(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewWindowLimiter(30, time.Second)
	l.now = clock.Now
	var slots []time.Time
	for i := range 2000 {
		clock.Advance(time.Duration(i%7) * 3 * time.Millisecond)
		_, at, err := l.reserve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		slots = append(slots, at)
	}
	for i := 30; i < len(slots); i++ {
		if slots[i].Sub(slots[i-30]) < time.Second {
			t.Fatalf("slots %d and %d are %v apart: 31 requests in one window", i-30, i, slots[i].Sub(slots[i-30]))
		}
	}
}

func TestWindowLimiterDeadline(t *testing.T) {
	l := NewWindowLimiter(1, time.Hour)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := l.Wait(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want DeadlineExceeded at once", err)
	}
	// The refused waiter took no slot: the next one is still an hour after the first.
	_, at, _ := l.reserve(context.Background())
	if d := time.Until(at); d < 59*time.Minute {
		t.Errorf("next slot in %v; a refused waiter consumed a slot", d)
	}
}

func TestWindowLimiterCancel(t *testing.T) {
	l := NewWindowLimiter(1, time.Hour)
	_ = l.Wait(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Wait(ctx) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want Canceled", err)
	}
}

// countingLimiter counts Wait calls.
type countingLimiter struct{ waits atomic.Int64 }

func (c *countingLimiter) Wait(ctx context.Context) error {
	c.waits.Add(1)
	return ctx.Err()
}

func TestCeilingAppliesToEveryAttempt(t *testing.T) {
	lim := &countingLimiter{}
	api := newTestAPI(t, WithRateLimiter(lim))
	var attempts atomic.Int64
	api.handle("GET /api/v2/tasks/task-1", flaky(t, &attempts, "runtasks_show_response.json", status(503), status(429)))
	if _, err := api.client.RunTasks.Read(context.Background(), "task-1", nil); err != nil {
		t.Fatal(err)
	}
	if lim.waits.Load() != 3 {
		t.Errorf("limiter waits = %d, want 3 (every attempt)", lim.waits.Load())
	}
}

func TestCeilingSharedAcrossGoroutines(t *testing.T) {
	lim := &countingLimiter{}
	api := newTestAPI(t, WithRateLimiter(lim))
	api.handle("GET /api/v2/tasks/task-1", serveFixture(t, 200, "runtasks_show_response.json"))
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := api.client.RunTasks.Read(context.Background(), "task-1", nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if lim.waits.Load() != 20 {
		t.Errorf("waits = %d, want 20", lim.waits.Load())
	}
}

func TestDefaultCeiling(t *testing.T) {
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	wl, ok := c.limiter.(*WindowLimiter)
	if !ok || len(wl.slots) != DefaultRateLimit || wl.window != time.Second+windowGuard {
		t.Fatalf("default limiter = %#v", c.limiter)
	}
	c, _ = NewClient(WithRateLimit(0))
	if c.limiter != nil {
		t.Error("WithRateLimit(0) kept a ceiling")
	}
	api := newTestAPI(t, WithRateLimit(5))
	api.handle("GET /api/v2/tasks/task-1", serveFixture(t, http.StatusOK, "runtasks_show_response.json"))
	if _, err := api.client.RunTasks.Read(context.Background(), "task-1", nil); err != nil {
		t.Fatal(err)
	}
}
