package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bus"
)

// seqNote is an event numbered for accounting.
type seqNote struct {
	Seq int `json:"seq"`
}

func (seqNote) EventName() string { return "seq_note" }

var errFlaky = errors.New("flaky handler")

// flaky decides, reproducibly, how call number attempt (from 0) for event seq
// goes: 10% of calls fail, 1% panic, the rest succeed.
func flaky(seq, attempt int) (fails, panics bool) {
	x := (uint64(seq)<<8 | uint64(attempt)) + 0x9e3779b97f4a7c15 // splitmix64
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	r := x % 100
	return r < 10, r == 10
}

// TestTenThousandEventsUnderFailures: 10,000 events, 10% of handler calls fail
// and 1% panic; every event ends handled exactly once or dead-lettered with
// its reason, none is lost, and the counts are the ones predicted call by call.
func TestTenThousandEventsUnderFailures(t *testing.T) {
	const (
		events     = 10_000
		maxRetries = 1
	)
	var (
		mu        sync.Mutex
		calls     = make([]int, events)
		handled   = make([]int, events)
		lastErr   = make([]string, events)
		reported  = make([]int, events)
		letters   = make([]int, events)
		reasonsOK = true
	)
	b := newBus(t, bus.Config{
		Retry: bus.RetryPolicy{MaxRetries: maxRetries, InitialBackoff: 100 * time.Microsecond, MaxBackoff: time.Millisecond},
		OnDeadLetter: func(p bus.DeadLetterParams) {
			var e seqNote
			if err := json.Unmarshal(p.DeadLetter.Message.Payload, &e); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			reported[e.Seq]++
			if !errors.Is(p.Err, errFlaky) && !errors.Is(p.Err, bus.ErrHandlerPanic) {
				t.Errorf("event %d: dead letter error %v is neither a failure nor a panic", e.Seq, p.Err)
			}
		},
	})
	err := bus.Handle(b, "flaky", func(ctx context.Context, e seqNote) error {
		mu.Lock()
		attempt := calls[e.Seq]
		calls[e.Seq]++
		fails, panics := flaky(e.Seq, attempt)
		switch {
		case fails:
			lastErr[e.Seq] = fmt.Sprintf("%v: event %d attempt %d", errFlaky, e.Seq, attempt)
		case panics:
			lastErr[e.Seq] = fmt.Sprintf("%v: event %d attempt %d", bus.ErrHandlerPanic, e.Seq, attempt)
		default:
			handled[e.Seq]++
		}
		mu.Unlock()
		switch {
		case fails:
			return fmt.Errorf("%w: event %d attempt %d", errFlaky, e.Seq, attempt)
		case panics:
			panic(fmt.Sprintf("event %d attempt %d", e.Seq, attempt))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = bus.HandleDeadLetters(b, "dead-letters", func(ctx context.Context, d bus.DeadLetter) error {
		var e seqNote
		if err := json.Unmarshal(d.Message.Payload, &e); err != nil {
			return bus.Permanent(err)
		}
		mu.Lock()
		defer mu.Unlock()
		letters[e.Seq]++
		if d.Reason != lastErr[e.Seq] || d.Attempts != maxRetries+1 || d.Handler != "flaky" {
			reasonsOK = false
			t.Errorf("event %d: dead letter reason %q after %d attempts by %q; want %q after %d by flaky",
				e.Seq, d.Reason, d.Attempts, d.Handler, lastErr[e.Seq], maxRetries+1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for seq := range events {
		if err := b.Publish(t.Context(), seqNote{Seq: seq}); err != nil {
			t.Fatalf("Publish %d: %v", seq, err)
		}
	}
	shutdown(t, b) // drains the events and their dead letters

	mu.Lock()
	defer mu.Unlock()
	var nHandled, nLettered, nCalls, wantLettered, wantCalls, failures, panicked int
	for seq := range events {
		dead := true
		for attempt := 0; attempt <= maxRetries; attempt++ {
			fails, panics := flaky(seq, attempt)
			wantCalls++
			if fails {
				failures++
			}
			if panics {
				panicked++
			}
			if !fails && !panics {
				dead = false
				break
			}
		}
		if dead {
			wantLettered++
		}
		nHandled += handled[seq]
		nLettered += letters[seq]
		nCalls += calls[seq]
		switch {
		case dead && (handled[seq] != 0 || letters[seq] != 1 || reported[seq] != 1):
			t.Errorf("event %d: handled %d, dead letters %d, reported %d; want 0, 1, 1", seq, handled[seq], letters[seq], reported[seq])
		case !dead && (handled[seq] != 1 || letters[seq] != 0 || reported[seq] != 0):
			t.Errorf("event %d: handled %d, dead letters %d, reported %d; want 1, 0, 0", seq, handled[seq], letters[seq], reported[seq])
		}
	}
	if nHandled+nLettered != events || nLettered != wantLettered || nCalls != wantCalls || !reasonsOK {
		t.Fatalf("%d handled + %d dead-lettered (want %d) of %d events, %d calls (want %d)",
			nHandled, nLettered, wantLettered, events, nCalls, wantCalls)
	}
	t.Logf("%d events: %d handled, %d dead-lettered with their reasons; %d calls, of which %d failed and %d panicked",
		events, nHandled, nLettered, nCalls, failures, panicked)
}
