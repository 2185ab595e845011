package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/google/uuid"

	hbid "github.com/hookbus/hookbus/internal/id"
	"github.com/hookbus/hookbus/internal/tracing"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Bus carries typed events from publishers to handlers over a Watermill
// Pub/Sub. Register handlers with Handle, HandleRaw and HandleDeadLetters, then
// Start (or Run) the bus; Publish from any goroutine; end with Shutdown or
// Close. All methods are safe for concurrent use. A Bus must be made by New.
type Bus struct {
	pub          message.Publisher
	sub          message.Subscriber
	newSub       func(handlerName string) (message.Subscriber, error)
	inMemory     bool
	direct       bool   // in-process transport: Publish pushes onto the handlers' queues
	instance     string // marks in-memory messages whose pending units Publish reserved
	log          *slog.Logger
	tracer       tracing.Tracer
	prop         propagation.TextMapPropagator
	now          func() time.Time
	workers      int
	retry        RetryPolicy
	overflowWait bool
	dlTopic      string
	onDeadLetter func(DeadLetterParams)
	drainTimeout time.Duration
	pending      *semaphore // in-memory transport only

	lifecycle sync.Mutex // serialises Start and the beginning of Shutdown
	mu        sync.Mutex // guards frozen, handlers and topics until Start
	frozen    bool
	handlers  []*handler
	topics    map[string]*topic // read without mu once started is set

	state      atomic.Int32
	started    atomic.Bool // set once Start succeeded, never reset; topics is frozen by then
	publishing gate

	lifetime  context.Context // parent of handler contexts; cancelled only at hard stop
	hardStop  context.CancelFunc
	stopPumps chan struct{}
	stopOnce  sync.Once
	// intake admits in-memory events published through a Pub/Sub (a
	// GoChannel) until drain closes it, so that no event reaches a
	// transport whose pumps are about to stop.
	intake    gate
	running   sync.WaitGroup // pumps and workers
	ownedSubs []message.Subscriber

	shuttingDown bool          // guarded by lifecycle
	closing      chan struct{} // closed when Shutdown begins
	done         chan struct{} // closed when Shutdown has finished
	shutdownErr  error         // written before done is closed
}

// Bus states, in the only order they are taken.
const (
	stateNew int32 = iota
	stateStarted
	stateClosing
	stateClosed
)

// topic is an event name with its handlers, fixed once the bus has started.
type topic struct {
	name        string
	handlers    []*handler
	queued      []*handler // handlers with a queue and workers
	inline      []*handler // handlers Publish calls itself (Inline)
	publishSpan string
}

const instrumentationName = "github.com/hookbus/hookbus/bus"

// metadataReservedBy marks an in-memory message whose pending units the
// publishing bus already holds; its value is the bus's instance id. Pumps
// remove it before handlers see the metadata.
const metadataReservedBy = "bus_reserved_by"

// New returns a Bus for cfg, or an error wrapping ErrInvalidConfig that joins
// every problem found.
func New(cfg Config) (*Bus, error) {
	if errs := cfg.problems(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	b := &Bus{
		pub:          cfg.Publisher,
		sub:          cfg.Subscriber,
		newSub:       cfg.NewSubscriber,
		instance:     uuid.NewString(),
		log:          cfg.Logger,
		prop:         cfg.Propagator,
		now:          cfg.Now,
		workers:      cfg.Workers,
		retry:        cfg.Retry,
		overflowWait: cfg.Overflow == OverflowWait,
		dlTopic:      cfg.DeadLetterTopic,
		onDeadLetter: cfg.OnDeadLetter,
		drainTimeout: cfg.DrainTimeout,
		topics:       make(map[string]*topic),
		stopPumps:    make(chan struct{}),
		closing:      make(chan struct{}),
		done:         make(chan struct{}),
	}
	b.publishing.drained = make(chan struct{})
	b.intake.drained = make(chan struct{})
	if b.pub == nil {
		// The in-process transport: Publish puts the event straight into the
		// queue of each of its handlers. Nothing else can reach a transport
		// the bus makes itself, so a Pub/Sub between the two (a GoChannel,
		// with a goroutine and an acknowledgement handshake per message)
		// would only add cost.
		b.direct, b.inMemory = true, true
	} else if gc, ok := b.pub.(*gochannel.GoChannel); ok && b.sub == message.Subscriber(gc) {
		b.inMemory = true
	}
	if b.inMemory {
		maxPending := cfg.MaxPending
		if maxPending == 0 {
			maxPending = DefaultMaxPending
		}
		b.pending = newSemaphore(int64(maxPending))
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.tracer = tracing.New(cfg.TracerProvider, instrumentationName)
	if b.prop == nil {
		b.prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.workers == 0 {
		b.workers = DefaultWorkers
	}
	if b.dlTopic == "" {
		b.dlTopic = DefaultDeadLetterTopic
	}
	if b.drainTimeout == 0 {
		b.drainTimeout = DefaultDrainTimeout
	}
	// Handler contexts outlive every caller's context: they end only when a
	// Shutdown gives up on draining. Nothing from Start's context (values, spans)
	// belongs in them.
	b.lifetime, b.hardStop = context.WithCancel(context.Background())
	return b, nil
}

// InMemory reports whether the bus runs in memory (the zero Config's
// transport, or a GoChannel), where Publish refuses events before Start and
// events nobody handles, and Config.MaxPending applies.
func (b *Bus) InMemory() bool { return b.inMemory }

// InProcess reports whether the bus runs on the zero Config's in-process
// transport, where Inline handlers run inside Publish.
func (b *Bus) InProcess() bool { return b.direct }

// Overflow returns what Publish does when the in-memory transport is full
// (Config.Overflow); Inline handlers with bounded queues of their own should
// do the same when theirs are.
func (b *Bus) Overflow() Overflow {
	if b.overflowWait {
		return OverflowWait
	}
	return OverflowFail
}

// Publish publishes e as JSON on the topic e.EventName(). If e implements
// Validate() error, that is called first and an error refuses the event.
//
// On the in-memory transport, Publish returns ErrNotStarted before Start,
// ErrNoHandlers when no handler takes the event, and takes one pending unit per
// handler of the event, waiting for room or failing with ErrFull at
// Config.MaxPending as Config.Overflow says; once Publish returns nil the event
// is queued for every handler and Shutdown drains it. With a broker, Publish
// always publishes: the broker keeps the event for whoever consumes it, and a
// publish-only process need not Start.
//
// ctx is the parent of the publish span and bounds the wait for room. After
// Shutdown has begun, Publish returns ErrClosed, except from inside a handler.
//
// A handler of this bus that publishes with its own context (or one derived
// from it) continues the handling of its event: its Publish is accepted while
// Shutdown drains, and with OverflowWait it never waits for the bus's room,
// since the room could be held by the events queued behind that very handler.
// Inline handlers of the event it publishes still apply their own limits.
//
// Publish is NewMessage and PublishMessage in one call, with the publish span
// also covering the wait for room and the transport's Publish.
func (b *Bus) Publish(ctx context.Context, e Event) error {
	inHandler := ctx.Value(handlerBusKey{}) == b
	if !b.admit(inHandler) {
		return ErrClosed
	}
	if !inHandler {
		defer b.publishing.leave()
	}
	name, payload, err := b.encode(e)
	if err != nil {
		return err
	}
	id, occurred, err := b.identify(e)
	if err != nil {
		return err
	}
	units, spanName, err := b.route(name)
	if err != nil {
		return err
	}
	ctx, span := b.startPublishSpan(ctx, spanName, name, id)
	defer span.End()
	if b.direct {
		// The time as the metadata carries it (UTC, no monotonic reading), so
		// handlers see the same value on every transport.
		it := item{uuid: id, payload: payload, metadata: b.metadata(ctx, id, name, occurred), at: occurred.Round(0).UTC()}
		err = b.sendDirect(ctx, name, it, units, inHandler)
	} else {
		err = b.send(ctx, name, b.newMessage(ctx, id, name, payload, occurred), units, inHandler)
	}
	if err != nil {
		recordError(span, err)
		return err
	}
	return nil
}

// NewMessage returns the Watermill message Publish would publish for e,
// without publishing it: e validated and encoded as JSON, its id, name and
// time in the metadata (MetadataEventID, MetadataEventName,
// MetadataOccurredAt; the id is also the message UUID), and the trace context
// of a producer span "publish <event name>", which NewMessage starts as a
// child of ctx and ends before returning. The message's context is ctx with
// that span. It refuses what Publish refuses before publishing, with an error
// wrapping ErrInvalidEvent, and applies none of the transport's rules: it
// works before Start, after Shutdown and for events nobody handles.
//
// NewMessage is for transports that store the message before it reaches the
// bus, such as a transactional outbox: PublishMessage publishes it later,
// possibly from another process, and handlers see exactly what a Publish of
// e would have given them, their spans children of the publish span.
func (b *Bus) NewMessage(ctx context.Context, e Event) (*message.Message, error) {
	name, payload, err := b.encode(e)
	if err != nil {
		return nil, err
	}
	id, occurred, err := b.identify(e)
	if err != nil {
		return nil, err
	}
	ctx, span := b.startPublishSpan(ctx, "publish "+name, name, id)
	defer span.End()
	return b.newMessage(ctx, id, name, payload, occurred), nil
}

// PublishMessage publishes msg, made by NewMessage, on the topic named by its
// MetadataEventName, under the rules of Publish: ErrClosed once Shutdown has
// begun (except from inside a handler), and on the in-memory transport
// ErrNotStarted, ErrNoHandlers and the Config.MaxPending limit. A message
// without MetadataEventName or MetadataEventID, or named after the
// dead-letter topic, is refused with an error wrapping ErrInvalidEvent.
//
// PublishMessage starts no span: msg carries the publish span NewMessage
// started. ctx bounds the wait for room and becomes msg's context. The bus
// may add to msg's metadata; msg must not be used after the call.
func (b *Bus) PublishMessage(ctx context.Context, msg *message.Message) error {
	inHandler := ctx.Value(handlerBusKey{}) == b
	if !b.admit(inHandler) {
		return ErrClosed
	}
	if !inHandler {
		defer b.publishing.leave()
	}
	if msg == nil {
		return fmt.Errorf("%w: nil message", ErrInvalidEvent)
	}
	name := msg.Metadata[MetadataEventName]
	switch name {
	case "":
		return fmt.Errorf("%w: message %s has no %s metadata", ErrInvalidEvent, msg.UUID, MetadataEventName)
	case b.dlTopic:
		return fmt.Errorf("%w: %q is the dead-letter topic", ErrInvalidEvent, name)
	}
	if id := msg.Metadata[MetadataEventID]; id == "" {
		return fmt.Errorf("%w: message %s has no %s metadata", ErrInvalidEvent, msg.UUID, MetadataEventID)
	} else if err := CheckEventID(id); err != nil {
		return fmt.Errorf("%w: message %s: %w", ErrInvalidEvent, msg.UUID, err)
	}
	units, _, err := b.route(name)
	if err != nil {
		return err
	}
	delete(msg.Metadata, metadataReservedBy) // set by send, for this bus only
	// Only a transport marks what it could not read: a message published
	// again (a dead letter redriven once its cause is fixed) is read anew.
	delete(msg.Metadata, MetadataUnreadable)
	if b.direct {
		return b.sendDirect(ctx, name, item{uuid: msg.UUID, payload: msg.Payload, metadata: msg.Metadata}, units, inHandler)
	}
	msg.SetContext(ctx)
	return b.send(ctx, name, msg, units, inHandler)
}

// admit lets a publish in: from a handler until the bus stops hard, otherwise
// until Shutdown begins, in which case the caller must call
// b.publishing.leave once done.
func (b *Bus) admit(inHandler bool) bool {
	if inHandler {
		return b.lifetime.Err() == nil
	}
	return b.publishing.enter()
}

// encode validates e and returns its name and JSON payload.
func (b *Bus) encode(e Event) (string, []byte, error) {
	if e == nil {
		return "", nil, fmt.Errorf("%w: nil event", ErrInvalidEvent)
	}
	name := e.EventName()
	switch name {
	case "":
		return "", nil, fmt.Errorf("%w: %T has an empty event name", ErrInvalidEvent, e)
	case b.dlTopic:
		return "", nil, fmt.Errorf("%w: %q is the dead-letter topic", ErrInvalidEvent, name)
	}
	if v, ok := e.(validatingEvent); ok {
		if err := v.Validate(); err != nil {
			return "", nil, fmt.Errorf("%w: %s: %w", ErrInvalidEvent, name, err)
		}
	}
	payload, err := marshal(e)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s: %w", ErrInvalidEvent, name, err)
	}
	return name, payload, nil
}

// route applies the in-memory transport's rules to an event name: it returns
// the pending units the event takes (one per queued handler, none for Inline
// ones; none with a broker) and the name of its publish span, or why the
// event is refused.
func (b *Bus) route(name string) (units int64, spanName string, err error) {
	if !b.inMemory {
		return 0, "publish " + name, nil
	}
	if !b.started.Load() {
		if b.state.Load() >= stateClosing {
			return 0, "", ErrClosed
		}
		return 0, "", ErrNotStarted
	}
	t := b.topics[name]
	if t == nil {
		return 0, "", fmt.Errorf("%w: %s", ErrNoHandlers, name)
	}
	return int64(len(t.queued)), t.publishSpan, nil
}

// startPublishSpan starts the producer span of the event id named name.
func (b *Bus) startPublishSpan(ctx context.Context, spanName, name, id string) (context.Context, trace.Span) {
	ctx, span := b.tracer.Start(ctx, spanName, producerSpanOptions...)
	if span.IsRecording() {
		span.SetAttributes(producerAttributes(name, id)...)
	}
	return ctx, span
}

// newMessage builds the message of an event, with the trace context of ctx.
func (b *Bus) newMessage(ctx context.Context, id, name string, payload []byte, occurred time.Time) *message.Message {
	msg := message.NewMessage(id, payload)
	msg.Metadata = b.metadata(ctx, id, name, occurred)
	msg.SetContext(ctx)
	return msg
}

// metadata returns the metadata of an event: its id, name and time, and the
// trace context of ctx.
func (b *Bus) metadata(ctx context.Context, id, name string, occurred time.Time) map[string]string {
	md := make(map[string]string, 4)
	md[MetadataEventID] = id
	md[MetadataEventName] = name
	md[MetadataOccurredAt] = occurred.UTC().Format(time.RFC3339Nano)
	b.prop.Inject(ctx, propagation.MapCarrier(md))
	return md
}

// sendDirect takes the event's pending units and puts it in the queue of
// each of its handlers (the in-process transport), each with its own copy
// of the metadata. A queue is closed once Shutdown's drain has stopped
// intake (every event accepted before was handled) or the bus has stopped
// hard; an event a closed queue refuses is not handled by the remaining
// handlers either, and Publish returns ErrClosed.
func (b *Bus) sendDirect(ctx context.Context, name string, it item, units int64, inHandler bool) error {
	t := b.topics[name]
	if units > 0 {
		if err := b.reserve(ctx, units, inHandler); err != nil {
			return fmt.Errorf("bus: publish %s: %w", name, err)
		}
	}
	inlineDone := false
	if units > 0 && len(t.inline) > 0 {
		defer func() {
			if !inlineDone {
				// An Inline handler failed, or ended the publishing
				// goroutine (runtime.Goexit): the queued handlers never get
				// the event.
				b.pending.release(units)
			}
		}()
	}
	for i, h := range t.inline {
		x := it
		if i > 0 || len(t.queued) > 0 {
			x.metadata = maps.Clone(it.metadata)
		}
		if err := b.callInline(ctx, h, x); err != nil {
			return fmt.Errorf("bus: publish %s: %w: handler %q: %w", name, ErrInlineHandler, h.name, err)
		}
	}
	inlineDone = true
	if units > 0 && !b.push(t.queued, it) {
		return fmt.Errorf("bus: publish %s: %w", name, ErrClosed)
	}
	return nil
}

// callInline runs an Inline handler on the publishing goroutine, under a
// consumer span of its own.
func (b *Bus) callInline(ctx context.Context, h *handler, it item) error {
	hctx, msg, span := b.startHandling(ctx, h, it, true)
	defer span.End()
	if err := b.call(hctx, h, msg); err != nil {
		recordError(span, err)
		if b.log.Enabled(ctx, slog.LevelDebug) {
			b.log.DebugContext(ctx, "bus: inline handler refused the event", "handler", h.name, "event", msg.Name, "event_id", msg.ID, "error", err)
		}
		return err
	}
	return nil
}

// push puts it in the queues of hs, each holding one pending unit the caller
// took; on a closed queue it releases the units of the handlers left and
// reports false.
func (b *Bus) push(hs []*handler, it item) bool {
	for i, h := range hs {
		x := it
		if i > 0 {
			x.metadata = maps.Clone(it.metadata)
		}
		if !h.queue.push(x) {
			b.pending.release(int64(len(hs) - i))
			return false
		}
	}
	return true
}

// send takes the event's pending units, if any, and publishes msg on the
// topic name.
func (b *Bus) send(ctx context.Context, name string, msg *message.Message, units int64, inHandler bool) error {
	if units > 0 {
		if err := b.reserve(ctx, units, inHandler); err != nil {
			return fmt.Errorf("bus: publish %s: %w", name, err)
		}
		msg.Metadata[metadataReservedBy] = b.instance
	}
	if b.inMemory {
		if !b.intake.enter() {
			// A handler's late follow-up (from a goroutine it started)
			// after the drain found nothing left: refused, not lost.
			b.pending.release(units)
			return fmt.Errorf("bus: publish %s: %w", name, ErrClosed)
		}
		defer b.intake.leave()
	}
	if err := b.pub.Publish(name, msg); err != nil {
		if units > 0 {
			b.pending.release(units)
		}
		return fmt.Errorf("bus: publish %s: %w", name, err)
	}
	return nil
}

// reserve takes the pending units of an in-memory event. A handler's Publish
// never waits, and is not refused because Shutdown has begun.
func (b *Bus) reserve(ctx context.Context, units int64, inHandler bool) error {
	if !inHandler {
		return b.pending.acquire(ctx, units, b.overflowWait)
	}
	if b.pending.tryAcquire(units) {
		return nil
	}
	if !b.overflowWait {
		return ErrFull
	}
	b.pending.force(units)
	return nil
}

// identify returns the event's id and time: its own when it has them, else a
// new UUIDv7 and Config.Now(). An id of its own that CheckEventID refuses is
// an error wrapping ErrInvalidEvent.
func (b *Bus) identify(e Event) (string, time.Time, error) {
	var id string
	if ie, ok := e.(identifiedEvent); ok {
		id = ie.EventID()
	}
	if id == "" {
		id = hbid.New("")
	} else if err := CheckEventID(id); err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %s: %w", ErrInvalidEvent, e.EventName(), err)
	}
	var occurred time.Time
	if te, ok := e.(timedEvent); ok {
		occurred = te.EventTime()
	}
	if occurred.IsZero() {
		occurred = b.now()
	}
	return id, occurred, nil
}

// CheckEventID reports why id cannot be an event id, or nil if it can: an
// event id is valid UTF-8 with no control characters and no spaces around
// it, so that it travels unchanged as a message id, in header fields (a
// webhook's webhook-id, which its signature covers) and in text columns.
// Publish, NewMessage and PublishMessage refuse an event whose id it
// refuses.
func CheckEventID(id string) error {
	switch {
	case id == "":
		return errors.New("empty event id")
	case !utf8.ValidString(id):
		return fmt.Errorf("event id %q is not valid UTF-8", id)
	case strings.IndexFunc(id, unicode.IsControl) >= 0:
		return fmt.Errorf("event id %q holds a control character", id)
	case strings.TrimSpace(id) != id:
		return fmt.Errorf("event id %q has spaces around it", id)
	}
	return nil
}

func recordError(span trace.Span, err error) {
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}

// gate counts the Publish calls in progress and refuses new ones once closed,
// so that Shutdown knows when no more events can enter.
type gate struct {
	state   atomic.Int64 // calls in progress, plus gateClosed once closed
	once    sync.Once
	drained chan struct{} // closed once the gate is closed and no call is in progress
}

const gateClosed = 1 << 62

func (g *gate) enter() bool {
	if g.state.Add(1) >= gateClosed {
		g.leave()
		return false
	}
	return true
}

func (g *gate) leave() {
	if g.state.Add(-1) == gateClosed {
		g.once.Do(func() { close(g.drained) })
	}
}

// inProgress returns the number of calls in progress.
func (g *gate) inProgress() int64 { return g.state.Load() &^ gateClosed }

func (g *gate) close() {
	if old := g.state.Or(gateClosed); old == 0 {
		g.once.Do(func() { close(g.drained) })
	}
}

// marshal encodes e as JSON. An event with its own MarshalJSON is trusted to
// produce valid JSON and called directly: json.Marshal would scan and compact
// its output again, which costs more than the encoding itself.
func marshal(e Event) ([]byte, error) {
	if m, ok := e.(json.Marshaler); ok {
		return m.MarshalJSON()
	}
	return json.Marshal(e)
}
