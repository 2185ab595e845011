package webhooks_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/webhooks"
)

// TestTraceFromPublishToReceiver checks one trace runs from the host's span
// through publish, dispatch and deliver to one client span per attempt, and
// that the receiver's server span nests under the attempt it answered.
func TestTraceFromPublishToReceiver(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))

	b, err := bus.New(bus.Config{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	s, err := webhooks.New(b, webhooks.Config{
		TracerProvider: tp,
		MeterProvider:  mp,
		DisableAfter:   -1,
		Sender: webhooks.SenderConfig{
			AllowHTTP: true, AllowAddresses: engLoopback,
			RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	flaky := httptest.NewServer(otelhttp.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(500)
			return
		}
		w.WriteHeader(204)
	}), "receiver", otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(propagation.TraceContext{})))
	defer flaky.Close()
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }))
	defer dead.Close()
	flakyHook := engCreate(t, s, "flaky", flaky.URL, webhooks.MeetingStatusChangedEvent)
	deadHook := engCreate(t, s, "dead", dead.URL, webhooks.MeetingStatusChangedEvent)

	ctx, root := tp.Tracer("host").Start(t.Context(), "POST /meetings/m-42/summary")
	if err := s.Publish(ctx, engEvent); err != nil {
		t.Fatal(err)
	}
	root.End()
	engWait(t, s, webhooks.DeliveryQuery{}, 2)
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(shutCtx); err != nil {
		t.Fatal(err)
	}

	spans := rec.Ended()
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, sp := range spans {
		byID[sp.SpanContext().SpanID()] = sp
		if sp.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Errorf("span %q is in another trace", sp.Name())
		}
	}
	parentOf := func(sp sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan { return byID[sp.Parent().SpanID()] }
	find := func(name string) []sdktrace.ReadOnlySpan {
		var out []sdktrace.ReadOnlySpan
		for _, sp := range spans {
			if sp.Name() == name {
				out = append(out, sp)
			}
		}
		return out
	}
	one := func(name string) sdktrace.ReadOnlySpan {
		t.Helper()
		got := find(name)
		if len(got) != 1 {
			t.Fatalf("%d spans named %q, want 1", len(got), name)
		}
		return got[0]
	}
	publish := one("publish meeting_status_changed")
	dispatch := one("dispatch meeting_status_changed")
	if p := parentOf(publish); p == nil || p.Name() != "POST /meetings/m-42/summary" || publish.SpanKind() != trace.SpanKindProducer {
		t.Errorf("publish span parent/kind wrong: %v %v", p, publish.SpanKind())
	}
	if parentOf(dispatch) != publish || dispatch.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("dispatch span is not a consumer child of publish")
	}
	for _, tc := range []struct {
		name     string
		hook     webhooks.Webhook
		attempts int
		outcome  string
	}{
		{"flaky", flakyHook, 3, "delivered"},
		{"dead", deadHook, 4, "dead_lettered"},
	} {
		deliver := one("deliver " + tc.name)
		if parentOf(deliver) != dispatch {
			t.Errorf("deliver %s is not a child of dispatch", tc.name)
		}
		attrs := attribute.NewSet(deliver.Attributes()...)
		if attrs.Len() != len(deliver.Attributes()) {
			t.Errorf("deliver %s has repeated attributes: %v", tc.name, deliver.Attributes())
		}
		for k, want := range map[attribute.Key]any{
			"hookbus.webhook.id":        tc.hook.ID,
			"hookbus.webhook.name":      tc.name,
			"hookbus.event.type":        "meeting_status_changed",
			"hookbus.delivery.attempts": int64(tc.attempts),
			"hookbus.delivery.outcome":  tc.outcome,
		} {
			if v, ok := attrs.Value(k); !ok || v.AsInterface() != want {
				t.Errorf("deliver %s: %s = %v, want %v", tc.name, k, v.AsInterface(), want)
			}
		}
		if wantErr := tc.outcome != "delivered"; (deliver.Status().Code == codes.Error) != wantErr {
			t.Errorf("deliver %s status = %v", tc.name, deliver.Status())
		}
		var clients []sdktrace.ReadOnlySpan
		for _, sp := range spans {
			if sp.SpanKind() == trace.SpanKindClient && parentOf(sp) == deliver {
				clients = append(clients, sp)
				if sp.Name() != "HTTP POST" {
					t.Errorf("deliver %s: client span named %q, want otelhttp's %q", tc.name, sp.Name(), "HTTP POST")
				}
			}
		}
		if len(clients) != tc.attempts {
			t.Errorf("deliver %s has %d client spans, want %d", tc.name, len(clients), tc.attempts)
		}
		if tc.name == "flaky" {
			servers := 0
			for _, sp := range spans {
				if sp.SpanKind() == trace.SpanKindServer {
					if p := parentOf(sp); p == nil || p.SpanKind() != trace.SpanKindClient || parentOf(p) != deliver {
						t.Errorf("server span %q is not under an attempt span", sp.Name())
					}
					servers++
				}
			}
			if servers != 3 {
				t.Errorf("receiver server spans = %d, want 3", servers)
			}
		}
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if data, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range data.DataPoints {
					key := m.Name
					for _, kv := range dp.Attributes.ToSlice() {
						key += " " + string(kv.Key) + "=" + kv.Value.String()
					}
					sums[key] += dp.Value
				}
			}
		}
	}
	for key, want := range map[string]int64{
		webhooks.MetricDeliveries + " outcome=delivered":            1,
		webhooks.MetricDeliveries + " outcome=dead_lettered":        1,
		webhooks.MetricDeadLetters:                                  1,
		webhooks.MetricAttempts + " http.response.status_class=2xx": 1,
		webhooks.MetricAttempts + " http.response.status_class=5xx": 6,
	} {
		if sums[key] != want {
			t.Errorf("metric %q = %d, want %d (all: %v)", key, sums[key], want, sums)
		}
	}
}
