package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/hookbus/hookbus/bus"
)

// Publish validates e, refuses it with ErrPayloadTooLarge when its body is
// over the limit, as the bus does with an error wrapping bus.ErrInvalidEvent
// when it is not valid (wrapping ErrInvalidPayload too) or has an id
// bus.CheckEventID refuses, and publishes it on the bus. The event is
// encoded once: the bytes measured are the bytes sent. Publishing with the
// bus directly works too; an oversized event is then refused at dispatch
// and recorded as OutcomeRefused.
//
// On the bus's in-process transport (the zero bus.Config) the deliveries are
// queued before Publish returns. A webhook whose queue is full makes Publish
// wait for room until ctx ends, or, when the bus's Overflow is
// bus.OverflowFail, refuse the event at once with an error wrapping
// bus.ErrFull, queueing none of its deliveries. A webhook that is failing
// sheds instead: its delivery is recorded as OutcomeUndelivered with
// ErrQueueFull. If ctx ends while Publish waits, the deliveries not yet
// queued are recorded as OutcomeUndelivered, so they can be redelivered, and
// Publish returns the context's error.
func (s *Service) Publish(ctx context.Context, e Event) error {
	if s.closed.Load() {
		// Shutdown has begun. A bus handler's follow-up is still taken
		// while the bus drains, as the bus takes its own: the bus decides.
		if _, inHandler := bus.MessageFromContext(ctx); !inHandler {
			return ErrClosed
		}
	}
	// Refused as the bus refuses an invalid event, so that an error matches
	// bus.ErrInvalidEvent whichever Publish is called.
	if isNil(e) {
		return fmt.Errorf("%w: %w: nil event", bus.ErrInvalidEvent, ErrInvalidPayload)
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("%w: %w", bus.ErrInvalidEvent, err)
	}
	body, err := encodeEvent(e)
	if err != nil {
		return fmt.Errorf("webhooks: marshal %s: %w", e.EventType(), err)
	}
	if len(body) > s.sender.cfg.MaxPayloadBytes {
		return fmt.Errorf("%w: %s event of %d bytes, limit %d", ErrPayloadTooLarge, e.EventType(), len(body), s.sender.cfg.MaxPayloadBytes)
	}
	// The bus holds on to the event only during Publish: its wrapper is
	// reused, which spares an allocation per event.
	x := encodedEvents.Get().(*encodedEvent)
	x.e, x.body = e, body
	err = s.bus.Publish(ctx, x)
	*x = encodedEvent{}
	encodedEvents.Put(x)
	if errors.Is(err, bus.ErrClosed) && !errors.Is(err, bus.ErrInlineHandler) {
		// Shut down since the check above: the service's error, as then. (An
		// Inline handler's error is the handler's, whatever it wraps.)
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

var encodedEvents = sync.Pool{New: func() any { return new(encodedEvent) }}

// encodeEvent returns e's JSON. A payload type's own MarshalJSON is called
// directly: json.Marshal would re-scan its output.
// isNil reports whether e is nil or a nil pointer, whose methods would
// panic.
func isNil(e Event) bool {
	if e == nil {
		return true
	}
	v := reflect.ValueOf(e)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

func encodeEvent(e Event) ([]byte, error) {
	if m, ok := e.(json.Marshaler); ok {
		return m.MarshalJSON()
	}
	return json.Marshal(e)
}

// encodedEvent carries an event already validated and encoded by Publish to
// the bus, which then neither validates nor encodes it again. It passes on
// the event's own id and time when it has them.
type encodedEvent struct {
	e    Event
	body []byte
}

func (x *encodedEvent) EventName() string            { return x.e.EventName() }
func (x *encodedEvent) MarshalJSON() ([]byte, error) { return x.body, nil }

func (x *encodedEvent) EventID() string {
	if ie, ok := x.e.(interface{ EventID() string }); ok {
		return ie.EventID()
	}
	return ""
}

func (x *encodedEvent) EventTime() time.Time {
	if te, ok := x.e.(interface{ EventTime() time.Time }); ok {
		return te.EventTime()
	}
	return time.Time{}
}

// Translate registers fn as the translation of a host's own domain event T
// into webhook events: every T published on the bus becomes zero or more
// webhook events, delivered like published ones. Their webhook-id is derived
// from T's event id, so a retried translation sends the same ids. name is the
// bus handler name. An error from fn is retried by the bus and finally
// dead-lettered there. Register translations before the service starts.
func Translate[T bus.Event](s *Service, name string, fn func(ctx context.Context, e T) ([]Event, error)) error {
	return bus.Handle(s.bus, name, func(ctx context.Context, e T) error {
		msg, _ := bus.MessageFromContext(ctx)
		events, err := fn(ctx, e)
		if err != nil {
			return err
		}
		for i, ev := range events {
			if err := ev.Validate(); err != nil {
				return bus.Permanent(fmt.Errorf("webhooks: translation %s produced an invalid event: %w", name, err))
			}
			body, err := encodeEvent(ev)
			if err != nil {
				return bus.Permanent(fmt.Errorf("webhooks: marshal %s: %w", ev.EventType(), err))
			}
			id := msg.ID
			if len(events) > 1 {
				id += "-" + strconv.Itoa(i)
			}
			if err := s.dispatch(ctx, id, ev.EventType(), body, msg.OccurredAt); err != nil {
				return err
			}
		}
		return nil
	}, bus.WithSpanName("translate"))
}

// handleEvent is the bus handler of the three webhook event types.
func (s *Service) handleEvent(ctx context.Context, m bus.Message) error {
	t, err := ParseEventType(m.Name)
	if err != nil {
		return bus.Permanent(err)
	}
	if s.refuseWhenFull {
		return s.dispatchOrRefuse(ctx, m.ID, t, m.Payload, m.OccurredAt)
	}
	return s.dispatch(ctx, m.ID, t, m.Payload, m.OccurredAt)
}

// dispatch fans one event out: a delivery per webhook of its type, queued
// for the enabled ones and recorded as skipped for the disabled ones. It waits
// while a queue is full, which is how backpressure reaches the bus.
//
// On the in-memory bus it returns once every delivery is queued: the queue is
// as durable as the bus. On the in-process transport the dispatcher runs
// inside Publish, with the publisher's context; records are written without
// its cancellation. On a broker it returns only once every delivery has an
// outcome on record, so the event is acknowledged only then; if shutdown
// leaves one undelivered, or the log fails to record an outcome, it returns
// an error: the bus retries the event, sending it again to every webhook of
// its type (receivers dedupe on webhook-id), then dead-letters it.
func (s *Service) dispatch(ctx context.Context, eventID string, t EventType, payload []byte, occurredAt time.Time) error {
	s.dispatching.begin()
	defer s.dispatching.end()
	hooks, err := s.webhooksOf(ctx, t)
	if err != nil {
		return fmt.Errorf("webhooks: list webhooks for %s: %w", t, err)
	}
	now := s.cfg.Now()
	parent := trace.SpanContextFromContext(ctx)
	// Records outlive the publisher's context; made when one is written.
	var detached context.Context
	rctx := func() context.Context {
		if detached == nil {
			detached = context.WithoutCancel(ctx)
		}
		return detached
	}
	var wait *outcomeWait
	if !s.bus.InMemory() {
		wait = newOutcomeWait(len(hooks))
	}
	for i := range hooks {
		w := &hooks[i]
		d, o, err := s.prepare(ctx, w, eventID, t, payload, occurredAt, now, parent)
		if d == nil {
			lerr := s.recordNow(rctx(), w, eventID, t, payload, occurredAt, o, err)
			if wait != nil {
				wait.record(DeliveryRecord{Outcome: o}, lerr)
			}
			continue
		}
		if wait != nil {
			d.done = wait.record
		}
		if err != nil {
			s.finish(rctx(), d, o, 0, 0, err)
			continue
		}
		switch err := s.enqueue(ctx, d); {
		case errors.Is(err, ErrQueueFull):
			s.finish(rctx(), d, OutcomeUndelivered, 0, 0, err)
		case err != nil:
			// Shutdown gave up first: what was not queued goes on record
			// as undelivered, so it can be redelivered.
			s.finish(rctx(), d, OutcomeUndelivered, 0, 0, err)
			for j := i + 1; j < len(hooks); j++ {
				s.recordNow(rctx(), &hooks[j], eventID, t, payload, occurredAt, OutcomeUndelivered, err)
			}
			return err
		}
	}
	if wait != nil {
		return wait.wait(ctx, eventID)
	}
	return nil
}

// webhooksOf returns the webhooks of type t, read-only: from the in-memory
// store without a copy.
func (s *Service) webhooksOf(ctx context.Context, t EventType) ([]Webhook, error) {
	if ms, ok := s.store.(*MemoryStore); ok {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return ms.sharedByType(t), nil
	}
	return s.store.ListByEventType(ctx, t)
}

// dispatchOrRefuse is dispatch when a full queue must refuse the event (the
// in-process bus with OverflowFail): the deliveries to queue are all queued,
// or none is and nothing is recorded. A failing webhook's full queue sheds
// its delivery, recorded as OutcomeUndelivered with ErrQueueFull, rather than
// refuse the event to every other webhook.
func (s *Service) dispatchOrRefuse(ctx context.Context, eventID string, t EventType, payload []byte, occurredAt time.Time) error {
	hooks, err := s.webhooksOf(ctx, t)
	if err != nil {
		return fmt.Errorf("webhooks: list webhooks for %s: %w", t, err)
	}
	now := s.cfg.Now()
	parent := trace.SpanContextFromContext(ctx)
	type settled struct {
		d   *delivery
		o   Outcome
		err error
	}
	type unusable struct {
		w   *Webhook
		o   Outcome
		err error
	}
	var (
		queue  []*delivery
		rest   []settled
		broken []unusable
	)
	queue = make([]*delivery, 0, len(hooks))
	for i := range hooks {
		w := &hooks[i]
		switch d, o, err := s.prepare(ctx, w, eventID, t, payload, occurredAt, now, parent); {
		case d == nil:
			broken = append(broken, unusable{w, o, err})
		case err != nil:
			rest = append(rest, settled{d, o, err})
		default:
			queue = append(queue, d)
		}
	}
	shed, err := s.sched.enqueueAll(queue)
	if err != nil {
		return err // refused as a whole: nothing queued, nothing recorded
	}
	if len(broken)+len(rest)+len(shed) == 0 {
		return nil
	}
	rctx := context.WithoutCancel(ctx)
	for _, b := range broken {
		s.recordNow(rctx, b.w, eventID, t, payload, occurredAt, b.o, b.err)
	}
	for _, r := range rest {
		s.finish(rctx, r.d, r.o, 0, 0, r.err)
	}
	for _, d := range shed {
		s.finish(rctx, d, OutcomeUndelivered, 0, 0, ErrQueueFull)
	}
	return nil
}

// prepare returns the delivery of an event to w and, if it settles without
// being queued, its outcome and why (notQueued). A nil delivery means w
// cannot be sent to at all (a corrupt secret in the store, say): it is to be
// recorded as refused, with the error, rather than block the other webhooks.
func (s *Service) prepare(ctx context.Context, w *Webhook, eventID string, t EventType, payload []byte, occurredAt, now time.Time, parent trace.SpanContext) (*delivery, Outcome, error) {
	ep, err := s.endpoint(ctx, w, now)
	if err != nil {
		if errors.Is(err, errUnsettled) {
			// Not the webhook's fault: on record as undelivered, which can
			// be redelivered (and which a broker's bus retries).
			return nil, OutcomeUndelivered, err
		}
		return nil, OutcomeRefused, err
	}
	d := newDelivery(eventID, t, payload, occurredAt, now, parent, ep)
	d.webhookCreatedAt = w.CreatedAt
	o, err := s.notQueued(w, payload)
	return d, o, err
}

// newDelivery returns the delivery of an event to the webhook of ep.
func newDelivery(eventID string, t EventType, payload []byte, occurredAt, now time.Time, parent trace.SpanContext, ep *endpoint) *delivery {
	return &delivery{
		id:         newID("dlv_"),
		eventID:    eventID,
		eventType:  t,
		payload:    payload,
		occurredAt: occurredAt,
		createdAt:  now,
		parent:     parent,
		ep:         ep,
	}
}

// notQueued returns the outcome of a delivery to w that settles without
// being queued, and why: skipped for a disabled webhook, refused for a
// payload over the limit. A nil error means the delivery is to be queued.
func (s *Service) notQueued(w *Webhook, payload []byte) (Outcome, error) {
	switch {
	case w.Disabled:
		return OutcomeSkipped, fmt.Errorf("%w: %s", ErrWebhookDisabled, w.DisabledReason)
	case len(payload) > s.sender.cfg.MaxPayloadBytes:
		return OutcomeRefused, fmt.Errorf("%w: %d bytes, limit %d", ErrPayloadTooLarge, len(payload), s.sender.cfg.MaxPayloadBytes)
	}
	return "", nil
}

// outcomeWait lets a dispatch on a broker wait for the outcomes of its
// deliveries.
type outcomeWait struct {
	remaining   atomic.Int64
	undelivered atomic.Int64
	unrecorded  atomic.Int64
	logErr      atomic.Pointer[error] // the first outcome the log failed to record
	done        chan struct{}
}

func newOutcomeWait(n int) *outcomeWait {
	w := &outcomeWait{done: make(chan struct{})}
	w.remaining.Store(int64(n))
	if n == 0 {
		close(w.done)
	}
	return w
}

// record counts one delivery's outcome; it is a delivery's done callback.
// logErr is the log's error when the outcome could not be recorded.
func (w *outcomeWait) record(rec DeliveryRecord, logErr error) {
	if rec.Outcome == OutcomeUndelivered {
		w.undelivered.Add(1)
	}
	if logErr != nil {
		w.unrecorded.Add(1)
		w.logErr.CompareAndSwap(nil, &logErr)
	}
	if w.remaining.Add(-1) == 0 {
		close(w.done)
	}
}

// wait blocks until every delivery has an outcome or ctx ends, and fails
// when any was left undelivered or its outcome is not on record, so that
// the bus handles the event again.
func (w *outcomeWait) wait(ctx context.Context, eventID string) error {
	select {
	case <-w.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if n := w.unrecorded.Load(); n > 0 {
		return fmt.Errorf("webhooks: event %s: %d delivery outcomes not recorded: %w", eventID, n, *w.logErr.Load())
	}
	if n := w.undelivered.Load(); n > 0 {
		return fmt.Errorf("%w: event %s: %d deliveries undelivered", ErrDrainIncomplete, eventID, n)
	}
	return nil
}

// enqueue hands d to the scheduler. In memory a failing webhook's full queue
// sheds (ErrQueueFull) rather than hold back the others; on a broker the
// dispatcher waits instead, since the broker holds the backlog durably.
func (s *Service) enqueue(ctx context.Context, d *delivery) error {
	shed := d.ep.failing.Load
	if !s.bus.InMemory() {
		shed = never
	}
	return s.sched.enqueue(ctx, &d.ep.q, d, shed)
}

func never() bool { return false }

// endpoint returns the engine state of w, rebuilding its target when w is
// newer than the one it was built from or a previous secret expired. A read
// older than the current target (a dispatch that listed webhooks before an
// update or a disable) never replaces it.
//
// Webhooks under one id are told apart by CreatedAt, which no change
// alters. When a read is of another webhook than the engine has under its
// id, or of an id deleted through this Service, which of them is current is
// not guessed from timestamps (replicas stamp them with their own clocks):
// the store says (see arbitrate). A read of a webhook that is no longer
// current gets a tombstone endpoint of its own, not kept, which records its
// delivery as skipped: a deleted webhook's event is never sent, to its URL
// or to another webhook created under its id since.
func (s *Service) endpoint(ctx context.Context, w *Webhook, now time.Time) (*endpoint, error) {
	s.mu.Lock()
	ep := s.endpoints[w.ID]
	if ep == nil {
		// Not deleted as far as this Service remembers, and read after the
		// deletions it has forgotten: w is current.
		if _, deleted := s.deleted[w.ID]; !deleted && !now.Before(s.forgotUntil) {
			ep = &endpoint{}
			s.endpoints[w.ID] = ep
		}
	}
	s.mu.Unlock()
	if ep == nil {
		return s.arbitrate(ctx, w, now)
	}
	if cur := ep.target.Load(); cur != nil && !cur.webhook.CreatedAt.Equal(w.CreatedAt) {
		return s.arbitrate(ctx, w, now)
	}
	if err := ep.update(w, now); err != nil {
		return nil, err
	}
	if t := ep.target.Load(); !t.webhook.CreatedAt.Equal(w.CreatedAt) {
		return tombstone(w, now) // replaced meanwhile
	}
	ep.read.Store(now.UnixNano()) // w was read from the store just now
	return ep, nil
}

// errUnsettled reports a read of a webhook whose current version the store
// could not give (see arbitrate).
var errUnsettled = errors.New("webhooks: could not settle which webhook is current under the id")

// arbitrate settles which webhook under w's id is current by reading it
// from the store, and brings the engine to it: the endpoint takes the
// store's webhook, or leaves the engine if the store has none. It returns
// that endpoint if w is the current webhook, a tombstone otherwise. A read
// that another arbitrate or a delete overtook is made again, so a late one
// never undoes a newer one. Its errors wrap errUnsettled.
func (s *Service) arbitrate(ctx context.Context, w *Webhook, now time.Time) (*endpoint, error) {
	for range 5 {
		s.mu.Lock()
		gen := s.generations[w.ID]
		s.mu.Unlock()
		cur, err := s.store.Get(ctx, w.ID)
		gone := errors.Is(err, ErrNotFound)
		if err != nil && !gone {
			return nil, fmt.Errorf("%w %s: %w", errUnsettled, w.ID, err)
		}
		s.mu.Lock()
		if s.generations[w.ID] != gen {
			s.mu.Unlock()
			continue // overtaken: read again
		}
		if gone {
			// Only a change counts: concurrent settlings that all find
			// the webhook gone do not overtake one another.
			ep := s.endpoints[w.ID]
			if ep != nil {
				s.generations[w.ID]++
				delete(s.endpoints, w.ID)
			}
			if _, ok := s.deleted[w.ID]; !ok {
				s.noteDeleted(w.ID, time.Time{})
			}
			s.mu.Unlock()
			retire(ep)
			return tombstone(w, now)
		}
		ep := s.endpoints[w.ID]
		if ep == nil {
			ep = &endpoint{}
			s.endpoints[w.ID] = ep
		}
		delete(s.deleted, w.ID)
		if t := ep.target.Load(); t == nil || !t.webhook.CreatedAt.Equal(cur.CreatedAt) {
			s.generations[w.ID]++ // another webhook: a late settling reads again
		}
		err = ep.install(&cur, now)
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		ep.read.Store(now.UnixNano())
		if !cur.CreatedAt.Equal(w.CreatedAt) {
			return tombstone(w, now)
		}
		return ep, nil
	}
	return nil, fmt.Errorf("%w %s: it keeps changing", errUnsettled, w.ID)
}

// forget takes a deleted webhook's endpoint out of the engine: it becomes a
// tombstone, which the deliveries queued for it keep and skip, and the id
// is remembered, with the webhook's CreatedAt when known, so that a read of
// the deleted webhook made before the delete goes to arbitrate rather than
// making a new endpoint.
func (s *Service) forget(id string, createdAt time.Time) {
	s.mu.Lock()
	s.generations[id]++
	ep := s.endpoints[id]
	delete(s.endpoints, id)
	s.noteDeleted(id, createdAt)
	s.mu.Unlock()
	retire(ep)
}

// retire makes ep, if any, a tombstone.
func retire(ep *endpoint) {
	if ep != nil {
		ep.deleted.Store(true)
		ep.disabled.Store(true)
	}
}

// tombstone returns an endpoint, not kept, that skips the deliveries of w.
func tombstone(w *Webhook, now time.Time) (*endpoint, error) {
	ep := &endpoint{}
	ep.deleted.Store(true)
	if err := ep.update(w, now); err != nil {
		return nil, err
	}
	return ep, nil
}

// install makes w, read from the store, ep's webhook: a newer version of
// the same webhook as update does, and another webhook whatever its
// timestamps. The webhook it replaces had its own health.
func (ep *endpoint) install(w *Webhook, now time.Time) error {
	for {
		cur := ep.target.Load()
		if cur != nil && cur.webhook.CreatedAt.Equal(w.CreatedAt) {
			return ep.update(w, now)
		}
		t, err := NewTarget(*w, now)
		if err != nil {
			return err
		}
		if ep.target.CompareAndSwap(cur, t) {
			if cur != nil {
				ep.failures.Store(0)
				ep.failing.Store(false)
			}
			ep.syncDisabled()
			return nil
		}
	}
}

// update rebuilds ep's target from w, a version of its webhook, when w is
// newer than the one it was built from or a previous secret expired. It
// leaves the target of another webhook (which install put there meanwhile)
// alone.
func (ep *endpoint) update(w *Webhook, now time.Time) error {
	for {
		cur := ep.target.Load()
		if cur != nil {
			switch {
			case !cur.webhook.CreatedAt.Equal(w.CreatedAt):
				return nil
			case w.UpdatedAt.Before(cur.webhook.UpdatedAt):
				return nil
			case w.UpdatedAt.Equal(cur.webhook.UpdatedAt) && (cur.validUntil.IsZero() || now.Before(cur.validUntil)):
				return nil
			}
		}
		t, err := NewTarget(*w, now)
		if err != nil {
			return err
		}
		if ep.target.CompareAndSwap(cur, t) {
			ep.syncDisabled()
			return nil
		}
	}
}

// recordNow records an outcome for a delivery to w that never reached a
// queue, and returns the log's error if it could not.
func (s *Service) recordNow(ctx context.Context, w *Webhook, eventID string, t EventType, payload []byte, occurredAt time.Time, o Outcome, err error) error {
	now := s.cfg.Now()
	rec := DeliveryRecord{
		ID: newID("dlv_"), EventID: eventID, EventType: t, WebhookID: w.ID, WebhookCreatedAt: w.CreatedAt,
		Outcome: o, Error: err.Error(), Payload: payload,
		OccurredAt: occurredAt, CreatedAt: now, CompletedAt: now,
	}
	lerr := s.log.RecordDelivery(ctx, rec)
	if lerr != nil {
		s.logger.Error("webhooks: record delivery", "delivery", rec.ID, "error", lerr)
	}
	s.meters.recordOutcome(ctx, o)
	return lerr
}
