package bus_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sort"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/bus/bustest"
)

// stampedNote carries its own id and time.
type stampedNote struct {
	Note string `json:"note"`
	id   string
	at   time.Time
}

func (stampedNote) EventName() string      { return "stamped_note" }
func (n stampedNote) EventID() string      { return n.id }
func (n stampedNote) EventTime() time.Time { return n.at }

func TestNewMessageIsWhatPublishSends(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	b := newBus(t, bus.Config{TracerProvider: tp})
	got := bustest.NewRecorder[bus.Message]()
	spans := bustest.NewRecorder[trace.SpanContext]()
	err := bus.Handle(b, "stamped", func(ctx context.Context, e stampedNote) error {
		m, _ := bus.MessageFromContext(ctx)
		got.Record(m)
		spans.Record(trace.SpanContextFromContext(ctx))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Before Start: NewMessage applies no transport rule.
	at := time.Date(2031, 5, 6, 7, 8, 9, 10, time.UTC)
	ctx, parent := tp.Tracer("test").Start(t.Context(), "host transaction")
	msg, err := b.NewMessage(ctx, stampedNote{Note: "n1", id: "evt-1", at: at})
	parent.End()
	if err != nil {
		t.Fatalf("NewMessage before Start: %v", err)
	}
	if msg.UUID != "evt-1" || string(msg.Payload) != `{"note":"n1"}` {
		t.Errorf("message %s %s, want evt-1 with the JSON payload", msg.UUID, msg.Payload)
	}
	want := map[string]string{
		bus.MetadataEventID:    "evt-1",
		bus.MetadataEventName:  "stamped_note",
		bus.MetadataOccurredAt: at.Format(time.RFC3339Nano),
	}
	for k, v := range want {
		if msg.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, msg.Metadata[k], v)
		}
	}
	if msg.Metadata["traceparent"] == "" {
		t.Errorf("metadata %v has no traceparent", msg.Metadata)
	}
	var publish sdktrace.ReadOnlySpan
	for _, s := range recorder.Ended() {
		if s.Name() == "publish stamped_note" {
			publish = s
		}
	}
	if publish == nil || publish.SpanKind() != trace.SpanKindProducer || publish.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("no ended producer span %q child of the caller's span; got %v", "publish stamped_note", publish)
	}

	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishMessage(t.Context(), msg); err != nil {
		t.Fatalf("PublishMessage: %v", err)
	}
	ctx2, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	ms, err := got.Wait(ctx2, 1)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := spans.Wait(ctx2, 1)
	shutdown(t, b)
	m := ms[0]
	if m.ID != "evt-1" || m.Name != "stamped_note" || !m.OccurredAt.Equal(at) {
		t.Errorf("handler got id %q, name %q, time %v", m.ID, m.Name, m.OccurredAt)
	}
	var consume sdktrace.ReadOnlySpan
	for _, s := range recorder.Ended() {
		if s.SpanContext().SpanID() == sc[0].SpanID() {
			consume = s
		}
	}
	if consume == nil || consume.Parent().SpanID() != publish.SpanContext().SpanID() {
		t.Errorf("consumer span %v is not a child of the publish span %v", consume, publish.SpanContext().SpanID())
	}
	if len(recorder.Ended()) != 3 {
		t.Errorf("%d spans ended, want host transaction, publish and process: PublishMessage starts none", len(recorder.Ended()))
	}
}

func TestNewMessageRefusesInvalidEvents(t *testing.T) {
	b := newBus(t, bus.Config{})
	tests := []struct {
		name string
		e    bus.Event
		want error
	}{
		{"nil", nil, bus.ErrInvalidEvent},
		{"empty name", namedEvent{}, bus.ErrInvalidEvent},
		{"dead-letter topic", namedEvent{name: bus.DefaultDeadLetterTopic}, bus.ErrInvalidEvent},
		{"failed Validate", checkedNote{}, errEmptyNote},
		{"unmarshalable", namedEvent{name: "x", Payload: make(chan int)}, bus.ErrInvalidEvent},
		{"id with a space after it", stampedNote{id: "evt-1 "}, bus.ErrInvalidEvent},
		{"id with a line feed", stampedNote{id: "evt\n1"}, bus.ErrInvalidEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := b.NewMessage(t.Context(), tt.e)
			if !errors.Is(err, tt.want) || !errors.Is(err, bus.ErrInvalidEvent) || msg != nil {
				t.Errorf("NewMessage = %v, %v; want nil and an error matching %v and ErrInvalidEvent", msg, err, tt.want)
			}
		})
	}
}

func TestCheckEventID(t *testing.T) {
	valid := []string{"evt-1", "0192f8e4-7c3a-7000-8000-000000000000", "order 42", "événement-1", "a"}
	invalid := []string{"", " evt", "evt ", "evt\t", "\tevt", "ev\nt", "ev\rt", "ev\x00t", "ev\x7ft", "ev\u0085t", "evt\u00a0", "\u3000evt", "ev\xfft"}
	for _, id := range valid {
		if err := bus.CheckEventID(id); err != nil {
			t.Errorf("CheckEventID(%q) = %v, want nil", id, err)
		}
	}
	for _, id := range invalid {
		if err := bus.CheckEventID(id); err == nil {
			t.Errorf("CheckEventID(%q) = nil, want an error", id)
		}
	}
}

func TestPublishRefusesAnInvalidEventID(t *testing.T) {
	b := newBus(t, bus.Config{})
	got := bustest.NewRecorder[string]()
	err := bus.Handle(b, "stamped", func(_ context.Context, e stampedNote) error {
		got.Record(e.Note)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"evt-1 ", "evt\n1"} {
		if err := b.Publish(t.Context(), stampedNote{Note: id, id: id}); !errors.Is(err, bus.ErrInvalidEvent) {
			t.Errorf("Publish with id %q = %v, want ErrInvalidEvent", id, err)
		}
	}
	if err := b.Publish(t.Context(), stampedNote{Note: "ok", id: "evt-1"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := got.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if notes := got.All(); len(notes) != 1 || notes[0] != "ok" {
		t.Errorf("handled %q, want only the valid event", notes)
	}
}

func TestPublishMessageRules(t *testing.T) {
	valid := func(t *testing.T, b *bus.Bus) *message.Message {
		t.Helper()
		msg, err := b.NewMessage(t.Context(), noteAdded{Note: "x"})
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	started := func(t *testing.T, cfg bus.Config) *bus.Bus {
		t.Helper()
		b := newBus(t, cfg)
		if err := bus.Handle(b, "notes", func(context.Context, noteAdded) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if err := b.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		run  func(t *testing.T) error
		want error
	}{
		{"valid", func(t *testing.T) error {
			b := started(t, bus.Config{})
			return b.PublishMessage(t.Context(), valid(t, b))
		}, nil},
		{"nil message", func(t *testing.T) error {
			return started(t, bus.Config{}).PublishMessage(t.Context(), nil)
		}, bus.ErrInvalidEvent},
		{"id with a control character", func(t *testing.T) error {
			b := started(t, bus.Config{})
			msg := valid(t, b)
			msg.Metadata[bus.MetadataEventID] = "evt\r1"
			return b.PublishMessage(t.Context(), msg)
		}, bus.ErrInvalidEvent},
		{"no event name", func(t *testing.T) error {
			b := started(t, bus.Config{})
			msg := valid(t, b)
			delete(msg.Metadata, bus.MetadataEventName)
			return b.PublishMessage(t.Context(), msg)
		}, bus.ErrInvalidEvent},
		{"no event id", func(t *testing.T) error {
			b := started(t, bus.Config{})
			msg := valid(t, b)
			delete(msg.Metadata, bus.MetadataEventID)
			return b.PublishMessage(t.Context(), msg)
		}, bus.ErrInvalidEvent},
		{"dead-letter topic", func(t *testing.T) error {
			b := started(t, bus.Config{})
			msg := valid(t, b)
			msg.Metadata[bus.MetadataEventName] = bus.DefaultDeadLetterTopic
			return b.PublishMessage(t.Context(), msg)
		}, bus.ErrInvalidEvent},
		{"not started", func(t *testing.T) error {
			b := newBus(t, bus.Config{})
			return b.PublishMessage(t.Context(), valid(t, b))
		}, bus.ErrNotStarted},
		{"no handlers", func(t *testing.T) error {
			b := started(t, bus.Config{})
			msg := valid(t, b)
			msg.Metadata[bus.MetadataEventName] = "nobody_handles_this"
			return b.PublishMessage(t.Context(), msg)
		}, bus.ErrNoHandlers},
		{"closed", func(t *testing.T) error {
			b := started(t, bus.Config{})
			msg := valid(t, b)
			shutdown(t, b)
			return b.PublishMessage(t.Context(), msg)
		}, bus.ErrClosed},
		{"full", func(t *testing.T) error {
			b := newBus(t, bus.Config{MaxPending: 1, Overflow: bus.OverflowFail})
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			err := bus.Handle(b, "stuck", func(ctx context.Context, e noteAdded) error {
				<-release
				return nil
			}, bus.WithWorkers(1))
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			if err := b.PublishMessage(t.Context(), valid(t, b)); err != nil {
				t.Fatalf("first PublishMessage: %v", err)
			}
			return b.PublishMessage(t.Context(), valid(t, b))
		}, bus.ErrFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(t)
			if (tt.want == nil && err != nil) || !errors.Is(err, tt.want) {
				t.Errorf("PublishMessage = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestPublishMessageOnBroker checks that with a broker PublishMessage
// publishes without Start, handlers or not, on the topic of the event name.
func TestPublishMessageOnBroker(t *testing.T) {
	gc := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, nil)
	t.Cleanup(func() { _ = gc.Close() })
	b := newBus(t, bus.Config{Publisher: stubBroker{gc}, Subscriber: stubBroker{gc}})
	msg, err := b.NewMessage(t.Context(), noteAdded{Note: "to the broker"})
	if err != nil {
		t.Fatal(err)
	}
	msg.Metadata["bus_reserved_by"] = "another bus"
	if err := b.PublishMessage(t.Context(), msg); err != nil {
		t.Fatalf("PublishMessage: %v", err)
	}
	msgs, err := gc.Subscribe(t.Context(), noteAdded{}.EventName())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-msgs:
		got.Ack()
		if got.UUID != msg.UUID || string(got.Payload) != `{"note":"to the broker"}` {
			t.Errorf("broker got %s %s", got.UUID, got.Payload)
		}
		if _, ok := got.Metadata["bus_reserved_by"]; ok {
			t.Errorf("metadata %v keeps another bus's reservation", got.Metadata)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing published on the broker")
	}
}

func ExampleBus_NewMessage() {
	b, err := bus.New(bus.Config{Now: func() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	// A message for later, stored by the host (for example in an outbox table
	// within its own transaction) and handed to PublishMessage once committed.
	msg, err := b.NewMessage(context.Background(), OrderPlaced{OrderID: "o-7", Total: 500})
	if err != nil {
		log.Fatal(err)
	}
	keys := make([]string, 0, len(msg.Metadata))
	for k := range msg.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Println(string(msg.Payload))
	fmt.Println(keys)
	fmt.Println(msg.Metadata[bus.MetadataEventName], msg.Metadata[bus.MetadataOccurredAt])
	fmt.Println(msg.Metadata[bus.MetadataEventID] == msg.UUID)
	// Output:
	// {"orderId":"o-7","total":500}
	// [event_id event_name occurred_at]
	// order_placed 2030-01-02T03:04:05Z
	// true
}
