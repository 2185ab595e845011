package bus_test

import (
	"testing"
	"time"

	"github.com/hookbus/hookbus/bus"
)

func TestRetryPolicyRetries(t *testing.T) {
	for _, tt := range []struct {
		max, want int
	}{
		{0, bus.DefaultMaxRetries},
		{bus.NoRetries, 0},
		{-5, 0},
		{7, 7},
	} {
		if got := (bus.RetryPolicy{MaxRetries: tt.max}).Retries(); got != tt.want {
			t.Errorf("MaxRetries %d: Retries() = %d, want %d", tt.max, got, tt.want)
		}
	}
}

func TestRetryPolicyBackoffLimit(t *testing.T) {
	zero := bus.RetryPolicy{}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := zero.BackoffLimit(i + 1); got != w {
			t.Errorf("zero policy: BackoffLimit(%d) = %v, want %v", i+1, got, w)
		}
	}
	custom := bus.RetryPolicy{InitialBackoff: 10 * time.Millisecond, MaxBackoff: time.Second, Multiplier: 3}
	for n, w := range map[int]time.Duration{0: 10 * time.Millisecond, 1: 10 * time.Millisecond, 2: 30 * time.Millisecond,
		3: 90 * time.Millisecond, 5: 810 * time.Millisecond, 6: time.Second, 1000: time.Second} {
		if got := custom.BackoffLimit(n); got != w {
			t.Errorf("custom policy: BackoffLimit(%d) = %v, want %v", n, got, w)
		}
	}
}

func TestRetryPolicyBackoffHasFullJitter(t *testing.T) {
	p := bus.RetryPolicy{InitialBackoff: time.Second}
	limit := p.BackoffLimit(1)
	var below, above bool
	for range 1000 {
		d := p.Backoff(1)
		if d < 0 || d > limit {
			t.Fatalf("Backoff(1) = %v, outside [0, %v]", d, limit)
		}
		below = below || d < limit/2
		above = above || d >= limit/2
	}
	if !below || !above {
		t.Fatalf("1000 backoffs all in one half of [0, %v]: no jitter", limit)
	}
}
