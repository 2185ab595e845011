package bus_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"go.uber.org/goleak"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/bus/bustest"
)

// noteAdded is the events most tests publish.
type noteAdded struct {
	Note string `json:"note"`
}

func (noteAdded) EventName() string { return "note_added" }

// checkedNote refuses an empty note through Validate.
type checkedNote struct {
	Note string `json:"note"`
}

var errEmptyNote = errors.New("empty note")

func (checkedNote) EventName() string { return "checked_note" }

func (c checkedNote) Validate() error {
	if c.Note == "" {
		return errEmptyNote
	}
	return nil
}

// namedEvent has its name in a field, for events that are not meant for Handle.
type namedEvent struct {
	name    string
	Payload any `json:"payload"`
}

func (e namedEvent) EventName() string { return e.name }

func newBus(t *testing.T, cfg bus.Config) *bus.Bus {
	t.Helper()
	b, err := bus.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func shutdown(t *testing.T, b *bus.Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	gc := gochannel.NewGoChannel(gochannel.Config{}, nil)
	other := gochannel.NewGoChannel(gochannel.Config{}, nil)
	broker := stubBroker{gc}
	newSub := func(string) (message.Subscriber, error) { return broker, nil }
	tests := []struct {
		name   string
		change func(*bus.Config)
		ok     bool
	}{
		{"zero config", func(*bus.Config) {}, true},
		{"user GoChannel", func(c *bus.Config) { c.Publisher, c.Subscriber = gc, gc }, true},
		{"broker", func(c *bus.Config) { c.Publisher, c.Subscriber = broker, broker }, true},
		{"broker with NewSubscriber", func(c *bus.Config) { c.Publisher, c.NewSubscriber = broker, newSub }, true},
		{"every field set", func(c *bus.Config) {
			c.Workers, c.MaxPending, c.Overflow, c.DrainTimeout = 2, 5, bus.OverflowFail, time.Second
			c.Retry = bus.RetryPolicy{MaxRetries: bus.NoRetries, InitialBackoff: time.Millisecond, MaxBackoff: time.Second, Multiplier: 1.5}
		}, true},
		{"Publisher without Subscriber", func(c *bus.Config) { c.Publisher = broker }, false},
		{"Subscriber without Publisher", func(c *bus.Config) { c.Subscriber = broker }, false},
		{"NewSubscriber without Publisher", func(c *bus.Config) { c.NewSubscriber = newSub }, false},
		{"GoChannel Publisher with another Subscriber", func(c *bus.Config) { c.Publisher, c.Subscriber = gc, other }, false},
		{"GoChannel Publisher with NewSubscriber", func(c *bus.Config) { c.Publisher, c.Subscriber, c.NewSubscriber = gc, gc, newSub }, false},
		{"negative Workers", func(c *bus.Config) { c.Workers = -1 }, false},
		{"negative MaxPending", func(c *bus.Config) { c.MaxPending = -1 }, false},
		{"unknown Overflow", func(c *bus.Config) { c.Overflow = 7 }, false},
		{"negative DrainTimeout", func(c *bus.Config) { c.DrainTimeout = -time.Second }, false},
		{"negative InitialBackoff", func(c *bus.Config) { c.Retry.InitialBackoff = -1 }, false},
		{"negative MaxBackoff", func(c *bus.Config) { c.Retry.MaxBackoff = -1 }, false},
		{"Multiplier below 1", func(c *bus.Config) { c.Retry.Multiplier = 0.5 }, false},
		{"infinite Multiplier", func(c *bus.Config) { c.Retry.Multiplier = math.Inf(1) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := bus.Config{}
			tt.change(&cfg)
			b, err := bus.New(cfg)
			if tt.ok {
				if err != nil {
					t.Fatalf("New = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, bus.ErrInvalidConfig) || b != nil {
				t.Fatalf("New = %v, %v; want nil, ErrInvalidConfig", b, err)
			}
		})
	}
}

func TestNewJoinsEveryProblem(t *testing.T) {
	_, err := bus.New(bus.Config{Workers: -1, MaxPending: -1, DrainTimeout: -1})
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 3 {
		t.Fatalf("New = %v, want 3 joined problems", err)
	}
	for _, e := range joined.Unwrap() {
		if !errors.Is(e, bus.ErrInvalidConfig) {
			t.Errorf("problem %v does not wrap ErrInvalidConfig", e)
		}
	}
}

func TestInMemory(t *testing.T) {
	gc := gochannel.NewGoChannel(gochannel.Config{}, nil)
	broker := stubBroker{gc}
	for _, tt := range []struct {
		name string
		cfg  bus.Config
		want bool
	}{
		{"zero config", bus.Config{}, true},
		{"user GoChannel", bus.Config{Publisher: gc, Subscriber: gc}, true},
		{"broker", bus.Config{Publisher: broker, Subscriber: broker}, false},
	} {
		if got := newBus(t, tt.cfg).InMemory(); got != tt.want {
			t.Errorf("%s: InMemory() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestHandleRefusesBadRegistrations(t *testing.T) {
	ok := func(context.Context, noteAdded) error { return nil }
	raw := func(context.Context, bus.Message) error { return nil }
	tests := []struct {
		name     string
		register func(*bus.Bus) error
	}{
		{"empty name", func(b *bus.Bus) error { return bus.Handle(b, "", ok) }},
		{"nil function", func(b *bus.Bus) error { return bus.Handle[noteAdded](b, "h", nil) }},
		{"nil raw function", func(b *bus.Bus) error { return bus.HandleRaw(b, "h", "e", nil) }},
		{"nil dead-letter function", func(b *bus.Bus) error { return bus.HandleDeadLetters(b, "h", nil) }},
		{"interface event type", func(b *bus.Bus) error {
			return bus.Handle(b, "h", func(context.Context, bus.Event) error { return nil })
		}},
		{"empty event name", func(b *bus.Bus) error { return bus.HandleRaw(b, "h", "", raw) }},
		{"empty name from the type", func(b *bus.Bus) error {
			return bus.Handle(b, "h", func(context.Context, namedEvent) error { return nil })
		}},
		{"dead-letter topic", func(b *bus.Bus) error { return bus.HandleRaw(b, "h", bus.DefaultDeadLetterTopic, raw) }},
		{"duplicate name", func(b *bus.Bus) error { return bus.HandleRaw(b, "taken", "other", raw) }},
		{"zero workers", func(b *bus.Bus) error { return bus.Handle(b, "h", ok, bus.WithWorkers(0)) }},
		{"empty span name", func(b *bus.Bus) error { return bus.Handle(b, "h", ok, bus.WithSpanName("")) }},
		{"invalid retry", func(b *bus.Bus) error { return bus.Handle(b, "h", ok, bus.WithRetry(bus.RetryPolicy{Multiplier: 0.1})) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBus(t, bus.Config{})
			if err := bus.HandleRaw(b, "taken", "note_added", raw); err != nil {
				t.Fatal(err)
			}
			if err := tt.register(b); !errors.Is(err, bus.ErrInvalidHandler) {
				t.Fatalf("register = %v, want ErrInvalidHandler", err)
			}
		})
	}
}

func TestHandleAfterStart(t *testing.T) {
	b := newBus(t, bus.Config{})
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	err := bus.Handle(b, "late", func(context.Context, noteAdded) error { return nil })
	if !errors.Is(err, bus.ErrStarted) {
		t.Fatalf("Handle after Start = %v, want ErrStarted", err)
	}
	if err := b.Start(t.Context()); !errors.Is(err, bus.ErrStarted) {
		t.Fatalf("second Start = %v, want ErrStarted", err)
	}
}

func TestPublishInMemoryRefusals(t *testing.T) {
	b := newBus(t, bus.Config{})
	rec := bustest.NewRecorder[noteAdded]()
	if err := bus.Handle(b, "notes", rec.Handle); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := b.Publish(ctx, noteAdded{Note: "early"}); !errors.Is(err, bus.ErrNotStarted) {
		t.Fatalf("Publish before Start = %v, want ErrNotStarted", err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, namedEvent{name: "nobody_listens"}); !errors.Is(err, bus.ErrNoHandlers) {
		t.Fatalf("Publish without handlers = %v, want ErrNoHandlers", err)
	}
	if err := b.Publish(ctx, noteAdded{Note: "on time"}); err != nil {
		t.Fatal(err)
	}
	shutdown(t, b)
	if got := rec.All(); len(got) != 1 || got[0].Note != "on time" {
		t.Fatalf("handler got %v, want only the event published after Start", got)
	}
}

func TestPublishRefusesInvalidEvents(t *testing.T) {
	b := newBus(t, bus.Config{})
	rec := bustest.NewRecorder[bus.Message]()
	for _, name := range []string{"checked_note", "odd"} {
		if err := bus.HandleRaw(b, "record_"+name, name, rec.Handle); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		event bus.Event
		cause error
	}{
		{"nil event", nil, nil},
		{"Validate refuses", checkedNote{}, errEmptyNote},
		{"empty name", namedEvent{}, nil},
		{"dead-letter topic", namedEvent{name: bus.DefaultDeadLetterTopic}, nil},
		{"not JSON", namedEvent{name: "odd", Payload: make(chan int)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := b.Publish(t.Context(), tt.event)
			if !errors.Is(err, bus.ErrInvalidEvent) {
				t.Fatalf("Publish = %v, want ErrInvalidEvent", err)
			}
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Fatalf("Publish = %v, want it to wrap %v", err, tt.cause)
			}
		})
	}
	if err := b.Publish(t.Context(), checkedNote{Note: "fine"}); err != nil {
		t.Fatalf("Publish of a valid event: %v", err)
	}
	shutdown(t, b)
	if got := rec.Len(); got != 1 {
		t.Fatalf("handlers got %d events, want only the valid one", got)
	}
}

func TestPublishToBrokerNeedsNoStart(t *testing.T) {
	gc := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, nil)
	t.Cleanup(func() { _ = gc.Close() })
	publisher := newBus(t, bus.Config{Publisher: stubBroker{gc}, Subscriber: stubBroker{gc}})
	if err := publisher.Publish(t.Context(), noteAdded{Note: "stored"}); err != nil {
		t.Fatalf("Publish to a broker without Start or handlers: %v", err)
	}
	shutdown(t, publisher)

	consumer := newBus(t, bus.Config{Publisher: stubBroker{gc}, Subscriber: stubBroker{gc}})
	rec := bustest.NewRecorder[noteAdded]()
	if err := bus.Handle(consumer, "notes", rec.Handle); err != nil {
		t.Fatal(err)
	}
	if err := consumer.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if got, err := rec.Wait(ctx, 1); err != nil || got[0].Note != "stored" {
		t.Fatalf("consumer got %v, %v; want the stored event", got, err)
	}
	shutdown(t, consumer)
}

func TestMessageFromContextOutsideHandler(t *testing.T) {
	if m, ok := bus.MessageFromContext(t.Context()); ok {
		t.Fatalf("MessageFromContext = %+v, true; want false", m)
	}
}

func TestPermanent(t *testing.T) {
	cause := errors.New("cause")
	err := bus.Permanent(cause)
	if !errors.Is(err, bus.ErrPermanent) || !errors.Is(err, cause) || err.Error() != cause.Error() {
		t.Fatalf("Permanent(cause) = %v: want it to match ErrPermanent and cause, with cause's message", err)
	}
	if bus.Permanent(nil) != nil {
		t.Fatal("Permanent(nil) != nil")
	}
}

func TestPermanentSkipsRetries(t *testing.T) {
	var calls atomic.Int32
	letters := bustest.NewRecorder[bus.DeadLetterParams]()
	b := newBus(t, bus.Config{OnDeadLetter: letters.Record, Retry: bus.RetryPolicy{MaxRetries: 5, InitialBackoff: time.Millisecond}})
	err := bus.Handle(b, "refuses", func(context.Context, noteAdded) error {
		calls.Add(1)
		return bus.Permanent(errEmptyNote)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), noteAdded{}); err != nil {
		t.Fatal(err)
	}
	shutdown(t, b)
	got := letters.All()
	if calls.Load() != 1 || len(got) != 1 || got[0].DeadLetter.Attempts != 1 || !errors.Is(got[0].Err, errEmptyNote) {
		t.Fatalf("calls %d, dead letters %+v; want one call and one dead letter after 1 attempt", calls.Load(), got)
	}
}

func TestUndecodablePayloadIsDeadLetteredAtOnce(t *testing.T) {
	letters := bustest.NewRecorder[bus.DeadLetterParams]()
	b := newBus(t, bus.Config{OnDeadLetter: letters.Record})
	err := bus.Handle(b, "typed", func(context.Context, noteAdded) error {
		t.Error("handler called with an undecodable payload")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), rawJSON{name: "note_added", json: `"not an object"`}); err != nil {
		t.Fatal(err)
	}
	shutdown(t, b)
	got := letters.All()
	if len(got) != 1 || got[0].DeadLetter.Attempts != 1 || !errors.Is(got[0].Err, bus.ErrPermanent) {
		t.Fatalf("dead letters %+v; want one, permanent, after 1 attempt", got)
	}
}

// rawJSON publishes a fixed JSON text.
type rawJSON struct{ name, json string }

func (r rawJSON) EventName() string            { return r.name }
func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r.json), nil }

func TestHandlerContextOutlivesShutdownStart(t *testing.T) {
	started := make(chan struct{})
	shutdownBegan := make(chan struct{})
	ctxErr := make(chan error, 1)
	b := newBus(t, bus.Config{})
	err := bus.Handle(b, "slow", func(ctx context.Context, e noteAdded) error {
		close(started)
		<-shutdownBegan
		time.Sleep(20 * time.Millisecond) // Shutdown is waiting for us now
		ctxErr <- ctx.Err()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), noteAdded{}); err != nil {
		t.Fatal(err)
	}
	<-started
	done := make(chan error, 1)
	go func() { done <- b.Shutdown(context.Background()) }()
	for !errors.Is(b.Publish(t.Context(), namedEvent{name: "nobody_listens"}), bus.ErrClosed) {
		time.Sleep(time.Millisecond)
	}
	close(shutdownBegan)
	if err := <-ctxErr; err != nil {
		t.Fatalf("handler context ended while Shutdown drained: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestDrainIncomplete: a handler that ignores its context keeps Shutdown from
// draining; Shutdown gives up at its deadline, says how much was left, and
// nothing leaks once the handler returns.
func TestDrainIncomplete(t *testing.T) {
	for _, tt := range []struct {
		name             string
		minLeft, maxLeft int64
		cfg              func() bus.Config
	}{
		// In memory, every published event is pending until handled.
		{"in memory", 3, 3, func() bus.Config { return bus.Config{} }},
		// With a broker, only received messages are: some may still be in the broker.
		{"broker", 1, 3, func() bus.Config {
			gc := gochannel.NewGoChannel(gochannel.Config{}, nil)
			return bus.Config{Publisher: stubBroker{gc}, Subscriber: closingBroker{stubBroker{gc}}}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			release := make(chan struct{})
			running := make(chan struct{}, 1)
			var ctxEnded atomic.Bool
			b := newBus(t, tt.cfg())
			err := bus.Handle(b, "stuck", func(ctx context.Context, e noteAdded) error {
				running <- struct{}{}
				<-release // ignores ctx
				ctxEnded.Store(ctx.Err() != nil)
				return nil
			}, bus.WithWorkers(1))
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if err := b.Publish(t.Context(), noteAdded{}); err != nil {
					t.Fatal(err)
				}
			}
			<-running
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err = b.Shutdown(ctx)
			var drain *bus.DrainError
			if !errors.Is(err, bus.ErrDrainIncomplete) || !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &drain) {
				t.Fatalf("Shutdown = %v, want a DrainError matching ErrDrainIncomplete and context.DeadlineExceeded", err)
			}
			if drain.Left < tt.minLeft || drain.Left > tt.maxLeft {
				t.Errorf("Left = %d, want %d to %d", drain.Left, tt.minLeft, tt.maxLeft)
			}
			if err2 := b.Shutdown(context.Background()); !errors.Is(err2, bus.ErrDrainIncomplete) {
				t.Errorf("second Shutdown = %v, want the first one's result", err2)
			}
			close(release)
			goleak.VerifyNone(t, ignore)
			if !ctxEnded.Load() {
				t.Error("handler context still alive after Shutdown gave up")
			}
		})
	}
}

func TestRunShutsDownWhenContextEnds(t *testing.T) {
	b := newBus(t, bus.Config{DrainTimeout: 5 * time.Second})
	rec := bustest.NewRecorder[noteAdded]()
	if err := bus.Handle(b, "notes", func(ctx context.Context, e noteAdded) error {
		time.Sleep(10 * time.Millisecond)
		return rec.Handle(ctx, e)
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	for errors.Is(b.Publish(t.Context(), noteAdded{Note: "0"}), bus.ErrNotStarted) {
		time.Sleep(time.Millisecond)
	}
	for range 9 {
		if err := b.Publish(t.Context(), noteAdded{}); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil after a complete drain", err)
	}
	if got := rec.Len(); got != 10 {
		t.Fatalf("handled %d events, want all 10 published before Run ended", got)
	}
	if err := b.Run(t.Context()); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Run after shutdown = %v, want ErrClosed", err)
	}
}

func TestRunReturnsAfterShutdownElsewhere(t *testing.T) {
	b := newBus(t, bus.Config{})
	if err := bus.Handle(b, "h", func(context.Context, noteAdded) error { return nil }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(t.Context()) }()
	for errors.Is(b.Publish(t.Context(), noteAdded{}), bus.ErrNotStarted) {
		time.Sleep(time.Millisecond) // until Run has started the bus
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := b.Close(); err != nil {
				t.Errorf("concurrent Close: %v", err)
			}
		})
	}
	wg.Wait()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still running after Shutdown")
	}
}

func TestShutdownBeforeStart(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	b := newBus(t, bus.Config{})
	if err := bus.Handle(b, "h", func(context.Context, noteAdded) error { return nil }); err != nil {
		t.Fatal(err)
	}
	shutdown(t, b)
	if err := b.Publish(t.Context(), noteAdded{}); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Publish = %v, want ErrClosed", err)
	}
	if err := b.Start(t.Context()); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Start = %v, want ErrClosed", err)
	}
	goleak.VerifyNone(t, ignore)
}

func TestStartFailureCanBeRetried(t *testing.T) {
	gc := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, nil)
	t.Cleanup(func() { _ = gc.Close() })
	errDown := errors.New("broker down")
	var fail atomic.Bool
	fail.Store(true)
	var made, closed atomic.Int32
	b := newBus(t, bus.Config{
		Publisher: stubBroker{gc},
		NewSubscriber: func(handler string) (message.Subscriber, error) {
			if handler == "second" && fail.Load() {
				return nil, errDown
			}
			made.Add(1)
			return closeCounter{stubBroker{gc}, &closed}, nil
		},
	})
	rec := bustest.NewRecorder[noteAdded]()
	for _, name := range []string{"first", "second"} {
		if err := bus.Handle(b, name, rec.Handle); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Start(t.Context()); !errors.Is(err, errDown) {
		t.Fatalf("Start = %v, want errDown", err)
	}
	if made.Load() != closed.Load() {
		t.Fatalf("failed Start made %d subscribers and closed %d", made.Load(), closed.Load())
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Start(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a cancelled context = %v, want context.Canceled", err)
	}
	fail.Store(false)
	if err := b.Start(t.Context()); err != nil {
		t.Fatalf("Start after the failure: %v", err)
	}
	if err := b.Publish(t.Context(), noteAdded{Note: "hi"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancelWait := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancelWait()
	if _, err := rec.Wait(ctx, 2); err != nil {
		t.Fatalf("both handlers should get the event: %v", err)
	}
	shutdown(t, b)
	if made.Load() != closed.Load() {
		t.Fatalf("made %d subscribers, Shutdown closed %d", made.Load(), closed.Load())
	}
}

// closingBroker closes the GoChannel it shares, for tests that check goroutines.
type closingBroker struct{ stubBroker }

func (c closingBroker) Close() error { return c.gc.Close() }

type closeCounter struct {
	stubBroker
	closed *atomic.Int32
}

func (c closeCounter) Close() error {
	c.closed.Add(1)
	return nil
}

// TestBrokerNacksWhenDeadLetterIsLost: with a broker, an event whose dead
// letter cannot be published is not acknowledged, so the broker redelivers it.
func TestBrokerNacksWhenDeadLetterIsLost(t *testing.T) {
	gc := gochannel.NewGoChannel(gochannel.Config{}, nil)
	errRefused := errors.New("dead-letter topic refused")
	pub := refusingPublisher{stubBroker{gc}, bus.DefaultDeadLetterTopic, errRefused}
	reports := bustest.NewRecorder[bus.DeadLetterParams]()
	b := newBus(t, bus.Config{Publisher: pub, Subscriber: stubBroker{gc}, OnDeadLetter: reports.Record,
		Retry: bus.RetryPolicy{MaxRetries: bus.NoRetries}})
	var calls atomic.Int32
	if err := bus.Handle(b, "fails", func(context.Context, noteAdded) error {
		calls.Add(1)
		return errEmptyNote
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), noteAdded{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	got, err := reports.Wait(ctx, 2)
	if err != nil {
		t.Fatalf("event not redelivered after its dead letter was lost: %d reports, %v", len(got), err)
	}
	if !errors.Is(got[0].PublishErr, errRefused) || got[0].DeadLetter.Message.ID != got[1].DeadLetter.Message.ID {
		t.Fatalf("reports %+v; want the same event twice, with the publish error", got)
	}
	shutdown(t, b)
}

type refusingPublisher struct {
	stubBroker
	topic string
	err   error
}

func (r refusingPublisher) Publish(topic string, msgs ...*message.Message) error {
	if topic == r.topic {
		return r.err
	}
	return r.stubBroker.Publish(topic, msgs...)
}

// TestExternalMessagesOnUserGoChannel: messages other code publishes on a
// user-supplied GoChannel are handled and drained too.
func TestExternalMessagesOnUserGoChannel(t *testing.T) {
	// Blocking until the subscriber's ack, GoChannel.Publish returns once the
	// bus has the message.
	gc := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, nil)
	b := newBus(t, bus.Config{Publisher: gc, Subscriber: gc, MaxPending: 1})
	rec := bustest.NewRecorder[bus.Message]()
	if err := bus.HandleRaw(b, "raw", "external", rec.Handle); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		msg := message.NewMessage("ext-"+string(rune('0'+i)), []byte(`{}`))
		if err := gc.Publish("external", msg); err != nil {
			t.Fatal(err)
		}
	}
	shutdown(t, b)
	got := rec.All()
	if len(got) != 5 || got[0].ID == "" || got[0].Name != "external" {
		t.Fatalf("handled %+v; want 5 messages named after their topic", got)
	}
}

func TestDeadLettersAreLogged(t *testing.T) {
	var mu sync.Mutex
	var records []slog.Record
	logger := slog.New(handlerFunc(func(r slog.Record) {
		mu.Lock()
		records = append(records, r)
		mu.Unlock()
	}))
	b := newBus(t, bus.Config{Logger: logger, Retry: bus.RetryPolicy{MaxRetries: bus.NoRetries}})
	if err := bus.Handle(b, "fails", func(context.Context, noteAdded) error { return errEmptyNote }); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), noteAdded{}); err != nil {
		t.Fatal(err)
	}
	shutdown(t, b)
	mu.Lock()
	defer mu.Unlock()
	var errorRecords int
	for _, r := range records {
		if r.Level == slog.LevelError {
			errorRecords++
			var handler string
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "handler" {
					handler = a.Value.String()
				}
				return true
			})
			if handler != "fails" {
				t.Errorf("error record %q names handler %q, want %q", r.Message, handler, "fails")
			}
		}
	}
	if errorRecords != 1 {
		t.Fatalf("%d records at Error level, want one for the dead letter", errorRecords)
	}
}

// handlerFunc is a slog.Handler that passes every record to a function.
type handlerFunc func(slog.Record)

func (handlerFunc) Enabled(context.Context, slog.Level) bool        { return true }
func (f handlerFunc) Handle(_ context.Context, r slog.Record) error { f(r); return nil }
func (f handlerFunc) WithAttrs([]slog.Attr) slog.Handler            { return f }
func (f handlerFunc) WithGroup(string) slog.Handler                 { return f }

// TestBrokerAcksAfterHandling: with a broker, a message is acknowledged only
// once its handler has finished, or once its dead letter is published.
func TestBrokerAcksAfterHandling(t *testing.T) {
	gc := gochannel.NewGoChannel(gochannel.Config{}, nil)
	seen := make(chan *message.Message, 2)
	sub := watchingSubscriber{stubBroker{gc}, seen}
	release := make(chan struct{})
	running := make(chan struct{}, 1)
	b := newBus(t, bus.Config{Publisher: stubBroker{gc}, Subscriber: sub, Retry: bus.RetryPolicy{MaxRetries: bus.NoRetries}})
	err := bus.Handle(b, "slow", func(ctx context.Context, e noteAdded) error {
		running <- struct{}{}
		<-release
		if e.Note == "fail" {
			return errEmptyNote
		}
		return nil
	}, bus.WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, note := range []string{"ok", "fail"} {
		if err := b.Publish(t.Context(), noteAdded{Note: note}); err != nil {
			t.Fatal(err)
		}
		msg := <-seen
		<-running
		select {
		case <-msg.Acked():
			t.Fatalf("%q: message acknowledged while its handler runs", note)
		case <-msg.Nacked():
			t.Fatalf("%q: message nacked while its handler runs", note)
		case <-time.After(20 * time.Millisecond):
		}
		release <- struct{}{}
		select {
		case <-msg.Acked():
		case <-msg.Nacked():
			t.Fatalf("%q: message nacked, want acknowledged", note)
		case <-time.After(5 * time.Second):
			t.Fatalf("%q: message not acknowledged after its handler finished", note)
		}
	}
	shutdown(t, b)
}

// watchingSubscriber shows the test every message it delivers.
type watchingSubscriber struct {
	stubBroker
	seen chan<- *message.Message
}

func (w watchingSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := w.stubBroker.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for m := range in {
			w.seen <- m
			select {
			case out <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// TestPublishFromHandlerDoesNotWaitForItself: a handler that publishes while
// the pending limit is reached, with the units held by events queued behind
// it, goes on instead of waiting forever.
func TestPublishFromHandlerDoesNotWaitForItself(t *testing.T) {
	b := newBus(t, bus.Config{MaxPending: 2})
	followUps := bustest.NewRecorder[checkedNote]()
	err := bus.Handle(b, "chain", func(ctx context.Context, e noteAdded) error {
		return b.Publish(ctx, checkedNote{Note: "follow-up of " + e.Note})
	}, bus.WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Handle(b, "follow-ups", followUps.Handle); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, note := range []string{"a", "b"} {
		if err := b.Publish(t.Context(), noteAdded{Note: note}); err != nil {
			t.Fatal(err)
		}
	}
	shutdown(t, b)
	if got := followUps.Len(); got != 2 {
		t.Fatalf("%d follow-ups handled, want 2", got)
	}
}

// A subscriber NewSubscriber gives to several handlers is closed once.
func TestSharedSubscriberClosedOnce(t *testing.T) {
	gc := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, nil)
	t.Cleanup(func() { _ = gc.Close() })
	var closed atomic.Int32
	shared := &closeCounter{stubBroker{gc}, &closed}
	b := newBus(t, bus.Config{
		Publisher:     stubBroker{gc},
		NewSubscriber: func(string) (message.Subscriber, error) { return shared, nil },
	})
	rec := bustest.NewRecorder[noteAdded]()
	for _, name := range []string{"first", "second"} {
		if err := bus.Handle(b, name, rec.Handle); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	shutdown(t, b)
	if n := closed.Load(); n != 1 {
		t.Errorf("the shared subscriber was closed %d times, want once", n)
	}
}
