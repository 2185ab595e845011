package bustest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/hookbus/hookbus/bus"
)

// Defaults of the suite's options.
const (
	// DefaultEvents is the number of events of the at-least-once subtest.
	DefaultEvents = 2_000
	// DefaultTimeout bounds every wait of the suite.
	DefaultTimeout = 30 * time.Second
)

// Option tunes TestBus.
type Option func(*suite)

// WithEvents sets how many events the at-least-once subtest publishes; the
// default is DefaultEvents.
func WithEvents(n int) Option { return func(s *suite) { s.events = n } }

// WithTimeout bounds every wait of the suite (handlers reached, Shutdown
// drained); the default is DefaultTimeout. Slow brokers may need more.
func WithTimeout(d time.Duration) Option { return func(s *suite) { s.timeout = d } }

// TestBus runs the conformance suite on the configurations newConfig returns.
// newConfig is called once or more per subtest and must return a fresh
// transport each time (the bus closes it at Shutdown); a broker's
// configurations must share the broker, since some subtests check that a
// second bus with the same handler names picks up what the first one left.
// The suite sets Retry, Now, TracerProvider, MaxPending and Overflow where a
// subtest needs them, wraps OnDeadLetter and keeps everything else.
//
// Every subtest uses its own event and handler names, so brokers may keep
// state between runs. Subtests run one after the other and check goroutines,
// so TestBus must not run in parallel with other tests. Goroutines that
// newConfig itself starts are not counted as leaks.
//
// Subtests: FanOut, TypedRoundTrip, AtLeastOnceUnderFailures, DeadLetters,
// ShutdownDrains, PublishDuringShutdown, TracePropagation, Backpressure
// (in-memory transport only), NoGoroutineLeak.
func TestBus(t *testing.T, newConfig func(t *testing.T) bus.Config, opts ...Option) {
	t.Helper()
	s := &suite{newConfig: newConfig, events: DefaultEvents, timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(s)
	}
	t.Run("FanOut", s.fanOut)
	t.Run("TypedRoundTrip", s.typedRoundTrip)
	t.Run("AtLeastOnceUnderFailures", s.atLeastOnce)
	t.Run("DeadLetters", s.deadLetters)
	t.Run("ShutdownDrains", s.shutdownDrains)
	t.Run("PublishDuringShutdown", s.publishDuringShutdown)
	t.Run("TracePropagation", s.tracePropagation)
	t.Run("Backpressure", s.backpressure)
	t.Run("NoGoroutineLeak", s.noGoroutineLeak)
}

type suite struct {
	newConfig func(t *testing.T) bus.Config
	events    int
	timeout   time.Duration
}

// config returns a fresh configuration with fast retries.
func (s *suite) config(t *testing.T, maxRetries int) bus.Config {
	t.Helper()
	cfg := s.newConfig(t)
	cfg.Retry = bus.RetryPolicy{MaxRetries: maxRetries, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	return cfg
}

// start makes a bus, registers its handlers and starts it; the bus is shut
// down when the test ends, if the test did not do it.
func (s *suite) start(t *testing.T, cfg bus.Config, register func(*bus.Bus) error) *bus.Bus {
	t.Helper()
	b, err := bus.New(cfg)
	if err != nil {
		t.Fatalf("bus.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		_ = b.Shutdown(ctx) // the test's own Shutdown result was checked already
	})
	if err := register(b); err != nil {
		t.Fatalf("register handlers: %v", err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return b
}

func (s *suite) shutdown(t *testing.T, b *bus.Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// handleRest makes sure every seq in want is handled: at once on the in-memory
// transport (the first bus drained them all), or, with a broker, by a second
// bus with the same handler names, which takes over what the first one left
// to the broker.
func (s *suite) handleRest(t *testing.T, first *bus.Bus, got *seqSet, want []int, register func(*bus.Bus) error) {
	t.Helper()
	missing := got.missing(want)
	if len(missing) == 0 {
		return
	}
	if first.InMemory() {
		t.Fatalf("%d of %d accepted events were not handled after Shutdown, e.g. %v", len(missing), len(want), head(missing))
	}
	t.Logf("%d of %d events left to the broker; a second bus takes them over", len(missing), len(want))
	second := s.start(t, s.config(t, 0), register)
	got.waitFor(t, s.timeout, want)
	s.shutdown(t, second)
}

// fanOut: two handlers of one event each get every event.
func (s *suite) fanOut(t *testing.T) {
	const n = 100
	topic := uniqueName("fanout")
	first, second := newSeqSet(), newSeqSet()
	b := s.start(t, s.config(t, 0), func(b *bus.Bus) error {
		return errors.Join(
			bus.HandleRaw(b, topic+"_a", topic, recordSeq(first)),
			bus.HandleRaw(b, topic+"_b", topic, recordSeq(second)),
		)
	})
	publishSeqs(t, b, topic, 0, n)
	first.waitFor(t, s.timeout, seqs(n))
	second.waitFor(t, s.timeout, seqs(n))
	s.shutdown(t, b)
	if b.InMemory() {
		first.requireOnce(t, seqs(n))
		second.requireOnce(t, seqs(n))
	}
}

// runID keeps the static names of the typed events apart between processes
// sharing a broker. It is set once, when the package is initialised.
var runID = randomHex(4)

// typedEvent is a struct event with every optional capability.
type typedEvent struct {
	Nonce string    `json:"nonce"`
	Text  string    `json:"text"`
	Count int       `json:"count"`
	Tags  []string  `json:"tags"`
	At    time.Time `json:"at"`

	id       string
	occurred time.Time
}

func (typedEvent) EventName() string      { return "bt_" + runID + "_typed" }
func (e typedEvent) EventID() string      { return e.id }
func (e typedEvent) EventTime() time.Time { return e.occurred }

// pointerEvent is an event whose EventName has a pointer receiver.
type pointerEvent struct {
	Nonce string `json:"nonce"`
	Text  string `json:"text"`
}

func (*pointerEvent) EventName() string { return "bt_" + runID + "_pointer" }

type received[T any] struct {
	event T
	msg   bus.Message
	ok    bool
}

// typedRoundTrip: typed handlers (struct and pointer types) get the published
// values back, and MessageFromContext gives the id, name and time.
func (s *suite) typedRoundTrip(t *testing.T) {
	nonce := randomHex(8)
	now := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
	cfg := s.config(t, 0)
	cfg.Now = func() time.Time { return now }
	structs := NewRecorder[received[typedEvent]]()
	pointers := NewRecorder[received[*pointerEvent]]()
	b := s.start(t, cfg, func(b *bus.Bus) error {
		return errors.Join(
			bus.Handle(b, uniqueName("typed"), func(ctx context.Context, e typedEvent) error {
				if e.Nonce == nonce { // a broker may replay other runs' events
					m, ok := bus.MessageFromContext(ctx)
					structs.Record(received[typedEvent]{e, m, ok})
				}
				return nil
			}),
			bus.Handle(b, uniqueName("pointer"), func(ctx context.Context, e *pointerEvent) error {
				if e.Nonce == nonce {
					m, ok := bus.MessageFromContext(ctx)
					pointers.Record(received[*pointerEvent]{e, m, ok})
				}
				return nil
			}),
		)
	})

	occurred := time.Date(2029, 12, 31, 23, 59, 58, 987654321, time.UTC)
	own := typedEvent{Nonce: nonce, Text: "héllo \"wörld\"", Count: 42, Tags: []string{"a", "b"},
		At: time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC), id: nonce + "-own", occurred: occurred}
	plain := typedEvent{Nonce: nonce, Text: "plain", Count: -1}
	for _, e := range []bus.Event{own, plain, &pointerEvent{Nonce: nonce, Text: "pointer"}} {
		if err := b.Publish(t.Context(), e); err != nil {
			t.Fatalf("Publish(%T): %v", e, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), s.timeout)
	defer cancel()
	gotStructs, err := structs.Wait(ctx, 2)
	if err != nil {
		t.Fatalf("struct handler got %d of 2 events: %v", len(gotStructs), err)
	}
	gotPointers, err := pointers.Wait(ctx, 1)
	if err != nil {
		t.Fatalf("pointer handler got no event: %v", err)
	}
	s.shutdown(t, b)

	for _, g := range gotStructs {
		if !g.ok {
			t.Fatalf("MessageFromContext in a handler reported false")
		}
		if g.msg.Name != own.EventName() || g.msg.Metadata[bus.MetadataEventName] != own.EventName() {
			t.Errorf("Name = %q, metadata name = %q, want %q", g.msg.Name, g.msg.Metadata[bus.MetadataEventName], own.EventName())
		}
		if g.msg.Metadata[bus.MetadataEventID] != g.msg.ID {
			t.Errorf("metadata id %q != Message.ID %q", g.msg.Metadata[bus.MetadataEventID], g.msg.ID)
		}
		var payload typedEvent
		if err := json.Unmarshal(g.msg.Payload, &payload); err != nil || payload.Text != g.event.Text {
			t.Errorf("Payload %s does not decode to the event (%v)", g.msg.Payload, err)
		}
		switch g.event.Text {
		case own.Text:
			if g.event.Count != own.Count || !slices.Equal(g.event.Tags, own.Tags) || !g.event.At.Equal(own.At) {
				t.Errorf("decoded %+v, want %+v", g.event, own)
			}
			if g.msg.ID != own.id {
				t.Errorf("ID = %q, want the event's own %q", g.msg.ID, own.id)
			}
			if !g.msg.OccurredAt.Equal(occurred) {
				t.Errorf("OccurredAt = %v, want the event's own %v", g.msg.OccurredAt, occurred)
			}
		case plain.Text:
			if g.event.Count != plain.Count {
				t.Errorf("decoded Count %d, want %d", g.event.Count, plain.Count)
			}
			if _, err := uuid.Parse(g.msg.ID); err != nil {
				t.Errorf("generated ID %q is not a UUID: %v", g.msg.ID, err)
			}
			if !g.msg.OccurredAt.Equal(now) {
				t.Errorf("OccurredAt = %v, want Config.Now() %v", g.msg.OccurredAt, now)
			}
		default:
			t.Errorf("unexpected event %+v", g.event)
		}
	}
	if gotStructs[0].msg.ID == gotStructs[1].msg.ID {
		t.Errorf("two events share the id %q", gotStructs[0].msg.ID)
	}
	p := gotPointers[0]
	if !p.ok || p.event == nil || p.event.Text != "pointer" || p.msg.Name != (&pointerEvent{}).EventName() {
		t.Errorf("pointer handler got %+v (message %+v, ok %v)", p.event, p.msg, p.ok)
	}
}

// Injected outcomes of the at-least-once subtest.
type outcome int

const (
	succeed outcome = iota
	fail
	panicking
)

var errInjected = errors.New("bustest: injected failure")

// injected decides, reproducibly, how call number attempt (from 0) for event
// seq goes: 10% of calls fail, 1% panic.
func injected(seq, attempt int) outcome {
	x := uint64(seq)<<8 | uint64(attempt)
	// splitmix64
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	switch r := x % 100; {
	case r < 10:
		return fail
	case r == 10:
		return panicking
	default:
		return succeed
	}
}

// atLeastOnce: under injected failures and panics every event ends handled or
// dead-lettered with its reason; on the in-memory transport the counts are
// exactly the ones the injection predicts.
func (s *suite) atLeastOnce(t *testing.T) {
	const maxRetries = 1
	n := s.events
	topic := uniqueName("alo")
	handlerName := topic + "_h"

	type hooked struct {
		params bus.DeadLetterParams
		count  int
	}
	var (
		mu         sync.Mutex
		calls      = map[int]int{}
		totalCalls int
		hooks      = map[int]*hooked{}
		letters    = map[int]bus.DeadLetter{}
	)
	handled := newSeqSet()
	ended := newSeqSet() // handled or dead letter received

	cfg := s.config(t, maxRetries)
	prev := cfg.OnDeadLetter
	cfg.OnDeadLetter = func(p bus.DeadLetterParams) {
		if prev != nil {
			prev(p)
		}
		if p.DeadLetter.Handler != handlerName {
			return
		}
		seq, err := seqOf(p.DeadLetter.Message)
		if err != nil {
			t.Errorf("OnDeadLetter: %v", err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		h := hooks[seq]
		if h == nil {
			h = &hooked{}
			hooks[seq] = h
		}
		h.params = p
		h.count++
	}
	register := func(b *bus.Bus) error {
		return errors.Join(
			bus.HandleRaw(b, handlerName, topic, func(ctx context.Context, m bus.Message) error {
				seq, err := seqOf(m)
				if err != nil {
					return bus.Permanent(err)
				}
				mu.Lock()
				attempt := calls[seq]
				calls[seq]++
				totalCalls++
				mu.Unlock()
				switch injected(seq, attempt) {
				case fail:
					return fmt.Errorf("%w: seq %d attempt %d", errInjected, seq, attempt)
				case panicking:
					panic(fmt.Sprintf("bustest: injected panic: seq %d attempt %d", seq, attempt))
				}
				handled.add(seq)
				ended.add(seq)
				return nil
			}),
			bus.HandleDeadLetters(b, topic+"_dl", func(ctx context.Context, d bus.DeadLetter) error {
				if d.Handler != handlerName {
					return nil // another test's dead letter on a shared broker
				}
				seq, err := seqOf(d.Message)
				if err != nil {
					return bus.Permanent(err)
				}
				mu.Lock()
				letters[seq] = d
				mu.Unlock()
				ended.add(seq)
				return nil
			}),
		)
	}
	b := s.start(t, cfg, register)
	publishSeqs(t, b, topic, 0, n)
	ended.waitFor(t, s.timeout, seqs(n))
	s.shutdown(t, b) // after it, every OnDeadLetter call has returned

	mu.Lock()
	defer mu.Unlock()
	var wantCalls, wantLetters int
	for seq := range n {
		last, attempts := succeed, 0
		for attempts <= maxRetries {
			last = injected(seq, attempts)
			attempts++
			if last == succeed {
				break
			}
		}
		wantCalls += attempts
		if last != succeed {
			wantLetters++
		}
		d, lettered := letters[seq]
		if !b.InMemory() {
			// A broker may redeliver, which changes the injected outcomes: only
			// check that the event ended somewhere.
			if handled.count(seq) == 0 && !lettered {
				t.Errorf("event %d neither handled nor dead-lettered", seq)
			}
			if lettered && d.Attempts != maxRetries+1 {
				t.Errorf("event %d: dead letter after %d attempts, want %d", seq, d.Attempts, maxRetries+1)
			}
			continue
		}
		if last == succeed {
			if got := handled.count(seq); got != 1 || lettered || hooks[seq] != nil {
				t.Errorf("event %d: handled %d times, dead-lettered %v, want handled once", seq, got, lettered)
			}
			continue
		}
		h := hooks[seq]
		switch {
		case handled.count(seq) != 0:
			t.Errorf("event %d handled although every attempt failed", seq)
		case !lettered || h == nil || h.count != 1:
			t.Errorf("event %d: dead letter received %v, OnDeadLetter calls %v; want one of each", seq, lettered, h)
		default:
			checkDeadLetter(t, d, h.params, handlerName, topic, seq, maxRetries+1)
			wantErr := errInjected
			if last == panicking {
				wantErr = bus.ErrHandlerPanic
			}
			if !errors.Is(h.params.Err, wantErr) {
				t.Errorf("event %d: OnDeadLetter Err = %v, want one matching %v", seq, h.params.Err, wantErr)
			}
		}
	}
	if b.InMemory() && totalCalls != wantCalls {
		t.Errorf("handler called %d times, want exactly %d", totalCalls, wantCalls)
	}
	t.Logf("%d events: %d handled, %d dead-lettered (%d predicted), %d handler calls (%d predicted)",
		n, handled.len(), len(letters), wantLetters, totalCalls, wantCalls)
}

// checkDeadLetter compares a dead letter received by a dead-letter handler with
// the OnDeadLetter report of it and with the event it comes from.
func checkDeadLetter(t *testing.T, d bus.DeadLetter, p bus.DeadLetterParams, handler, topic string, seq, attempts int) {
	t.Helper()
	if d.Handler != handler || d.Attempts != attempts || d.Reason == "" {
		t.Errorf("event %d: dead letter handler %q, attempts %d, reason %q; want %q, %d, a reason", seq, d.Handler, d.Attempts, d.Reason, handler, attempts)
	}
	if d.Reason != p.DeadLetter.Reason || d.Reason != p.Err.Error() {
		t.Errorf("event %d: dead letter reason %q, reported %q (error %v)", seq, d.Reason, p.DeadLetter.Reason, p.Err)
	}
	if p.PublishErr != nil {
		t.Errorf("event %d: dead letter not published: %v", seq, p.PublishErr)
	}
	if want := seqID(topic, seq); d.Message.ID != want || p.DeadLetter.Message.ID != want {
		t.Errorf("event %d: dead letter ids %q (received), %q (reported), want %q", seq, d.Message.ID, p.DeadLetter.Message.ID, want)
	}
	if d.Message.Name != topic || d.Message.OccurredAt.IsZero() {
		t.Errorf("event %d: dead letter Name %q, OccurredAt %v; want %q and a time", seq, d.Message.Name, d.Message.OccurredAt, topic)
	}
	if d.Message.Metadata[bus.MetadataEventID] != d.Message.ID {
		t.Errorf("event %d: dead letter lost the event's metadata: %v", seq, d.Message.Metadata)
	}
}

// deadLetters: a handler that always fails, one that fails permanently and one
// that panics each produce a dead letter with the right reason and attempts.
func (s *suite) deadLetters(t *testing.T) {
	const maxRetries = 2
	topic := uniqueName("dead")
	errBoom := errors.New("bustest: boom")
	errPanic := errors.New("bustest: panic value")
	names := map[string]int{ // handler -> expected attempts
		topic + "_retried":   maxRetries + 1,
		topic + "_permanent": 1,
		topic + "_panics":    maxRetries + 1,
	}
	var mu sync.Mutex
	reports := map[string]bus.DeadLetterParams{}
	cfg := s.config(t, maxRetries)
	prev := cfg.OnDeadLetter
	cfg.OnDeadLetter = func(p bus.DeadLetterParams) {
		if prev != nil {
			prev(p)
		}
		mu.Lock()
		reports[p.DeadLetter.Handler] = p
		mu.Unlock()
	}
	letters := NewRecorder[bus.DeadLetter]()
	b := s.start(t, cfg, func(b *bus.Bus) error {
		return errors.Join(
			bus.HandleRaw(b, topic+"_retried", topic, func(context.Context, bus.Message) error { return errBoom }),
			bus.HandleRaw(b, topic+"_permanent", topic, func(context.Context, bus.Message) error { return bus.Permanent(errBoom) }),
			bus.HandleRaw(b, topic+"_panics", topic, func(context.Context, bus.Message) error { panic(errPanic) }),
			bus.HandleDeadLetters(b, topic+"_dl", func(ctx context.Context, d bus.DeadLetter) error {
				if _, ours := names[d.Handler]; ours {
					letters.Record(d)
				}
				return nil
			}),
		)
	})
	publishSeqs(t, b, topic, 7, 1)
	ctx, cancel := context.WithTimeout(t.Context(), s.timeout)
	defer cancel()
	got, err := letters.Wait(ctx, len(names))
	if err != nil {
		t.Fatalf("got %d of %d dead letters: %v", len(got), len(names), err)
	}
	s.shutdown(t, b)

	mu.Lock()
	defer mu.Unlock()
	for _, d := range got {
		p, ok := reports[d.Handler]
		if !ok {
			t.Errorf("no OnDeadLetter call for handler %q", d.Handler)
			continue
		}
		checkDeadLetter(t, d, p, d.Handler, topic, 7, names[d.Handler])
		switch d.Handler {
		case topic + "_retried":
			if !errors.Is(p.Err, errBoom) || errors.Is(p.Err, bus.ErrPermanent) {
				t.Errorf("retried handler: Err = %v, want errBoom", p.Err)
			}
		case topic + "_permanent":
			if !errors.Is(p.Err, errBoom) || !errors.Is(p.Err, bus.ErrPermanent) {
				t.Errorf("permanent handler: Err = %v, want errBoom marked permanent", p.Err)
			}
		case topic + "_panics":
			if !errors.Is(p.Err, bus.ErrHandlerPanic) || !errors.Is(p.Err, errPanic) {
				t.Errorf("panicking handler: Err = %v, want ErrHandlerPanic wrapping the panic value", p.Err)
			}
		}
	}
}

// shutdownDrains: Shutdown returns once the events published before it are
// handled, and the bus refuses everything afterwards.
func (s *suite) shutdownDrains(t *testing.T) {
	const n = 200
	topic := uniqueName("drain")
	got := newSeqSet()
	register := func(b *bus.Bus) error {
		return bus.HandleRaw(b, topic+"_h", topic, func(ctx context.Context, m bus.Message) error {
			time.Sleep(time.Millisecond) // keep events pending when Shutdown begins
			return recordSeq(got)(ctx, m)
		}, bus.WithWorkers(4))
	}
	b := s.start(t, s.config(t, 0), register)
	publishSeqs(t, b, topic, 0, n)
	s.shutdown(t, b)
	s.handleRest(t, b, got, seqs(n), register)
	if b.InMemory() {
		got.requireOnce(t, seqs(n))
	}

	ctx := t.Context()
	if err := b.Publish(ctx, seqEvent{name: topic, Seq: n}); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish after Shutdown = %v, want ErrClosed", err)
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown = %v, want nil", err)
	}
	if err := b.Start(ctx); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Start after Shutdown = %v, want ErrClosed", err)
	}
	if err := bus.HandleRaw(b, topic+"_late", topic, recordSeq(got)); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("HandleRaw after Shutdown = %v, want ErrClosed", err)
	}
}

// publishDuringShutdown: publishers race Shutdown; every Publish that returned
// nil is handled, every other one returned ErrClosed.
func (s *suite) publishDuringShutdown(t *testing.T) {
	const publishers, before = 4, 300
	topic := uniqueName("race")
	got := newSeqSet()
	register := func(b *bus.Bus) error {
		return bus.HandleRaw(b, topic+"_h", topic, recordSeq(got))
	}
	b := s.start(t, s.config(t, 0), register)

	var (
		next     atomic.Int64
		mu       sync.Mutex
		accepted []int
		wg       sync.WaitGroup
	)
	enough := make(chan struct{})
	var enoughOnce sync.Once
	for range publishers {
		wg.Go(func() {
			for {
				seq := int(next.Add(1))
				err := b.Publish(context.Background(), seqEvent{name: topic, id: seqID(topic, seq), Seq: seq})
				switch {
				case errors.Is(err, bus.ErrFull):
					continue // a configuration with OverflowFail
				case errors.Is(err, bus.ErrClosed):
					return
				case err != nil:
					t.Errorf("Publish during Shutdown = %v, want nil or ErrClosed", err)
					return
				}
				mu.Lock()
				accepted = append(accepted, seq)
				if len(accepted) == before {
					enoughOnce.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-enough:
	case <-time.After(s.timeout):
		t.Fatalf("publishers did not get %d events accepted", before)
	}
	s.shutdown(t, b)
	wg.Wait()
	s.handleRest(t, b, got, accepted, register)
	if b.InMemory() {
		got.requireOnce(t, accepted)
	}
	t.Logf("%d events accepted while Shutdown began", len(accepted))
}

// tracePropagation: the consumer span is a child of the publish span, which
// is a child of the publisher's span; failures are recorded on the span.
func (s *suite) tracePropagation(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	cfg := s.config(t, bus.NoRetries)
	cfg.TracerProvider = tp

	topic, failing := uniqueName("trace"), uniqueName("tracefail")
	handlerName := topic + "_h"
	inHandler := NewRecorder[trace.SpanContext]()
	failed := NewRecorder[struct{}]()
	b := s.start(t, cfg, func(b *bus.Bus) error {
		return errors.Join(
			bus.HandleRaw(b, handlerName, topic, func(ctx context.Context, m bus.Message) error {
				inHandler.Record(trace.SpanContextFromContext(ctx))
				return nil
			}, bus.WithSpanName("dispatch")),
			bus.HandleRaw(b, failing+"_h", failing, func(ctx context.Context, m bus.Message) error {
				failed.Record(struct{}{})
				return bus.Permanent(errors.New("bustest: traced failure"))
			}),
		)
	})
	ctx, parent := tp.Tracer("bustest").Start(t.Context(), "bustest parent")
	for _, name := range []string{topic, failing} {
		if err := b.Publish(ctx, seqEvent{name: name, id: seqID(name, 1), Seq: 1}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	parent.End()
	wctx, cancel := context.WithTimeout(t.Context(), s.timeout)
	defer cancel()
	handlerSpans, err := inHandler.Wait(wctx, 1)
	if err != nil {
		t.Fatalf("handler not called: %v", err)
	}
	if _, err := failed.Wait(wctx, 1); err != nil {
		t.Fatalf("failing handler not called: %v", err)
	}
	s.shutdown(t, b) // every span has ended

	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, sp := range recorder.Ended() {
		spans[sp.Name()] = sp
	}
	publish, consume := spans["publish "+topic], spans["dispatch "+topic]
	if publish == nil || consume == nil {
		t.Fatalf("spans %q and %q not both recorded; got %v", "publish "+topic, "dispatch "+topic, keys(spans))
	}
	traceID := parent.SpanContext().TraceID()
	if publish.SpanKind() != trace.SpanKindProducer || publish.Parent().SpanID() != parent.SpanContext().SpanID() || publish.SpanContext().TraceID() != traceID {
		t.Errorf("publish span: kind %v, parent %v, trace %v; want producer, child of %v in trace %v",
			publish.SpanKind(), publish.Parent().SpanID(), publish.SpanContext().TraceID(), parent.SpanContext().SpanID(), traceID)
	}
	if consume.SpanKind() != trace.SpanKindConsumer || consume.Parent().SpanID() != publish.SpanContext().SpanID() || consume.SpanContext().TraceID() != traceID {
		t.Errorf("consumer span: kind %v, parent %v, trace %v; want consumer, child of %v in trace %v",
			consume.SpanKind(), consume.Parent().SpanID(), consume.SpanContext().TraceID(), publish.SpanContext().SpanID(), traceID)
	}
	if !hasAttribute(consume.Attributes(), attribute.String("messaging.consumer.group.name", handlerName)) {
		t.Errorf("consumer span attributes %v lack the handler name %q", consume.Attributes(), handlerName)
	}
	if got := handlerSpans[0]; got.SpanID() != consume.SpanContext().SpanID() {
		t.Errorf("handler context carries span %v, want the consumer span %v", got.SpanID(), consume.SpanContext().SpanID())
	}
	bad := spans["process "+failing]
	if bad == nil {
		t.Fatalf("span %q not recorded; got %v", "process "+failing, keys(spans))
	}
	if bad.Status().Code != codes.Error || !slices.ContainsFunc(bad.Events(), func(e sdktrace.Event) bool { return e.Name == "exception" }) {
		t.Errorf("failed consumer span: status %v, events %v; want an error status and an exception event", bad.Status(), bad.Events())
	}
}

// backpressure: on the in-memory transport, MaxPending bounds what Publish
// accepts, failing fast or waiting as configured.
func (s *suite) backpressure(t *testing.T) {
	t.Run("Fail", func(t *testing.T) {
		topic := uniqueName("full")
		release := make(chan struct{})
		got := newSeqSet()
		cfg := s.config(t, 0)
		cfg.MaxPending, cfg.Overflow = 2, bus.OverflowFail
		b := s.start(t, cfg, func(b *bus.Bus) error {
			return bus.HandleRaw(b, topic+"_h", topic, func(ctx context.Context, m bus.Message) error {
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
				return recordSeq(got)(ctx, m)
			}, bus.WithWorkers(1))
		})
		if !b.InMemory() {
			t.Skip("MaxPending applies to the in-memory transport only; a broker stores what is published")
		}
		publishSeqs(t, b, topic, 0, 2)
		if err := b.Publish(t.Context(), seqEvent{name: topic, Seq: 2}); !errors.Is(err, bus.ErrFull) {
			t.Fatalf("Publish beyond MaxPending = %v, want ErrFull", err)
		}
		close(release)
		got.waitFor(t, s.timeout, seqs(2))
		publishSeqs(t, b, topic, 2, 1)
		got.waitFor(t, s.timeout, seqs(3))
		s.shutdown(t, b)
	})
	t.Run("Wait", func(t *testing.T) {
		topic := uniqueName("wait")
		tokens := make(chan struct{}) // one per handler call
		got := newSeqSet()
		cfg := s.config(t, 0)
		cfg.MaxPending, cfg.Overflow = 2, bus.OverflowWait
		b := s.start(t, cfg, func(b *bus.Bus) error {
			return bus.HandleRaw(b, topic+"_h", topic, func(ctx context.Context, m bus.Message) error {
				select {
				case <-tokens:
				case <-ctx.Done():
					return ctx.Err()
				}
				return recordSeq(got)(ctx, m)
			}, bus.WithWorkers(1))
		})
		if !b.InMemory() {
			t.Skip("MaxPending applies to the in-memory transport only; a broker stores what is published")
		}
		publishSeqs(t, b, topic, 0, 2)
		short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if err := b.Publish(short, seqEvent{name: topic, Seq: 9}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Publish beyond MaxPending with a 50ms deadline = %v, want context.DeadlineExceeded", err)
		}

		waiting := publishAsync(b, seqEvent{name: topic, Seq: 2})
		requireBlocked(t, waiting, "Publish beyond MaxPending")
		tokens <- struct{}{} // event 0 handled: one unit free
		requireResult(t, waiting, s.timeout, nil, "Publish after a unit was freed")

		closed := publishAsync(b, seqEvent{name: topic, Seq: 3})
		requireBlocked(t, closed, "Publish beyond MaxPending")
		shutdown := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
			defer cancel()
			shutdown <- b.Shutdown(ctx)
		}()
		requireResult(t, closed, s.timeout, bus.ErrClosed, "Publish waiting when Shutdown began")
		close(tokens)
		requireResult(t, shutdown, s.timeout, nil, "Shutdown")
		got.requireOnce(t, []int{0, 1, 2})
	})
}

// noGoroutineLeak: after Shutdown, no goroutine started by the bus or its
// transport is left.
func (s *suite) noGoroutineLeak(t *testing.T) {
	cfg := s.config(t, 1)
	ignore := goleak.IgnoreCurrent()
	topic := uniqueName("leak")
	got := newSeqSet()
	b := s.start(t, cfg, func(b *bus.Bus) error {
		return errors.Join(
			bus.HandleRaw(b, topic+"_h", topic, func(ctx context.Context, m bus.Message) error {
				seq, err := seqOf(m)
				if err == nil && seq%10 == 0 {
					return errors.New("bustest: every tenth event fails")
				}
				got.add(seq)
				return nil
			}),
			bus.HandleDeadLetters(b, topic+"_dl", func(ctx context.Context, d bus.DeadLetter) error {
				seq, err := seqOf(d.Message)
				if err == nil && d.Handler == topic+"_h" {
					got.add(seq)
				}
				return nil
			}),
		)
	})
	publishSeqs(t, b, topic, 0, 100)
	got.waitFor(t, s.timeout, seqs(100))
	s.shutdown(t, b)
	goleak.VerifyNone(t, ignore)
}

// seqEvent is an event whose name is chosen per subtest.
type seqEvent struct {
	name string
	id   string
	Seq  int `json:"seq"`
}

func (e seqEvent) EventName() string { return e.name }
func (e seqEvent) EventID() string   { return e.id }

func seqID(topic string, seq int) string { return fmt.Sprintf("%s-%d", topic, seq) }

func seqOf(m bus.Message) (int, error) {
	var p struct {
		Seq *int `json:"seq"`
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil {
		return 0, fmt.Errorf("bustest: payload %s: %w", m.Payload, err)
	}
	if p.Seq == nil {
		return 0, fmt.Errorf("bustest: payload %s has no seq", m.Payload)
	}
	return *p.Seq, nil
}

func publishSeqs(t *testing.T, b *bus.Bus, topic string, from, n int) {
	t.Helper()
	for seq := from; seq < from+n; seq++ {
		if err := b.Publish(t.Context(), seqEvent{name: topic, id: seqID(topic, seq), Seq: seq}); err != nil {
			t.Fatalf("Publish %s #%d: %v", topic, seq, err)
		}
	}
}

func publishAsync(b *bus.Bus, e seqEvent) <-chan error {
	done := make(chan error, 1)
	go func() { done <- b.Publish(context.Background(), e) }()
	return done
}

// requireBlocked checks that nothing arrives on done for a while.
func requireBlocked(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s returned %v, want it to wait", what, err)
	case <-time.After(50 * time.Millisecond):
	}
}

// requireResult waits for an error matching want (nil for success) on done.
func requireResult(t *testing.T, done <-chan error, timeout time.Duration, want error, what string) {
	t.Helper()
	select {
	case err := <-done:
		if (want == nil && err != nil) || !errors.Is(err, want) {
			t.Fatalf("%s = %v, want %v", what, err, want)
		}
	case <-time.After(timeout):
		t.Fatalf("%s did not return within %v", what, timeout)
	}
}

func recordSeq(set *seqSet) func(context.Context, bus.Message) error {
	return func(_ context.Context, m bus.Message) error {
		seq, err := seqOf(m)
		if err != nil {
			return bus.Permanent(err)
		}
		set.add(seq)
		return nil
	}
}

// seqSet counts how often each seq was seen.
type seqSet struct {
	mu      sync.Mutex
	counts  map[int]int
	changed chan struct{}
}

func newSeqSet() *seqSet {
	return &seqSet{counts: map[int]int{}, changed: make(chan struct{})}
}

func (s *seqSet) add(seq int) {
	s.mu.Lock()
	s.counts[seq]++
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *seqSet) count(seq int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[seq]
}

func (s *seqSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.counts)
}

func (s *seqSet) missing(want []int) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var missing []int
	for _, seq := range want {
		if s.counts[seq] == 0 {
			missing = append(missing, seq)
		}
	}
	return missing
}

// waitFor waits until every seq in want was seen.
func (s *seqSet) waitFor(t *testing.T, timeout time.Duration, want []int) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		missing := s.missing(want)
		if len(missing) == 0 {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("after %v, %d of %d events not handled, e.g. %v", timeout, len(missing), len(want), head(missing))
		}
	}
}

// requireOnce checks that every seq in want was seen exactly once and no other.
func (s *seqSet) requireOnce(t *testing.T, want []int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, seq := range want {
		if n := s.counts[seq]; n != 1 {
			t.Errorf("event %d handled %d times, want once", seq, n)
		}
	}
	if len(s.counts) != len(want) {
		t.Errorf("%d distinct events handled, want %d", len(s.counts), len(want))
	}
}

func seqs(n int) []int {
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	return all
}

func head(seqs []int) []int {
	sort.Ints(seqs)
	return seqs[:min(len(seqs), 10)]
}

func keys[V any](m map[string]V) []string {
	all := make([]string, 0, len(m))
	for k := range m {
		all = append(all, k)
	}
	sort.Strings(all)
	return all
}

func hasAttribute(attrs []attribute.KeyValue, want attribute.KeyValue) bool {
	return slices.ContainsFunc(attrs, func(kv attribute.KeyValue) bool { return kv == want })
}

// uniqueName returns a topic or handler name no other subtest or run uses,
// short and plain enough for any broker's naming rules.
func uniqueName(tag string) string { return "bt_" + randomHex(4) + "_" + tag }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails
	return hex.EncodeToString(b)
}
