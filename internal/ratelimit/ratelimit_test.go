package ratelimit_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/internal/ratelimit"
)

// clock is a manual clock for the limiter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newLimiter(t *testing.T, limit int, window time.Duration, mod func(*ratelimit.Options)) (*ratelimit.Limiter, *clock) {
	t.Helper()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	opts := ratelimit.Options{Limit: limit, Window: window, Flag: "--test-rate", Now: c.now}
	if mod != nil {
		mod(&opts)
	}
	l, err := ratelimit.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return l, c
}

func TestBurstThenRate(t *testing.T) {
	l, c := newLimiter(t, 5, time.Minute, nil)
	for i := range 5 {
		if _, err := l.Charge("k"); err != nil {
			t.Fatalf("write %d of a burst of 5: %v", i+1, err)
		}
	}
	_, err := l.Charge("k")
	var le *ratelimit.Error
	if !errors.Is(err, ratelimit.ErrLimited) || !errors.As(err, &le) {
		t.Fatalf("6th write = %v, want ErrLimited", err)
	}
	if le.RetryDelay() != 12*time.Second || !strings.Contains(err.Error(), "--test-rate") || !strings.Contains(err.Error(), `"k"`) {
		t.Errorf("refusal %q, retry %s; want the flag, the key and 12s", err, le.RetryDelay())
	}
	// Other keys have their own quota.
	if _, err := l.Charge("other"); err != nil {
		t.Errorf("another key: %v", err)
	}
	c.add(11 * time.Second)
	if _, err := l.Charge("k"); err == nil {
		t.Error("admitted before the retry delay")
	}
	c.add(time.Second)
	if _, err := l.Charge("k"); err != nil {
		t.Errorf("after the retry delay: %v", err)
	}
	if _, err := l.Charge("k"); err == nil {
		t.Error("admitted two after one interval")
	}
	c.add(time.Minute)
	for i := range 5 {
		if _, err := l.Charge("k"); err != nil {
			t.Fatalf("after a full window, write %d: %v", i+1, err)
		}
	}
}

func TestChargeAllOrNone(t *testing.T) {
	l, _ := newLimiter(t, 2, time.Minute, nil)
	if _, err := l.Charge("a", "a"); err != nil { // a key listed twice is charged once
		t.Fatal(err)
	}
	if _, err := l.Charge("b", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Charge("b"); err != nil {
		t.Fatal(err)
	}
	// b is spent: a is not charged either.
	if _, err := l.Charge("a", "b"); !errors.Is(err, ratelimit.ErrLimited) || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("a+b with b spent = %v, want b refused", err)
	}
	if _, err := l.Charge("a"); err != nil {
		t.Errorf("a was charged by a refused write: %v", err)
	}
}

func TestRefund(t *testing.T) {
	l, _ := newLimiter(t, 1, time.Hour, nil)
	refund, err := l.Charge("k")
	if err != nil {
		t.Fatal(err)
	}
	refund()
	refund() // a second call gives nothing more back
	if _, err := l.Charge("k"); err != nil {
		t.Fatalf("after a refund: %v", err)
	}
	if _, err := l.Charge("k"); err == nil {
		t.Fatal("a double refund gave back two writes")
	}
	if n := l.Tracked(); n != 1 {
		t.Errorf("tracked %d keys, want 1", n)
	}
}

func TestExemptAndDisabled(t *testing.T) {
	l, _ := newLimiter(t, 1, time.Hour, func(o *ratelimit.Options) { o.Exempt = []string{"operator"} })
	for range 100 {
		if _, err := l.Charge("operator", ""); err != nil {
			t.Fatalf("exempt key: %v", err)
		}
	}
	if l.Tracked() != 0 {
		t.Errorf("exempt keys are tracked")
	}
	off, err := ratelimit.New(ratelimit.Options{Limit: 0})
	if err != nil || off != nil {
		t.Fatalf("limit 0 = %v, %v; want no limiter", off, err)
	}
	for range 100 {
		refund, err := off.Charge("k")
		if err != nil {
			t.Fatal(err)
		}
		refund()
	}
	if _, err := ratelimit.New(ratelimit.Options{Limit: 3, Flag: "--x"}); err == nil || !strings.Contains(err.Error(), "--x") {
		t.Errorf("no window = %v, want an error naming the flag", err)
	}
}

// TestMemoryBound floods the limiter with made-up keys: it never tracks
// more than MaxKeys, forgets replenished keys, and refuses new keys while
// every tracked one is still charged.
func TestMemoryBound(t *testing.T) {
	l, c := newLimiter(t, 10, time.Minute, func(o *ratelimit.Options) { o.MaxKeys = 100 })
	for i := range 100 {
		if _, err := l.Charge(fmt.Sprint("key-", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Charge("one-more"); !errors.Is(err, ratelimit.ErrLimited) || !strings.Contains(err.Error(), "table full") {
		t.Fatalf("key 101 with all 100 charged = %v, want refused", err)
	}
	if _, err := l.Charge("key-7"); err != nil {
		t.Errorf("a tracked key refused when the table is full: %v", err)
	}
	c.add(10 * time.Second) // every key but key-7 has replenished its one write
	for i := range 1000 {
		if _, err := l.Charge(fmt.Sprint("new-", i)); err != nil && i < 99 {
			t.Fatalf("new key %d after replenishment: %v", i, err)
		}
	}
	if n := l.Tracked(); n > 100 {
		t.Errorf("tracked %d keys, bound 100", n)
	}
}

func TestConcurrentCharges(t *testing.T) {
	l, _ := newLimiter(t, 50, time.Hour, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for range 200 {
		wg.Go(func() {
			if _, err := l.Charge("k"); err == nil {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if admitted != 50 {
		t.Errorf("admitted %d of 200 concurrent writes, want exactly 50", admitted)
	}
}
