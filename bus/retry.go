package bus

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Defaults applied to zero RetryPolicy fields.
const (
	// DefaultMaxRetries is the number of retries when RetryPolicy.MaxRetries is zero.
	DefaultMaxRetries = 3
	// DefaultInitialBackoff is the first retry's backoff limit when RetryPolicy.InitialBackoff is zero.
	DefaultInitialBackoff = 100 * time.Millisecond
	// DefaultMaxBackoff caps every backoff when RetryPolicy.MaxBackoff is zero.
	DefaultMaxBackoff = 5 * time.Second
	// DefaultMultiplier is the backoff growth factor when RetryPolicy.Multiplier is zero.
	DefaultMultiplier = 2.0
)

// NoRetries, as RetryPolicy.MaxRetries, disables retries: a failed call is
// dead-lettered at once.
const NoRetries = -1

// RetryPolicy bounds the retries of a failing handler call. The bus retries in
// the same worker, waiting Backoff(n) before retry n, then dead-letters the
// event. The zero value means: 3 retries, backoff limits of 100ms, 200ms, 400ms
// ... capped at 5s, with full jitter. A RetryPolicy is a value: it is safe for
// concurrent use.
type RetryPolicy struct {
	// MaxRetries is how many times a failed call is retried, so a handler is
	// called at most MaxRetries+1 times per event. Zero means DefaultMaxRetries;
	// negative (NoRetries) means no retries.
	MaxRetries int
	// InitialBackoff is the backoff limit before the first retry. Zero means
	// DefaultInitialBackoff.
	InitialBackoff time.Duration
	// MaxBackoff caps the backoff limit. Zero means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Multiplier is the factor by which the limit grows per retry; at least 1.
	// Zero means DefaultMultiplier.
	Multiplier float64
}

// Retries returns the effective number of retries: MaxRetries with its default
// applied, and 0 for a negative value.
func (p RetryPolicy) Retries() int {
	switch {
	case p.MaxRetries == 0:
		return DefaultMaxRetries
	case p.MaxRetries < 0:
		return 0
	default:
		return p.MaxRetries
	}
}

// BackoffLimit returns the upper bound of the wait before retry n (n >= 1):
// InitialBackoff * Multiplier^(n-1), capped at MaxBackoff.
func (p RetryPolicy) BackoffLimit(n int) time.Duration {
	initial, limit, mult := p.InitialBackoff, p.MaxBackoff, p.Multiplier
	if initial == 0 {
		initial = DefaultInitialBackoff
	}
	if limit == 0 {
		limit = DefaultMaxBackoff
	}
	if mult == 0 {
		mult = DefaultMultiplier
	}
	if n < 1 {
		n = 1
	}
	d := float64(initial) * math.Pow(mult, float64(n-1))
	if d >= float64(limit) || math.IsInf(d, 0) || math.IsNaN(d) {
		return limit
	}
	return time.Duration(d)
}

// Backoff returns the wait before retry n (n >= 1): a uniformly random duration
// between zero and BackoffLimit(n) ("full jitter"), so that handlers failing
// together do not retry together.
func (p RetryPolicy) Backoff(n int) time.Duration {
	limit := p.BackoffLimit(n)
	if limit <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(limit) + 1))
}

func (p RetryPolicy) problems() []error {
	var errs []error
	if p.InitialBackoff < 0 {
		errs = append(errs, fmt.Errorf("InitialBackoff must not be negative, got %v", p.InitialBackoff))
	}
	if p.MaxBackoff < 0 {
		errs = append(errs, fmt.Errorf("MaxBackoff must not be negative, got %v", p.MaxBackoff))
	}
	if p.Multiplier != 0 && !(p.Multiplier >= 1 && !math.IsInf(p.Multiplier, 0)) {
		errs = append(errs, fmt.Errorf("retry multiplier must be at least 1 and finite, got %v", p.Multiplier))
	}
	return errs
}
