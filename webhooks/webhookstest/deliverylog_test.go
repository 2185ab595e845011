package webhookstest_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/webhookstest"
)

func TestMemoryLog(t *testing.T) {
	webhookstest.TestDeliveryLog(t, func(*testing.T) webhooks.DeliveryLog {
		return webhooks.NewMemoryLog(0)
	})
}

// TestZeroMemoryLog runs the suite on the zero value, documented as usable.
func TestZeroMemoryLog(t *testing.T) {
	webhookstest.TestDeliveryLog(t, func(*testing.T) webhooks.DeliveryLog {
		return new(webhooks.MemoryLog)
	})
}

type brokenLog struct {
	subtest string // the subtest of the suite that must fail
	log     func() webhooks.DeliveryLog
}

// brokenLogs returns delivery logs that each break one rule of the
// DeliveryLog contract, by name.
func brokenLogs() map[string]brokenLog {
	return map[string]brokenLog{
		"drops-redelivery-of": {"RoundTrip", func() webhooks.DeliveryLog {
			return forgetfulLog{webhooks.NewMemoryLog(0)}
		}},
		"unordered-attempts": {"AttemptsOrdered", func() webhooks.DeliveryLog {
			return unorderedAttemptsLog{webhooks.NewMemoryLog(0)}
		}},
		"overwrites": {"DuplicateDelivery", func() webhooks.DeliveryLog {
			return &overwritingLog{MemoryLog: webhooks.NewMemoryLog(0)}
		}},
		"overwrites-attempts": {"DuplicateAttempt", func() webhooks.DeliveryLog {
			return &overwritingAttemptsLog{MemoryLog: webhooks.NewMemoryLog(0)}
		}},
		"accepts-attempt-zero": {"InvalidEntries", func() webhooks.DeliveryLog {
			return lenientLog{webhooks.NewMemoryLog(0)}
		}},
		"unordered-deliveries": {"Query", func() webhooks.DeliveryLog {
			return unorderedLog{webhooks.NewMemoryLog(0)}
		}},
		"since-exclusive": {"Query", func() webhooks.DeliveryLog {
			return sinceExclusiveLog{webhooks.NewMemoryLog(0)}
		}},
		"shares-attempts": {"ReturnsCopies", func() webhooks.DeliveryLog {
			return &sharingAttemptsLog{MemoryLog: webhooks.NewMemoryLog(0), last: map[string][]webhooks.Attempt{}}
		}},
		"ignores-context": {"CancelledContext", func() webhooks.DeliveryLog {
			return contextIgnoringLog{webhooks.NewMemoryLog(0)}
		}},
	}
}

const brokenLogEnv = "WEBHOOKSTEST_BROKEN_LOG"

// TestDeliveryLogDetectsBrokenLogs runs the suite on each broken log in a
// child process (a failing suite fails its *testing.T) and checks that it
// fails, and in the expected subtest.
func TestDeliveryLogDetectsBrokenLogs(t *testing.T) {
	subtests := map[string]string{}
	for name, b := range brokenLogs() {
		subtests[name] = b.subtest
	}
	checkSuiteFails(t, brokenLogEnv, "TestBrokenLogChild", subtests)
}

// TestBrokenLogChild runs the suite on the broken log named by the
// environment, in a child process of TestDeliveryLogDetectsBrokenLogs; it is
// expected to fail there. Run directly, it does nothing.
func TestBrokenLogChild(t *testing.T) {
	name := os.Getenv(brokenLogEnv)
	if name == "" {
		return
	}
	broken, ok := brokenLogs()[name]
	if !ok {
		t.Fatalf("unknown broken log %q", name)
	}
	webhookstest.TestDeliveryLog(t, func(*testing.T) webhooks.DeliveryLog { return broken.log() })
}

// forgetfulLog does not keep RedeliveryOf.
type forgetfulLog struct{ *webhooks.MemoryLog }

func (l forgetfulLog) RecordDelivery(ctx context.Context, d webhooks.DeliveryRecord) error {
	d.RedeliveryOf = ""
	return l.MemoryLog.RecordDelivery(ctx, d)
}

// unorderedAttemptsLog lists attempts in reverse order.
type unorderedAttemptsLog struct{ *webhooks.MemoryLog }

func (l unorderedAttemptsLog) Attempts(ctx context.Context, id string) ([]webhooks.Attempt, error) {
	list, err := l.MemoryLog.Attempts(ctx, id)
	slices.Reverse(list)
	return list, err
}

// overwritingLog replaces a recorded delivery instead of failing.
type overwritingLog struct {
	*webhooks.MemoryLog
	mu       sync.Mutex
	replaced map[string]webhooks.DeliveryRecord
}

func (l *overwritingLog) RecordDelivery(ctx context.Context, d webhooks.DeliveryRecord) error {
	err := l.MemoryLog.RecordDelivery(ctx, d)
	if errors.Is(err, webhooks.ErrConflict) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.replaced == nil {
			l.replaced = map[string]webhooks.DeliveryRecord{}
		}
		l.replaced[d.ID] = d
		return nil
	}
	return err
}

func (l *overwritingLog) Delivery(ctx context.Context, id string) (webhooks.DeliveryRecord, error) {
	l.mu.Lock()
	d, ok := l.replaced[id]
	l.mu.Unlock()
	if ok {
		return d, nil
	}
	return l.MemoryLog.Delivery(ctx, id)
}

// overwritingAttemptsLog replaces an attempt recorded again instead of
// keeping the first.
type overwritingAttemptsLog struct {
	*webhooks.MemoryLog
	mu       sync.Mutex
	replaced map[string]map[int]webhooks.Attempt
}

func (l *overwritingAttemptsLog) RecordAttempt(ctx context.Context, a webhooks.Attempt) error {
	list, err := l.MemoryLog.Attempts(ctx, a.DeliveryID)
	if err != nil {
		return err
	}
	for _, r := range list {
		if r.Number == a.Number {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.replaced == nil {
				l.replaced = map[string]map[int]webhooks.Attempt{}
			}
			if l.replaced[a.DeliveryID] == nil {
				l.replaced[a.DeliveryID] = map[int]webhooks.Attempt{}
			}
			l.replaced[a.DeliveryID][a.Number] = a
			return nil
		}
	}
	return l.MemoryLog.RecordAttempt(ctx, a)
}

func (l *overwritingAttemptsLog) Attempts(ctx context.Context, id string) ([]webhooks.Attempt, error) {
	list, err := l.MemoryLog.Attempts(ctx, id)
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, a := range list {
		if r, ok := l.replaced[id][a.Number]; ok {
			list[i] = r
		}
	}
	return list, err
}

// lenientLog records attempts numbered 0 as attempt 1.
type lenientLog struct{ *webhooks.MemoryLog }

func (l lenientLog) RecordAttempt(ctx context.Context, a webhooks.Attempt) error {
	if a.Number == 0 {
		a.Number = 1
	}
	return l.MemoryLog.RecordAttempt(ctx, a)
}

// unorderedLog lists deliveries in reverse order.
type unorderedLog struct{ *webhooks.MemoryLog }

func (l unorderedLog) Deliveries(ctx context.Context, q webhooks.DeliveryQuery) ([]webhooks.DeliveryRecord, error) {
	list, err := l.MemoryLog.Deliveries(ctx, q)
	slices.Reverse(list)
	return list, err
}

// sinceExclusiveLog leaves out deliveries completed exactly at Since.
type sinceExclusiveLog struct{ *webhooks.MemoryLog }

func (l sinceExclusiveLog) Deliveries(ctx context.Context, q webhooks.DeliveryQuery) ([]webhooks.DeliveryRecord, error) {
	list, err := l.MemoryLog.Deliveries(ctx, q)
	return slices.DeleteFunc(list, func(d webhooks.DeliveryRecord) bool {
		return !q.Since.IsZero() && d.CompletedAt.Equal(q.Since)
	}), err
}

// sharingAttemptsLog hands every caller of Attempts the same slice.
type sharingAttemptsLog struct {
	*webhooks.MemoryLog
	mu   sync.Mutex
	last map[string][]webhooks.Attempt
}

func (l *sharingAttemptsLog) Attempts(ctx context.Context, id string) ([]webhooks.Attempt, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if list, ok := l.last[id]; ok && len(list) > 0 {
		return list, nil
	}
	list, err := l.MemoryLog.Attempts(ctx, id)
	if err == nil {
		l.last[id] = list
	}
	return list, err
}

// contextIgnoringLog drops the caller's context.
type contextIgnoringLog struct{ *webhooks.MemoryLog }

func (l contextIgnoringLog) RecordDelivery(ctx context.Context, d webhooks.DeliveryRecord) error {
	return l.MemoryLog.RecordDelivery(context.WithoutCancel(ctx), d)
}
