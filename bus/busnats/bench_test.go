package busnats_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bus"
)

// BenchmarkPublishHandle measures events per second from Publish to a no-op
// handler through NATS JetStream: 4 or 16 goroutines publish b.N events, and
// the clock stops once the handler has seen them all. Run it with a small
// count, for example -benchtime 5000x.
func BenchmarkPublishHandle(b *testing.B) {
	for _, publishers := range []int{4, 16} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) { benchmarkPublishHandle(b, publishers) })
	}
}

func benchmarkPublishHandle(b *testing.B, publishers int) {
	url, cfg := testServer(b)
	bs, err := bus.New(newConfig(b, url, cfg))
	if err != nil {
		b.Fatal(err)
	}
	var handled atomic.Int64
	all, warm := make(chan struct{}), make(chan struct{})
	target := int64(b.N)
	err = bus.Handle(bs, "bench", func(ctx context.Context, e seqEvent) error {
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
	if err := bs.Publish(ctx, seqEvent{Seq: -1}); err != nil {
		b.Fatal(err)
	}
	select {
	case <-warm:
	case <-time.After(time.Minute):
		b.Fatal("the first event was not handled within a minute")
	}

	b.ResetTimer()
	start := time.Now()
	b.SetParallelism(max(1, publishers/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := bs.Publish(ctx, seqEvent{Seq: 1}); err != nil {
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
