package tracing_test

import (
	"context"
	"fmt"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/hookbus/hookbus/internal/tracing"
)

// remoteParent is a context carrying a span context from elsewhere, as a
// host's server middleware extracts from an incoming request.
func remoteParent() context.Context {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1},
		SpanID:     trace.SpanID{2},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	return trace.ContextWithRemoteSpanContext(context.Background(), sc)
}

func TestGlobalUnsetSkipsSpansWithoutParent(t *testing.T) {
	tr := tracing.New(nil, "test")
	ctx := context.Background()
	got, span := tr.Start(ctx, "op")
	if got != ctx {
		t.Error("Start returned a new context; want ctx unchanged")
	}
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Errorf("span recording=%v valid=%v; want a no-op span", span.IsRecording(), span.SpanContext().IsValid())
	}
	allocs := testing.AllocsPerRun(100, func() {
		_, s := tr.Start(ctx, "op")
		s.End()
	})
	if allocs != 0 {
		t.Errorf("Start allocates %v times with nothing to record or propagate; want 0", allocs)
	}
}

func TestParentIsPropagatedWithoutSDK(t *testing.T) {
	for name, tp := range map[string]trace.TracerProvider{"global": nil, "noop": noop.NewTracerProvider()} {
		t.Run(name, func(t *testing.T) {
			parent := remoteParent()
			ctx, span := tracing.New(tp, "test").Start(parent, "op")
			defer span.End()
			want := trace.SpanContextFromContext(parent).TraceID()
			if got := trace.SpanContextFromContext(ctx).TraceID(); got != want {
				t.Errorf("trace id in the returned context = %v; want the parent's %v", got, want)
			}
		})
	}
}

func TestSDKProviderRecords(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	_, span := tracing.New(tp, "test").Start(context.Background(), "op")
	if !span.IsRecording() {
		t.Fatal("span of an SDK provider is not recording")
	}
	span.End()
	if n := len(rec.Ended()); n != 1 {
		t.Fatalf("recorded %d spans; want 1", n)
	}
}

func ExampleTracer_Start() {
	tr := tracing.New(nil, "example") // otel's global provider, no SDK installed
	ctx := context.Background()
	got, span := tr.Start(ctx, "work")
	defer span.End()
	fmt.Println(got == ctx, span.IsRecording())
	// Output: true false
}
