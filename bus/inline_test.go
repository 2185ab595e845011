package bus_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookbus/hookbus/bus"
)

type publisherKey struct{}

var errRefused = errors.New("refused")

// TestInlineRunsInsidePublish: on the in-process transport an Inline handler
// runs before Publish returns, with the publisher's context and the event's
// Message; its error and its panic are Publish's error, and other handlers of
// the event still get it on their workers.
func TestInlineRunsInsidePublish(t *testing.T) {
	b := newBus(t, bus.Config{})
	if !b.InProcess() {
		t.Fatal("the zero Config's bus is not in process")
	}
	var (
		ran    atomic.Int64
		queued = make(chan string, 10)
		fail   atomic.Value
	)
	fail.Store("")
	err := bus.Handle(b, "inline", func(ctx context.Context, e noteAdded) error {
		if ctx.Value(publisherKey{}) != "me" {
			t.Error("inline handler did not get the publisher's context")
		}
		if m, ok := bus.MessageFromContext(ctx); !ok || m.ID == "" || m.Name != "note_added" {
			t.Errorf("MessageFromContext = %+v, %v", m, ok)
		}
		ran.Add(1)
		switch fail.Load() {
		case "error":
			return errRefused
		case "panic":
			panic("boom")
		}
		return nil
	}, bus.Inline())
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Handle(b, "queued", func(ctx context.Context, e noteAdded) error {
		queued <- e.Note
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(t.Context(), publisherKey{}, "me")
	if err := b.Publish(ctx, noteAdded{Note: "a"}); err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 1 {
		t.Fatalf("inline handler ran %d times by the time Publish returned; want 1", ran.Load())
	}
	if got := <-queued; got != "a" {
		t.Errorf("queued handler got %q", got)
	}
	fail.Store("error")
	if err := b.Publish(ctx, noteAdded{Note: "b"}); !errors.Is(err, errRefused) || !errors.Is(err, bus.ErrInlineHandler) {
		t.Errorf("Publish with a failing inline handler = %v; want its error, as ErrInlineHandler", err)
	}
	fail.Store("panic")
	if err := b.Publish(ctx, noteAdded{Note: "c"}); !errors.Is(err, bus.ErrHandlerPanic) {
		t.Errorf("Publish with a panicking inline handler = %v; want ErrHandlerPanic", err)
	}
	fail.Store("")
	if err := b.Publish(ctx, noteAdded{Note: "d"}); err != nil {
		t.Fatal(err)
	}
	if got := <-queued; got != "d" {
		t.Errorf("queued handler got %q after refused events; want d (refused events reach nobody)", got)
	}
	if err := b.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(queued); n != 0 {
		t.Errorf("%d refused events reached the queued handler", n)
	}
}

// TestSpans: the publish span is a producer span and each handler's a
// consumer span, a child of it, inline or on workers, with the attributes of
// the messaging semantic conventions.
func TestSpans(t *testing.T) {
	for _, inline := range []bool{true, false} {
		t.Run(map[bool]string{true: "inline", false: "queued"}[inline], func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			smp := &attrSampler{seen: map[string][]attribute.KeyValue{}}
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(smp))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			b := newBus(t, bus.Config{TracerProvider: tp})
			var opts []bus.HandlerOption
			if inline {
				opts = append(opts, bus.Inline())
			}
			handled := make(chan string, 1)
			if err := bus.Handle(b, "notes", func(ctx context.Context, _ noteAdded) error {
				m, _ := bus.MessageFromContext(ctx)
				handled <- m.ID
				return nil
			}, opts...); err != nil {
				t.Fatal(err)
			}
			if err := b.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			if err := b.Publish(t.Context(), noteAdded{Note: "x"}); err != nil {
				t.Fatal(err)
			}
			id := <-handled
			shutdown(t, b)
			var publish, process sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				switch s.Name() {
				case "publish note_added":
					publish = s
				case "process note_added":
					process = s
				}
			}
			if publish == nil || process == nil {
				t.Fatalf("spans ended: %v; want publish and process", rec.Ended())
			}
			if process.Parent().SpanID() != publish.SpanContext().SpanID() {
				t.Error("the handler's span is not a child of the publish span")
			}
			check := func(s sdktrace.ReadOnlySpan, kind trace.SpanKind, want map[string]string) {
				t.Helper()
				if s.SpanKind() != kind {
					t.Errorf("%s: kind %v, want %v", s.Name(), s.SpanKind(), kind)
				}
				got := map[string]string{}
				for _, a := range s.Attributes() {
					got[string(a.Key)] = a.Value.Emit()
				}
				if !maps.Equal(got, want) {
					t.Errorf("%s: attributes %v, want %v", s.Name(), got, want)
				}
			}
			check(publish, trace.SpanKindProducer, map[string]string{
				"messaging.system":           "watermill",
				"messaging.operation.type":   "send",
				"messaging.operation.name":   "publish",
				"messaging.destination.name": "note_added",
				"messaging.message.id":       id,
			})
			// A sampler sees the handler's attributes known before the
			// message: it may route on the destination or the group.
			smp.mu.Lock()
			atStart := attribute.NewSet(smp.seen["process note_added"]...)
			smp.mu.Unlock()
			if v, _ := atStart.Value("messaging.consumer.group.name"); v.AsString() != "notes" {
				t.Errorf("the sampler saw the handler span's attributes %v, without its consumer group", atStart.ToSlice())
			}
			check(process, trace.SpanKindConsumer, map[string]string{
				"messaging.system":              "watermill",
				"messaging.operation.type":      "process",
				"messaging.operation.name":      "process",
				"messaging.destination.name":    "note_added",
				"messaging.consumer.group.name": "notes",
				"messaging.message.id":          id,
			})
		})
	}
}

// TestInlineElsewhereRunsOnWorkers: on any other transport Inline has no
// effect.
func TestInlineElsewhereRunsOnWorkers(t *testing.T) {
	gc := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, nil)
	b := newBus(t, bus.Config{Publisher: gc, Subscriber: gc})
	if b.InProcess() {
		t.Fatal("a bus on a GoChannel reports InProcess")
	}
	got := make(chan string, 1)
	if err := bus.Handle(b, "h", func(ctx context.Context, e noteAdded) error {
		if ctx.Value(publisherKey{}) != nil {
			t.Error("the handler ran with the publisher's context")
		}
		got <- e.Note
		return nil
	}, bus.Inline()); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(context.WithValue(t.Context(), publisherKey{}, "me"), noteAdded{Note: "y"}); err != nil {
		t.Fatal(err)
	}
	if n := <-got; n != "y" {
		t.Errorf("got %q", n)
	}
}

func TestInlineDeadLettersRefused(t *testing.T) {
	b := newBus(t, bus.Config{})
	err := bus.HandleDeadLetters(b, "dl", func(context.Context, bus.DeadLetter) error { return nil }, bus.Inline())
	if !errors.Is(err, bus.ErrInvalidHandler) {
		t.Errorf("HandleDeadLetters with Inline = %v; want ErrInvalidHandler", err)
	}
}

// attrSampler samples every span and keeps the attributes it was given at
// each span's start, by span name.
type attrSampler struct {
	mu   sync.Mutex
	seen map[string][]attribute.KeyValue
}

func (s *attrSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	s.mu.Lock()
	s.seen[p.Name] = slices.Clone(p.Attributes)
	s.mu.Unlock()
	return sdktrace.AlwaysSample().ShouldSample(p)
}

func (s *attrSampler) Description() string { return "attrSampler" }

// MetadataUnreadable is a transport's word alone: PublishMessage removes it,
// so a message published again (a dead letter redriven once its cause is
// fixed) reaches its handler, and a producer cannot have a message
// dead-lettered by setting it.
func TestPublishMessageDropsTheUnreadableMark(t *testing.T) {
	b := newBus(t, bus.Config{})
	got := make(chan bus.Message, 1)
	if err := bus.HandleRaw(b, "notes", noteAdded{}.EventName(), func(_ context.Context, m bus.Message) error {
		got <- m
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	msg, err := b.NewMessage(t.Context(), noteAdded{Note: "x"})
	if err != nil {
		t.Fatal(err)
	}
	msg.Metadata[bus.MetadataUnreadable] = "set by hand"
	if err := b.PublishMessage(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if _, ok := m.Metadata[bus.MetadataUnreadable]; ok {
			t.Errorf("the handler got the mark: %v", m.Metadata)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the message marked by its producer did not reach its handler")
	}
}
