package webhooks_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/webhooks"
)

// BenchmarkPublishDeliver measures publish → signed POST → 204 on loopback,
// one webhook, b.N events, and reports deliveries per second. The receiver
// shares the process, so allocations include its side of every request.
//
// "global" uses the global OpenTelemetry providers with no SDK installed, the
// default; "noop" passes explicit no-op providers, the floor. Their ratio is
// the cost of the default telemetry when nobody collects it.
func BenchmarkPublishDeliver(b *testing.B) {
	b.Run("global", func(b *testing.B) { benchPublishDeliver(b, nil, nil) })
	b.Run("noop", func(b *testing.B) {
		benchPublishDeliver(b, tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
	})
}

func benchPublishDeliver(b *testing.B, tp trace.TracerProvider, mp metric.MeterProvider) {
	var done atomic.Int64
	finished := make(chan struct{})
	var target int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	bb, err := bus.New(bus.Config{Workers: 16, MaxPending: 100_000, TracerProvider: tp})
	if err != nil {
		b.Fatal(err)
	}
	s, err := webhooks.New(bb, webhooks.Config{
		Workers: 16, MaxConcurrencyPerWebhook: 16, QueueSize: 100_000,
		TracerProvider: tp, MeterProvider: mp,
		Log: countingLog{webhooks.NewMemoryLog(0), func() {
			if done.Add(1) == atomic.LoadInt64(&target) {
				close(finished)
			}
		}},
		Sender: webhooks.SenderConfig{AllowHTTP: true, AllowAddresses: engLoopback},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(ctx)
	if _, err := s.Create(ctx, webhooks.Webhook{Name: "bench", URL: srv.URL, EventType: webhooks.MeetingStatusChangedEvent}); err != nil {
		b.Fatal(err)
	}
	e := webhooks.MeetingStatusChanged{MeetingID: strings.Repeat("m", 900), Status: webhooks.MeetingSummaryDone}
	atomic.StoreInt64(&target, int64(b.N))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := bb.Publish(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	<-finished
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// countingLog calls onDelivery after recording each outcome.
type countingLog struct {
	webhooks.DeliveryLog
	onDelivery func()
}

func (l countingLog) RecordDelivery(ctx context.Context, d webhooks.DeliveryRecord) error {
	err := l.DeliveryLog.RecordDelivery(ctx, d)
	l.onDelivery()
	return err
}

// RecordOutcome keeps the engine's one-step record of the log it wraps (a
// MemoryLog), so the benchmark measures what hosts run.
func (l countingLog) RecordOutcome(ctx context.Context, last webhooks.Attempt, d webhooks.DeliveryRecord) error {
	err := l.DeliveryLog.(webhooks.OutcomeRecorder).RecordOutcome(ctx, last, d)
	l.onDelivery()
	return err
}
