package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/trace"
)

// Handle registers fn, under the handler name name, for the events of type T.
// T's name is read from its zero value (for a pointer type, from a new
// value), so EventName must not depend on the fields. Each event's JSON
// payload is decoded into a new T; a payload that does not decode is
// dead-lettered without retries. fn gets the event's Message through
// MessageFromContext.
//
// fn runs on up to Config.Workers goroutines at once (see WithWorkers). An
// error or a panic is retried as Config.Retry says, then the event is
// dead-lettered; wrap an error in Permanent to skip the retries. fn's context
// is not cancelled by Shutdown until Shutdown gives up waiting.
//
// Handler names are unique per bus; with a broker they name the consumer
// group (see Config.NewSubscriber), so they must be stable. Handle must be
// called before Start, otherwise it returns ErrStarted.
func Handle[T Event](b *Bus, name string, fn func(ctx context.Context, e T) error, opts ...HandlerOption) error {
	if fn == nil {
		return fmt.Errorf("%w: handler %q: nil function", ErrInvalidHandler, name)
	}
	rt := reflect.TypeFor[T]()
	var zero T
	var newT func() T // nil unless T is a pointer type
	switch rt.Kind() {
	case reflect.Interface:
		return fmt.Errorf("%w: handler %q: event type %v is an interface, not a concrete type", ErrInvalidHandler, name, rt)
	case reflect.Pointer:
		elem := rt.Elem()
		newT = func() T { return reflect.New(elem).Interface().(T) }
		zero = newT()
	}
	eventName := zero.EventName()
	call := func(ctx context.Context, m *Message) error {
		var (
			e      T
			target any
		)
		if newT != nil {
			e = newT()
			target = e
		} else {
			target = &e
		}
		if err := json.Unmarshal(m.Payload, target); err != nil {
			return Permanent(fmt.Errorf("bus: decode %s into %v: %w", m.Name, rt, err))
		}
		return fn(ctx, e)
	}
	return b.register(name, eventName, false, call, opts)
}

// HandleRaw registers fn, under the handler name name, for the events named
// eventName, without decoding them: fn gets the Message with the raw JSON
// payload, for handlers that forward the bytes. Everything else is as for Handle.
func HandleRaw(b *Bus, name, eventName string, fn func(ctx context.Context, m Message) error, opts ...HandlerOption) error {
	if fn == nil {
		return fmt.Errorf("%w: handler %q: nil function", ErrInvalidHandler, name)
	}
	call := func(ctx context.Context, m *Message) error { return fn(ctx, *m) }
	return b.register(name, eventName, false, call, opts)
}

// HandleDeadLetters registers fn, under the handler name name, for the dead
// letters published on Config.DeadLetterTopic. A dead letter that fn keeps
// failing on is not dead-lettered again: it is logged at Error level and
// then, with a broker, nacked, so the broker redelivers it, unless fn's
// error wraps ErrPermanent (it can never take that dead letter), which
// drops it as it is dropped in memory. Everything else is as for Handle.
func HandleDeadLetters(b *Bus, name string, fn func(ctx context.Context, d DeadLetter) error, opts ...HandlerOption) error {
	if fn == nil {
		return fmt.Errorf("%w: handler %q: nil function", ErrInvalidHandler, name)
	}
	call := func(ctx context.Context, m *Message) error { return fn(ctx, deadLetterFrom(m)) }
	return b.register(name, b.dlTopic, true, call, opts)
}

// HandlerOption configures one handler. Options are applied in order; an
// invalid one makes the registration fail with ErrInvalidHandler.
type HandlerOption func(*handlerOptions)

type handlerOptions struct {
	workers   int
	operation string
	retry     RetryPolicy
	inline    bool
	errs      []error
}

// Inline makes the handler run inside Publish on the zero Config's in-process
// transport: the publishing goroutine calls it, with the publisher's context
// (and the publish span), before Publish returns, and an error or a panic
// becomes Publish's error, without retries or a dead letter: the event was
// refused. The event takes no pending unit for an inline handler, whose own
// limits, if any, are its backpressure.
//
// It suits a handler that only hands the event on to bounded queues of its
// own, such as a fan-out to worker pools: it spares each event the hand-off to
// the bus's workers. On any other transport the option has no effect and the
// handler runs on workers as usual. It cannot be used with HandleDeadLetters.
//
// Inline handlers run before the event is queued for the event's other
// handlers, in registration order; the first error stops the rest and
// nothing is queued. What inline handlers that ran before it did stays done,
// so a publisher that retries a refused event should give it its own id
// (EventID) for them to recognise it.
func Inline() HandlerOption {
	return func(o *handlerOptions) { o.inline = true }
}

// WithWorkers sets how many calls of the handler may run at once; n must be at
// least 1. The default is Config.Workers.
func WithWorkers(n int) HandlerOption {
	return func(o *handlerOptions) {
		if n < 1 {
			o.errs = append(o.errs, fmt.Errorf("WithWorkers(%d): need at least 1", n))
			return
		}
		o.workers = n
	}
}

// WithSpanName sets the operation that names the handler's consumer span,
// "<operation> <event name>". The default is "process".
func WithSpanName(operation string) HandlerOption {
	return func(o *handlerOptions) {
		if operation == "" {
			o.errs = append(o.errs, errors.New("WithSpanName: empty operation"))
			return
		}
		o.operation = operation
	}
}

// WithRetry sets the handler's retry policy, instead of Config.Retry.
func WithRetry(p RetryPolicy) HandlerOption {
	return func(o *handlerOptions) {
		if errs := p.problems(); len(errs) > 0 {
			o.errs = append(o.errs, fmt.Errorf("WithRetry: %w", errors.Join(errs...)))
			return
		}
		o.retry = p
	}
}

// handler is one registration: its subscription, queue and workers.
type handler struct {
	name        string
	topic       string
	deadLetters bool // handles Config.DeadLetterTopic; its failures are not dead-lettered again
	inline      bool // runs inside Publish (the in-process transport only); no queue or workers
	call        func(ctx context.Context, m *Message) error
	workers     int
	retry       RetryPolicy
	spanName    string
	spanOptions []trace.SpanStartOption

	// Set by Start.
	queue     *queue
	subCancel context.CancelFunc
	held      atomic.Int64                      // broker: messages received and not yet acked or nacked
	current   []atomic.Pointer[message.Message] // broker: the message each worker is handling
}

func (b *Bus) register(name, eventName string, deadLetters bool, call func(context.Context, *Message) error, opts []HandlerOption) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.state.Load() >= stateClosing:
		return ErrClosed
	case b.frozen:
		return fmt.Errorf("%w: cannot add handler %q", ErrStarted, name)
	}

	o := handlerOptions{workers: b.workers, operation: "process", retry: b.retry}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	var errs []error
	if name == "" {
		errs = append(errs, errors.New("empty handler name"))
	}
	switch {
	case eventName == "":
		errs = append(errs, errors.New("empty event name"))
	case !deadLetters && eventName == b.dlTopic:
		errs = append(errs, fmt.Errorf("%q is the dead-letter topic: use HandleDeadLetters", eventName))
	}
	for _, h := range b.handlers {
		if h.name == name {
			errs = append(errs, errors.New("handler name already registered"))
			break
		}
	}
	if o.inline && deadLetters {
		errs = append(errs, errors.New("Inline: dead-letter handlers run on workers"))
	}
	errs = append(errs, o.errs...)
	if len(errs) > 0 {
		return fmt.Errorf("%w: handler %q: %w", ErrInvalidHandler, name, errors.Join(errs...))
	}

	h := &handler{
		name:        name,
		topic:       eventName,
		deadLetters: deadLetters,
		inline:      o.inline && b.direct,
		call:        call,
		workers:     o.workers,
		retry:       o.retry,
		spanName:    o.operation + " " + eventName,
		spanOptions: consumerSpanOptions(o.operation, eventName, name),
	}
	b.handlers = append(b.handlers, h)
	t := b.topics[eventName]
	if t == nil {
		t = &topic{name: eventName, publishSpan: "publish " + eventName}
		b.topics[eventName] = t
	}
	t.handlers = append(t.handlers, h)
	if h.inline {
		t.inline = append(t.inline, h)
	} else {
		t.queued = append(t.queued, h)
	}
	return nil
}

// deadLetterFrom reads a dead letter back from the message it travelled in.
func deadLetterFrom(m *Message) DeadLetter {
	original := *m
	original.Metadata = make(map[string]string, len(m.Metadata))
	for k, v := range m.Metadata {
		switch k {
		case MetadataDeadLetterReason, MetadataDeadLetterHandler, MetadataDeadLetterTopic, MetadataDeadLetterAttempts:
		default:
			original.Metadata[k] = v
		}
	}
	attempts, _ := strconv.Atoi(m.Metadata[MetadataDeadLetterAttempts])
	return DeadLetter{
		Message:  original,
		Handler:  m.Metadata[MetadataDeadLetterHandler],
		Reason:   m.Metadata[MetadataDeadLetterReason],
		Attempts: attempts,
	}
}
