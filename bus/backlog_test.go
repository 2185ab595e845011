package bus_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bus"
)

// TestBacklogGoroutines: a backlog of 100,000 events waiting for stalled
// handlers costs queue items, not goroutines; once released, every event is
// handled.
func TestBacklogGoroutines(t *testing.T) {
	const (
		events     = 100_000
		workers    = 8
		publishers = 2
		slack      = 10
	)
	release := make(chan struct{})
	var handled atomic.Int64
	b := newBus(t, bus.Config{Workers: workers, MaxPending: events})
	err := bus.Handle(b, "stalled", func(ctx context.Context, e noteAdded) error {
		<-release
		handled.Add(1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}

	var peak atomic.Int64
	sample := func() {
		n := int64(runtime.NumGoroutine())
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range publishers {
		wg.Go(func() {
			for i := range events / publishers {
				if err := b.Publish(context.Background(), noteAdded{Note: "backlog"}); err != nil {
					t.Errorf("Publish #%d: %v", i, err)
					return
				}
				if i%500 == 0 {
					sample()
				}
			}
		})
	}
	wg.Wait()
	sample()
	published := time.Since(start)

	growth := peak.Load() - int64(base)
	// A pump and the workers per handler, plus the publishers and the
	// transport's subscription and in-flight goroutines.
	if limit := int64(2*workers + slack); growth > limit {
		t.Errorf("goroutines grew by %d with %d events pending, want at most %d", growth, events, limit)
	}
	if got := handled.Load(); got != 0 {
		t.Fatalf("%d events handled while the handler was stalled", got)
	}
	close(release)
	shutdown(t, b)
	if got := handled.Load(); got != events {
		t.Fatalf("handled %d of %d events", got, events)
	}
	t.Logf("%d events pending on %d workers: goroutines %d before Start, peak %d (growth %d); published in %v",
		events, workers, base, peak.Load(), growth, published.Round(time.Millisecond))
}
