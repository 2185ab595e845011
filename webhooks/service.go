package webhooks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/internal/id"
	"github.com/hookbus/hookbus/internal/tracing"
)

// Defaults of the delivery engine.
const (
	// DefaultWorkers is the size of the shared delivery worker pool.
	DefaultWorkers = 32
	// DefaultMaxConcurrencyPerWebhook limits deliveries in flight to one webhook.
	DefaultMaxConcurrencyPerWebhook = 8
	// DefaultQueueSize bounds each webhook's queue of pending deliveries.
	DefaultQueueSize = 1024
	// DefaultDisableAfter is the run of consecutive dead letters that disables a webhook.
	DefaultDisableAfter = 10
	// DefaultSecretGracePeriod keeps a rotated-out secret valid.
	DefaultSecretGracePeriod = 24 * time.Hour
	// DefaultRecheckAfter is how long a delivery trusts its engine's
	// version of its webhook before it reads the store again.
	DefaultRecheckAfter = time.Second
	// HandlerPrefix starts the bus handler names (consumer groups) of the
	// dispatcher: one handler per event type, "hookbus.webhooks.<event type>".
	HandlerPrefix = "hookbus.webhooks."
)

// Errors of the service.
var (
	// ErrClosed: the service has been shut down.
	ErrClosed = errors.New("webhooks: closed")
	// ErrInvalidConfig: a Config or SenderConfig field is out of range.
	ErrInvalidConfig = errors.New("webhooks: invalid configuration")
	// ErrNotRedeliverable: the delivery was delivered or refused, so there is
	// nothing to redeliver, or it was made for another webhook under the
	// same id (deleted since), or its webhook now takes another event type.
	ErrNotRedeliverable = errors.New("webhooks: delivery cannot be redelivered")
	// ErrDrainIncomplete: Shutdown's context ended before every delivery had
	// an outcome, or before the bus had dispatched every event published
	// (the error then also matches bus.ErrDrainIncomplete).
	ErrDrainIncomplete = errors.New("webhooks: shutdown left deliveries undelivered")
	// ErrWebhookDisabled: the webhook is disabled (or deleted), so its
	// delivery was skipped, or the operation needs an enabled webhook.
	ErrWebhookDisabled = errors.New("webhooks: webhook disabled")
	// ErrQueueFull: a failing webhook's queue was full, so the delivery was
	// recorded as undelivered (and can be redelivered) instead of holding
	// back the deliveries to every other webhook.
	ErrQueueFull = errors.New("webhooks: queue of a failing webhook is full")
)

// Config configures a Service. The zero value is an in-memory store and
// delivery log with the spec's limits.
type Config struct {
	// Store keeps webhooks; nil means a new MemoryStore.
	Store Store
	// Log records attempts and outcomes; nil means a new MemoryLog. When it
	// is an OutcomeRecorder (MemoryLog and the PostgreSQL log are), the
	// successful attempt that ends a delivery is recorded with its outcome,
	// in one step; a wrapper that hides RecordOutcome costs a second write
	// per delivery. A write of an outcome that fails is tried again three
	// times, 0.1, 0.5 and 2 s apart, unless it failed with ErrConflict or
	// ErrInvalidLogEntry: an ErrConflict on a new try means the failed one
	// was written after all.
	Log DeliveryLog
	// Sender configures requests: timeout, retries, payload limit, SSRF
	// allow-lists, plain http.
	Sender SenderConfig
	// Workers is the size of the shared delivery pool; zero means DefaultWorkers.
	Workers int
	// MaxConcurrencyPerWebhook limits one webhook's deliveries in flight, so a
	// hanging receiver holds at most this many workers; zero means
	// DefaultMaxConcurrencyPerWebhook (never more than Workers). A delivery
	// keeps its worker through its retries and the waits between them, so
	// Workers / MaxConcurrencyPerWebhook dead receivers can occupy the whole
	// pool for the length of a delivery: keep Workers well above that.
	MaxConcurrencyPerWebhook int
	// QueueSize bounds each webhook's pending deliveries. When a queue is full
	// the dispatcher waits for room: on the bus's in-process transport it runs
	// inside Publish, so Publish waits (or, with bus.OverflowFail, refuses the
	// event with bus.ErrFull); elsewhere the bus applies its own backpressure.
	// In memory, once a webhook's last attempt failed, deliveries that find
	// its queue full are recorded as OutcomeUndelivered with ErrQueueFull,
	// redeliverable, instead, so that one dead receiver cannot stall the rest;
	// on a broker the dispatcher always waits, leaving the backlog in the
	// broker. Zero means DefaultQueueSize.
	QueueSize int
	// DisableAfter is the number of consecutive dead letters that disables a
	// webhook; zero means DefaultDisableAfter, a negative value never.
	DisableAfter int
	// SecretGracePeriod keeps the previous secret valid after RotateSecret;
	// zero means DefaultSecretGracePeriod.
	SecretGracePeriod time.Duration
	// RecheckAfter: before an attempt, a delivery whose webhook this
	// Service last read from the store longer ago than this reads it again,
	// so that a Delete, Disable or Update made through another replica
	// (sharing the store) reaches deliveries queued or retrying here within
	// about this time. Zero means DefaultRecheckAfter, a negative value
	// never (a single Service, or a Store that is not shared).
	RecheckAfter time.Duration
	// OnDeadLetter is called after a delivery is dead-lettered. Hooks run
	// on delivery workers, concurrently: they must be safe for concurrent use
	// and quick. A panic in a hook is recovered and logged. Their parameters
	// hold the whole Webhook, secrets and header values included: do not log
	// them as they are.
	OnDeadLetter func(DeadLetterParams)
	// OnDisabled is called after a webhook is disabled by the engine, under
	// the same rules as OnDeadLetter.
	OnDisabled func(DisabledParams)
	// Logger receives operational logs; nil discards them. Secrets and header
	// values are never logged.
	Logger *slog.Logger
	// TracerProvider gives the tracer of deliver spans (and of attempt spans
	// unless Sender.TracerProvider is set); nil means the global provider.
	TracerProvider trace.TracerProvider
	// MeterProvider gives the meter of the engine's metrics (deliveries by
	// outcome, attempts by status class, attempt durations, queue depth, dead
	// letters, disabled webhooks), and of the HTTP client metrics unless
	// Sender.MeterProvider is set; nil means the global provider.
	MeterProvider metric.MeterProvider
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DeadLetterParams describes a dead-lettered delivery.
type DeadLetterParams struct {
	Delivery DeliveryRecord
	Webhook  Webhook
	Err      error
}

// DisabledParams describes a webhook the engine disabled.
type DisabledParams struct {
	Webhook Webhook
	// Reason is DisabledGone or DisabledFailing.
	Reason string
	// Err is the failure that triggered it.
	Err error
}

// Reasons the engine disables a webhook, stored in Webhook.DisabledReason.
const (
	DisabledGone    = "receiver answered 410 Gone"
	DisabledFailing = "too many consecutive failed deliveries"
)

// Service is the webhook engine: it manages webhooks, turns the events
// published on a bus into deliveries, and runs them. Create it with New
// before the bus starts, then Start or Run it. Its methods are safe for
// concurrent use.
type Service struct {
	bus    *bus.Bus
	cfg    Config
	store  Store
	log    DeliveryLog
	final  OutcomeRecorder // log, when it records a last attempt with the outcome
	sender *Sender
	tracer tracing.Tracer
	meters *meters
	logger *slog.Logger
	sched  *scheduler // set by New, never replaced
	// refuseWhenFull: the dispatcher runs inside Publish (the bus's
	// in-process transport) and the bus refuses what does not fit
	// (bus.OverflowFail), so a full queue refuses the event too.
	refuseWhenFull bool

	mu        sync.Mutex
	endpoints map[string]*endpoint
	// deleted holds the ids whose webhook was deleted (through this
	// Service, or found gone by arbitrate), with the deleted webhook's
	// CreatedAt when known, until the store has a webhook under the id
	// again: a read of one of them goes to arbitrate, so that a dispatch
	// that listed a deleted webhook before its delete records its delivery
	// as skipped, while the deleted webhook's endpoint (its queue, its
	// secrets) is released.
	deleted map[string]time.Time
	// generations counts, by id, the changes arbitrate and forget made to
	// the engine's webhook under the id, so that a late arbitrate reads
	// again rather than undo a newer change.
	generations map[string]uint64
	// deletions lists the entries of deleted in the order they were made,
	// so that those older than forgetDeletedAfter, whose ids nothing has
	// happened to since, are dropped with their generations: a host that
	// creates and deletes webhooks all day does not fill memory with them.
	deletions []deletion
	// forgotUntil is when the latest deletion dropped from deleted was
	// made: a read of the store older than that (a dispatch that waited
	// long for room) may be of a webhook deleted since, and goes to
	// arbitrate.
	forgotUntil time.Time

	// webhookLocks serialise the read-modify-write changes of one webhook
	// (Update, RotateSecret, Enable, Disable, the engine's disabling), so
	// that concurrent changes do not undo each other. Striped by id.
	webhookLocks [32]sync.Mutex

	startMu  sync.Mutex
	started  bool // Start succeeded
	closed   atomic.Bool
	shutOnce sync.Once
	shutErr  error
	shutDone chan struct{} // closed when Shutdown has finished
	// dispatching counts the dispatches in progress: one waiting for room
	// in a full queue when Shutdown's drain gives up records its
	// deliveries as undelivered, and Shutdown waits for that.
	dispatching counter
}

// endpoint is the engine's state for one webhook.
type endpoint struct {
	q        queue // guarded by the scheduler's mutex
	target   atomic.Pointer[Target]
	failures atomic.Int32 // consecutive dead letters
	failing  atomic.Bool  // the last attempt failed
	disabled atomic.Bool  // disabled or deleted since its deliveries were queued
	deleted  atomic.Bool  // the webhook was deleted: the endpoint is a tombstone
	read     atomic.Int64 // when the webhook was last read from the store, in Unix nanoseconds
}

// syncDisabled sets ep.disabled from the current target and the tombstone,
// and again if either changed meanwhile: a writer that lost a race to a
// newer version or to a delete never leaves the flag of what it saw.
func (ep *endpoint) syncDisabled() {
	for {
		t, deleted := ep.target.Load(), ep.deleted.Load()
		ep.disabled.Store(deleted || t != nil && t.webhook.Disabled)
		if ep.target.Load() == t && ep.deleted.Load() == deleted {
			return
		}
	}
}

// delivery is one event on its way to one webhook.
type delivery struct {
	id               string
	eventID          string
	eventType        EventType
	payload          []byte
	occurredAt       time.Time
	createdAt        time.Time
	parent           trace.SpanContext
	ep               *endpoint
	redeliveryOf     string
	done             func(rec DeliveryRecord, logErr error) // optional, for callers that wait; logErr: why rec is not on record
	sentTo           *Target                                // the target its requests went to, once the worker took it
	webhookCreatedAt time.Time                              // its webhook's CreatedAt: another webhook under the id since gets none of its deliveries
}

// New returns a Service that delivers the webhook events published on b.
// It registers the dispatcher on b, so call it before b starts.
func New(b *bus.Bus, cfg Config) (*Service, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: nil bus", ErrInvalidConfig)
	}
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{{"Workers", cfg.Workers}, {"MaxConcurrencyPerWebhook", cfg.MaxConcurrencyPerWebhook}, {"QueueSize", cfg.QueueSize}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%w: negative %s", ErrInvalidConfig, f.name))
		}
	}
	if cfg.SecretGracePeriod < 0 {
		errs = append(errs, fmt.Errorf("%w: negative SecretGracePeriod", ErrInvalidConfig))
	}
	if cfg.Sender.TracerProvider == nil {
		cfg.Sender.TracerProvider = cfg.TracerProvider
	}
	if cfg.Sender.MeterProvider == nil {
		cfg.Sender.MeterProvider = cfg.MeterProvider
	}
	if cfg.Sender.Now == nil {
		cfg.Sender.Now = cfg.Now
	}
	sender, err := NewSender(cfg.Sender)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cfg.Workers = cmp.Or(cfg.Workers, DefaultWorkers)
	cfg.MaxConcurrencyPerWebhook = min(cmp.Or(cfg.MaxConcurrencyPerWebhook, DefaultMaxConcurrencyPerWebhook), cfg.Workers)
	cfg.QueueSize = cmp.Or(cfg.QueueSize, DefaultQueueSize)
	cfg.DisableAfter = cmp.Or(cfg.DisableAfter, DefaultDisableAfter)
	cfg.SecretGracePeriod = cmp.Or(cfg.SecretGracePeriod, DefaultSecretGracePeriod)
	cfg.RecheckAfter = cmp.Or(cfg.RecheckAfter, DefaultRecheckAfter)
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore()
	}
	if cfg.Log == nil {
		cfg.Log = NewMemoryLog(0)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = otel.GetTracerProvider()
	}
	if cfg.MeterProvider == nil {
		cfg.MeterProvider = otel.GetMeterProvider()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{
		bus:         b,
		cfg:         cfg,
		store:       cfg.Store,
		log:         cfg.Log,
		final:       asOutcomeRecorder(cfg.Log),
		sender:      sender,
		tracer:      tracing.New(cfg.TracerProvider, instrumentationName),
		logger:      cfg.Logger,
		endpoints:   make(map[string]*endpoint),
		deleted:     make(map[string]time.Time),
		generations: make(map[string]uint64),
		shutDone:    make(chan struct{}),
	}
	// The scheduler exists from the start, so that deliveries are queued
	// whoever starts the bus; its workers start with the first delivery.
	s.sched = newScheduler(cfg.Workers, cfg.QueueSize, cfg.MaxConcurrencyPerWebhook, s.deliver)
	s.refuseWhenFull = b.InProcess() && b.Overflow() == bus.OverflowFail
	if s.meters, err = newMeters(cfg.MeterProvider, s.queueDepth); err != nil {
		return nil, fmt.Errorf("webhooks: create metrics: %w", err)
	}
	// In memory the dispatcher only queues deliveries: on the bus's
	// in-process transport it runs inside Publish (bus.Inline), elsewhere two
	// workers per event type keep up. On a broker it holds each event until
	// its deliveries have outcomes, so it needs as many workers as deliveries
	// can run.
	dispatchers := 2
	if !b.InMemory() {
		dispatchers = cfg.Workers
	}
	for _, t := range EventTypes() {
		if err := bus.HandleRaw(b, HandlerPrefix+string(t), string(t), s.handleEvent,
			bus.WithSpanName("dispatch"), bus.WithWorkers(dispatchers), bus.Inline()); err != nil {
			return nil, fmt.Errorf("webhooks: register dispatcher for %s: %w", t, err)
		}
	}
	return s, nil
}

const instrumentationName = "github.com/hookbus/hookbus/webhooks"

func asOutcomeRecorder(l DeliveryLog) OutcomeRecorder {
	r, _ := l.(OutcomeRecorder)
	return r
}

// Start starts the bus (if nobody has) and returns once it is ready; once
// it has succeeded, calling it again does nothing, and after a failure (a
// broker unreachable, ctx ended) it tries again. Starting the bus directly
// works too: deliveries are queued from the first event on.
func (s *Service) Start(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if s.started {
		return nil
	}
	if err := s.bus.Start(ctx); err != nil && !errors.Is(err, bus.ErrStarted) {
		return fmt.Errorf("webhooks: start bus: %w", err)
	}
	s.started = true
	return nil
}

// Run starts the service and blocks until ctx ends, then shuts it down,
// giving the drain 30 seconds. If Shutdown is called elsewhere first, Run
// returns nil once it has finished.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.shutDone:
		return nil
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer cancel()
	return s.Shutdown(shutCtx)
}

const drainTimeout = 30 * time.Second

// dispatchGrace is how long Shutdown waits, once its drain is over, for the
// dispatches still running to record their deliveries.
const dispatchGrace = 2 * time.Second

// deletion is an entry of Service.deleted: the id, when, and the id's
// generation then.
type deletion struct {
	id  string
	at  time.Time
	gen uint64
}

// forgetDeletedAfter is how long an id stays in Service.deleted: far longer
// than a dispatch takes from its read of the store to its deliveries.
const forgetDeletedAfter = 10 * time.Minute

// noteDeleted records id in s.deleted, with the deleted webhook's
// CreatedAt if known, and drops the entries that are old enough. s.mu is
// held.
func (s *Service) noteDeleted(id string, createdAt time.Time) {
	now := s.cfg.Now()
	s.deleted[id] = createdAt
	s.deletions = append(s.deletions, deletion{id: id, at: now, gen: s.generations[id]})
	for len(s.deletions) > 0 && now.Sub(s.deletions[0].at) > forgetDeletedAfter {
		e := s.deletions[0]
		s.deletions[0] = deletion{}
		s.deletions = s.deletions[1:]
		if s.generations[e.id] == e.gen && s.endpoints[e.id] == nil {
			delete(s.deleted, e.id)
			delete(s.generations, e.id)
			if e.at.After(s.forgotUntil) {
				s.forgotUntil = e.at
			}
		}
	}
}

// counter counts calls in progress and lets one caller wait for none. A
// call in progress costs two atomic additions; the lock is taken only while
// someone waits.
type counter struct {
	n       atomic.Int64
	waiting atomic.Bool
	mu      sync.Mutex
	idle    chan struct{} // closed when n drops to zero while someone waits
}

func (c *counter) begin() { c.n.Add(1) }

func (c *counter) end() {
	if c.n.Add(-1) == 0 && c.waiting.Load() {
		c.mu.Lock()
		if c.idle != nil && c.n.Load() == 0 {
			close(c.idle)
			c.idle = nil
		}
		c.mu.Unlock()
	}
}

// wait waits until no call is in progress, at most timeout, and returns
// how many still are.
func (c *counter) wait(timeout time.Duration) int {
	c.mu.Lock()
	idle := make(chan struct{})
	c.idle = idle
	c.waiting.Store(true)
	if c.n.Load() == 0 {
		c.idle = nil
		c.mu.Unlock()
		return 0
	}
	c.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	}
	return int(c.n.Load())
}

// Shutdown stops intake, lets queued and in-flight deliveries and
// SendTestEvent calls finish until ctx ends, cancels those still running
// then, and records every delivery still without an outcome as
// OutcomeUndelivered (so it can be redelivered). It shuts the bus down
// first, so events already published are dispatched. A Publish still
// waiting for room in a full queue then records its deliveries as
// undelivered, and Shutdown waits up to 2 s more for that. It is safe to call more than
// once; later calls return the first result. Afterwards, methods that
// deliver return ErrClosed.
func (s *Service) Shutdown(ctx context.Context) error {
	s.shutOnce.Do(func() {
		s.closed.Store(true)
		busErr := s.bus.Shutdown(ctx)
		if errors.Is(busErr, bus.ErrDrainIncomplete) {
			// Events the bus had not dispatched when ctx ended: lost to
			// the service too.
			busErr = fmt.Errorf("%w: %w", ErrDrainIncomplete, busErr)
		}
		cut := s.sched.drain(ctx) // deliveries in flight when the drain gave up
		rest := s.sched.stop()
		left := len(rest)
		for _, d := range rest {
			s.finish(context.WithoutCancel(ctx), d, OutcomeUndelivered, 0, 0, ErrClosed)
		}
		// Dispatches the drain woke (Publish calls that waited for room)
		// record their deliveries now: give them a moment to.
		stuck := s.dispatching.wait(dispatchGrace)
		_ = s.sender.Close()
		_ = s.meters.reg.Unregister()
		var err error
		if left > 0 || cut > 0 {
			err = fmt.Errorf("%w: %d queued deliveries recorded as %s, %d cut off in flight (recorded as %s unless their receiver had answered)",
				ErrDrainIncomplete, left, OutcomeUndelivered, cut, OutcomeUndelivered)
		}
		if stuck > 0 {
			err = errors.Join(err, fmt.Errorf("%w: %d dispatches still running, their deliveries perhaps not on record", ErrDrainIncomplete, stuck))
		}
		s.shutErr = errors.Join(busErr, err)
		close(s.shutDone)
	})
	return s.shutErr
}

// queueDepth reports the deliveries waiting in queues.
func (s *Service) queueDepth() int64 {
	s.sched.mu.Lock()
	defer s.sched.mu.Unlock()
	return int64(s.sched.queued)
}

// Bus returns the bus the service dispatches from.
func (s *Service) Bus() *bus.Bus { return s.bus }

// Log returns the delivery log.
func (s *Service) Log() DeliveryLog { return s.log }

// Store returns the webhook store.
func (s *Service) Store() Store { return s.store }

// newID returns a time-ordered unique id with a prefix.
func newID(prefix string) string { return id.New(prefix) }
