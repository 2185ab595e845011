package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Each handler runs one pump and a fixed set of workers: the pump moves
// messages from the subscription into the handler's queue, the workers call
// the handler. Goroutines are proportional to the configured workers, never to
// the backlog.

// run starts h's pump and workers on the subscription msgs.
func (b *Bus) run(h *handler, msgs <-chan *message.Message) {
	if b.inMemory {
		h.queue = newQueue(0) // bounded bus-wide by the pending semaphore
	} else {
		h.queue = newQueue(h.workers)
		h.current = make([]atomic.Pointer[message.Message], h.workers)
	}
	b.running.Add(h.workers)
	if msgs != nil { // nil on the in-process transport, which has no subscription
		b.running.Add(1)
		go b.pump(h, msgs)
	}
	for slot := range h.workers {
		go b.work(h, slot)
	}
}

func (b *Bus) pump(h *handler, msgs <-chan *message.Message) {
	defer b.running.Done()
	for {
		select {
		case <-b.stopPumps:
			return
		case wm, ok := <-msgs:
			if !ok {
				select {
				case <-b.stopPumps:
				default:
					b.log.Error("bus: subscription closed by the transport", "handler", h.name, "topic", h.topic)
				}
				return
			}
			if !b.accept(h, wm) {
				return
			}
		}
	}
}

// accept queues wm for h's workers. On the in-memory transport it acknowledges
// wm at once: the queue is as durable as the transport, and the transport's
// goroutines for wm end now rather than when the handler is done. With a broker
// wm is acknowledged by finish. accept reports false once the queue is closed.
func (b *Bus) accept(h *handler, wm *message.Message) bool {
	it := item{uuid: wm.UUID, payload: wm.Payload, metadata: wm.Metadata}
	if !b.inMemory {
		it.wm = wm
		h.held.Add(1)
		if !h.queue.push(it) {
			wm.Nack()
			h.held.Add(-1)
			return false
		}
		return true
	}
	if wm.Metadata[metadataReservedBy] == b.instance {
		delete(wm.Metadata, metadataReservedBy)
	} else {
		// Published on a user-supplied GoChannel by other code: counted as
		// pending, but never waited for, since the units may be held by events
		// that only this pump can move.
		b.pending.force(1)
	}
	if !h.queue.push(it) {
		b.pending.release(1)
		return false
	}
	wm.Ack()
	return true
}

func (b *Bus) work(h *handler, slot int) {
	var (
		cur  item
		busy bool // process has cur and has not returned
	)
	defer func() {
		if busy {
			b.exited(h, slot, cur)
			return // the new worker carries on the running count
		}
		b.running.Done()
	}()
	for {
		it, ok := h.queue.pop()
		if !ok {
			return
		}
		cur, busy = it, true
		b.process(h, slot, it)
		busy = false
	}
}

// exited gives up the item whose handler ended the worker's goroutine
// (runtime.Goexit, which t.FailNow calls) as it gives up a failing one, and
// starts a worker in its place: a deferred recover cannot stop a Goexit.
func (b *Bus) exited(h *handler, slot int, it item) {
	msg := messageFrom(h, it)
	err := fmt.Errorf("%w: handler %q ended its goroutine (runtime.Goexit)", ErrHandlerPanic, h.name)
	b.log.Error("bus: handler ended its goroutine", "handler", h.name, "event", msg.Name, "event_id", msg.ID)
	if b.lifetime.Err() != nil {
		b.finish(h, it, false) // after a hard stop, as process leaves it
	} else {
		b.giveUp(b.lifetime, h, it, &msg, err, 1)
	}
	go b.work(h, slot)
}

// process handles one item: retries in place, then dead-letters; after a hard
// stop, leaves it unhandled.
func (b *Bus) process(h *handler, slot int, it item) {
	if it.wm != nil {
		h.current[slot].Store(it.wm)
		defer h.current[slot].Store(nil)
	}
	if b.lifetime.Err() != nil {
		b.finish(h, it, false)
		return
	}
	ctx, msg, span := b.startHandling(b.lifetime, h, it, false)
	defer span.End()

	if err := unreadable(it, msg); err != nil && !h.deadLetters {
		// (A dead letter of one is for its handler to see, marker
		// included.)
		recordError(span, err)
		b.giveUp(ctx, h, it, msg, err, 0)
		return
	}
	attempts, err := b.attempt(ctx, h, msg, span)
	switch {
	case err == nil:
		b.finish(h, it, true)
	case b.lifetime.Err() != nil:
		recordError(span, err)
		b.finish(h, it, false)
	default:
		recordError(span, err)
		b.giveUp(ctx, h, it, msg, err, attempts)
	}
}

// startHandling returns the context a handler call of it runs with (parent,
// the Message for MessageFromContext, the trace context and the handler's
// consumer span), the Message and that span. The trace context is the
// metadata's, unless parent already holds it: an Inline handler runs with
// the context the metadata was written from.
func (b *Bus) startHandling(parent context.Context, h *handler, it item, parentTraced bool) (context.Context, *Message, trace.Span) {
	mc := &messageContext{Context: parent, bus: b, msg: messageFrom(h, it)}
	var ctx context.Context = mc
	if !parentTraced {
		ctx = b.prop.Extract(mc, propagation.MapCarrier(it.metadata))
	}
	ctx, span := b.tracer.Start(ctx, h.spanName, h.spanOptions...)
	if span.IsRecording() {
		span.SetAttributes(attrMessagingMessageID.String(mc.msg.ID))
	}
	return ctx, &mc.msg, span
}

// messageContext carries the Message being handled, for MessageFromContext,
// and the bus handling it, for Publish. It is two context.WithValue and the
// Message in one allocation.
type messageContext struct {
	context.Context
	bus *Bus
	msg Message
}

// handlerBusKey is the context key of the bus whose handler is running.
type handlerBusKey struct{}

var _ context.Context = (*messageContext)(nil)

func (c *messageContext) Value(key any) any {
	switch key {
	case messageKey{}:
		return &c.msg
	case handlerBusKey{}:
		return c.bus
	}
	return c.Context.Value(key)
}

// attempt calls the handler until it succeeds, fails permanently, runs out of
// retries or the bus stops hard. It returns the number of calls and the last error.
func (b *Bus) attempt(ctx context.Context, h *handler, msg *Message, span trace.Span) (int, error) {
	retries := h.retry.Retries()
	for n := 1; ; n++ {
		err := b.call(ctx, h, msg)
		if err == nil {
			return n, nil
		}
		span.RecordError(err, trace.WithAttributes(attrAttempt.Int(n)))
		if b.log.Enabled(ctx, slog.LevelDebug) {
			b.log.DebugContext(ctx, "bus: handler failed", "handler", h.name, "event", msg.Name, "event_id", msg.ID, "attempt", n, "error", err)
		}
		if n > retries || errors.Is(err, ErrPermanent) || !b.sleep(h.retry.Backoff(n)) {
			return n, err
		}
	}
}

// call runs the handler once, turning a panic into an error wrapping ErrHandlerPanic.
func (b *Bus) call(ctx context.Context, h *handler, msg *Message) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if perr, ok := r.(error); ok {
			err = fmt.Errorf("%w: %w", ErrHandlerPanic, perr)
		} else {
			err = fmt.Errorf("%w: %v", ErrHandlerPanic, r)
		}
		b.log.WarnContext(ctx, "bus: handler panicked", "handler", h.name, "event", msg.Name, "event_id", msg.ID, "panic", r, "stack", string(debug.Stack()))
	}()
	return h.call(ctx, msg)
}

// sleep waits d, and reports false when the bus stopped hard meanwhile.
func (b *Bus) sleep(d time.Duration) bool {
	if d <= 0 {
		return b.lifetime.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.lifetime.Done():
		return false
	}
}

// finish ends an item: on the in-memory transport it frees its pending unit
// (handled or not: an unhandled one is counted by Shutdown's error); with a
// broker it acknowledges the message when handled and otherwise nacks it for
// redelivery.
func (b *Bus) finish(h *handler, it item, handled bool) {
	if it.wm == nil {
		b.pending.release(1)
		return
	}
	if handled {
		it.wm.Ack()
	} else {
		it.wm.Nack()
	}
	h.held.Add(-1)
}

// unreadable returns why a message from a broker cannot be handled: its
// transport marked it MetadataUnreadable, or it has no id at all (another
// producer's, without the event id metadata or a message UUID), which its
// consumers could not deduplicate on. The error wraps ErrInvalidEvent.
func unreadable(it item, msg *Message) error {
	if why := it.metadata[MetadataUnreadable]; why != "" {
		return fmt.Errorf("%w: unreadable message: %s", ErrInvalidEvent, why)
	}
	if msg.ID == "" {
		return fmt.Errorf("%w: message without an id", ErrInvalidEvent)
	}
	return nil
}

func messageFrom(h *handler, it item) Message {
	m := Message{
		ID:       it.metadata[MetadataEventID],
		Name:     it.metadata[MetadataEventName],
		Payload:  it.payload,
		Metadata: it.metadata,
	}
	if m.ID == "" {
		m.ID = it.uuid
	}
	if m.Name == "" {
		m.Name = h.topic
	}
	if !it.at.IsZero() {
		m.OccurredAt = it.at
	} else if s := it.metadata[MetadataOccurredAt]; s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			m.OccurredAt = t
		}
	}
	return m
}
