package bustest

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bus"
)

// BenchmarkPublishHandle measures a bus configuration end to end: publishers
// goroutines publish b.N events to a no-op handler, and the clock stops once
// the handler has seen them all. It reports events/s and allocations. One
// event is published and handled before the clock starts, so that a broker
// has created its tables or streams. newConfig is called once; the bus it
// configures is closed at the end of the benchmark.
func BenchmarkPublishHandle(b *testing.B, newConfig func(testing.TB) bus.Config, publishers int) {
	bs, err := bus.New(newConfig(b))
	if err != nil {
		b.Fatal(err)
	}
	var handled atomic.Int64
	all, warm := make(chan struct{}), make(chan struct{})
	target := int64(b.N)
	err = bus.Handle(bs, "bustest-bench", func(_ context.Context, e benchEvent) error {
		if e.Seq < 0 {
			close(warm)
			return nil
		}
		if handled.Add(1) == target {
			close(all)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := bs.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := bs.Close(); err != nil {
			b.Error(err)
		}
	})
	if err := bs.Publish(ctx, benchEvent{Seq: -1}); err != nil {
		b.Fatal(err)
	}
	select {
	case <-warm:
	case <-time.After(time.Minute):
		b.Fatal("the first event was not handled within a minute")
	}

	b.ReportAllocs()
	b.SetParallelism(max(1, publishers/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		e := benchEvent{ID: "order-1"}
		for pb.Next() {
			e.Seq++
			if err := bs.Publish(ctx, e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatalf("handled %d of %d events", handled.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}

// benchEvent is the event BenchmarkPublishHandle publishes.
type benchEvent struct {
	ID  string `json:"id"`
	Seq int    `json:"seq"`
}

func (benchEvent) EventName() string { return "bustest_bench" }
