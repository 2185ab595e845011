package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	hbid "github.com/hookbus/hookbus/internal/id"
)

// DeadLetter is an event a handler gave up on: every attempt failed, or one
// failed with a Permanent error.
type DeadLetter struct {
	// Message is the original event: its id, name, time, payload and metadata.
	Message Message
	// Handler is the name of the handler that gave up.
	Handler string
	// Reason is the error text of the last attempt.
	Reason string
	// Attempts is how many times the handler was called for the event.
	Attempts int
}

// DeadLetterParams is what Config.OnDeadLetter receives. It is a struct so that
// fields can be added.
type DeadLetterParams struct {
	// DeadLetter is the dead letter.
	DeadLetter DeadLetter
	// Err is the error of the last attempt (Reason is its text); it matches
	// ErrHandlerPanic for a panic and ErrPermanent for a Permanent error.
	Err error
	// PublishErr is why publishing the dead letter to Config.DeadLetterTopic
	// failed, or nil when it was published.
	PublishErr error
}

// giveUp records a failure the handler will not retry any more. A normal
// handler's event becomes a dead letter: published to the dead-letter topic,
// reported to Config.OnDeadLetter and logged, then acknowledged; with a broker,
// a dead letter that could not be published is nacked, so the
// broker redelivers the event. A dead-letter handler's failure is logged and
// the dead letter is left to the broker (nacked), or dropped in memory or
// when the failure wraps ErrPermanent.
func (b *Bus) giveUp(ctx context.Context, h *handler, it item, msg *Message, err error, attempts int) {
	if h.deadLetters {
		// Kept for the broker to redeliver, unless the handler says it
		// never can take it: a nack would bring it back every few
		// moments, for good.
		permanent := errors.Is(err, ErrPermanent)
		b.log.Error("bus: dead-letter handler failed",
			"handler", h.name, "event", msg.Name, "event_id", msg.ID, "attempts", attempts, "error", err,
			"dropped", permanent || b.inMemory)
		b.finish(h, it, permanent || b.inMemory)
		return
	}
	dl := DeadLetter{Message: *msg, Handler: h.name, Reason: err.Error(), Attempts: attempts}
	pubErr := b.publishDeadLetter(ctx, h, dl)
	b.notifyDeadLetter(DeadLetterParams{DeadLetter: dl, Err: err, PublishErr: pubErr})
	b.log.Error("bus: event dead-lettered",
		"handler", h.name, "event", msg.Name, "event_id", msg.ID, "attempts", attempts,
		"reason", dl.Reason, "dead_letter_published", pubErr == nil, "publish_error", pubErr)
	b.finish(h, it, pubErr == nil || b.inMemory)
}

// publishDeadLetter publishes dl on the dead-letter topic: the original payload
// and metadata, plus the dead-letter keys, with the trace context of ctx (the
// consumer span that gave up).
func (b *Bus) publishDeadLetter(ctx context.Context, h *handler, dl DeadLetter) error {
	md := make(map[string]string, len(dl.Message.Metadata)+4)
	for k, v := range dl.Message.Metadata {
		md[k] = v
	}
	// A message from another producer may carry its id and name only in
	// the transport's own fields: the dead letter keeps them.
	if md[MetadataEventID] == "" {
		md[MetadataEventID] = dl.Message.ID
	}
	if md[MetadataEventName] == "" {
		md[MetadataEventName] = dl.Message.Name
	}
	md[MetadataDeadLetterReason] = dl.Reason
	md[MetadataDeadLetterHandler] = dl.Handler
	md[MetadataDeadLetterTopic] = h.topic
	md[MetadataDeadLetterAttempts] = strconv.Itoa(dl.Attempts)
	if trace.SpanContextFromContext(ctx).IsValid() {
		b.prop.Inject(ctx, propagation.MapCarrier(md))
	}
	id := hbid.New("")
	// In memory, dead letters take pending units without waiting: the units
	// they would wait for may be held by the very events that are failing.
	var units int64
	t := b.topics[b.dlTopic]
	if b.inMemory && t != nil {
		units = int64(len(t.queued)) // the dead-letter topic has no Inline handler
		b.pending.force(units)
	}
	if b.direct {
		// Without a dead-letter handler there is nobody to give it to.
		if t != nil && !b.push(t.queued, item{uuid: id, payload: dl.Message.Payload, metadata: md}) {
			return fmt.Errorf("bus: publish dead letter to %s: %w", b.dlTopic, ErrClosed)
		}
		return nil
	}
	wm := message.NewMessage(id, dl.Message.Payload)
	wm.Metadata = md
	wm.SetContext(ctx)
	if units > 0 {
		wm.Metadata[metadataReservedBy] = b.instance
	}
	if err := b.pub.Publish(b.dlTopic, wm); err != nil {
		if units > 0 {
			b.pending.release(units)
		}
		return fmt.Errorf("bus: publish dead letter to %s: %w", b.dlTopic, err)
	}
	return nil
}

func (b *Bus) notifyDeadLetter(p DeadLetterParams) {
	if b.onDeadLetter == nil {
		return
	}
	// On a goroutine of its own, waited for: a hook that panics or ends its
	// goroutine (runtime.Goexit, which t.FailNow calls) ends only its own
	// call, not the worker giving the event up, which would give it up again.
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				b.log.Error("bus: OnDeadLetter panicked", "handler", p.DeadLetter.Handler, "event_id", p.DeadLetter.Message.ID, "panic", r)
			}
		}()
		b.onDeadLetter(p)
	}()
	<-done
}
