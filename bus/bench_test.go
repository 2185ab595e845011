package bus_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bus"
)

type benchEvent struct {
	ID  string `json:"id"`
	Seq int    `json:"seq"`
}

func (benchEvent) EventName() string { return "bench_event" }

// BenchmarkPublishHandle measures the in-memory path end to end: Publish from
// parallel goroutines to a no-op handler on the default bus, until every event
// is handled.
func BenchmarkPublishHandle(b *testing.B) {
	bs, err := bus.New(bus.Config{})
	if err != nil {
		b.Fatal(err)
	}
	var handled atomic.Int64
	all := make(chan struct{})
	target := int64(b.N)
	err = bus.Handle(bs, "noop", func(ctx context.Context, e benchEvent) error {
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

	b.ReportAllocs()
	b.SetParallelism(4)
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
