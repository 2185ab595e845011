package bus

import (
	"context"
	"time"
)

// Event is a value published on the bus. EventName returns the event's stable
// name: it is the Watermill topic the event travels on and the value of the
// MetadataEventName metadata key. It must not be empty, must not depend on the
// value's fields (Handle reads it from T's zero value) and must not change
// between releases, since brokers and consumers in other processes know events
// by it. The payload is the event's JSON encoding.
//
// An event may also implement any of:
//
//	Validate() error       // called by Publish first; an error refuses the event
//	EventID() string       // the event id (see CheckEventID); a new UUIDv7 when absent or empty
//	EventTime() time.Time  // when the event occurred; Config.Now() when absent or zero
//	MarshalJSON() ([]byte, error) // the payload, used as is: it must be valid, compact JSON
type Event interface {
	EventName() string
}

// Metadata keys the bus sets on every Watermill message it publishes, besides
// whatever the configured propagator injects (traceparent, tracestate, baggage).
const (
	// MetadataEventID holds the event id, which is also the Watermill message UUID.
	MetadataEventID = "event_id"
	// MetadataEventName holds the event name, which is also the topic.
	MetadataEventName = "event_name"
	// MetadataOccurredAt holds when the event occurred, in RFC 3339 with nanoseconds.
	MetadataOccurredAt = "occurred_at"
)

// MetadataUnreadable is set by a transport (bus/buspg, bus/busnats) on a
// message it received but could not read whole (metadata that is not a map
// of strings, a header sent twice), to why: the bus dead-letters such a
// message without calling its handler, rather than leave it unacknowledged
// for the broker to bring back for ever. PublishMessage removes it.
const MetadataUnreadable = "hookbus_unreadable"

// Metadata keys the bus adds to a dead letter, on top of the original event's
// metadata.
const (
	// MetadataDeadLetterReason holds the error text of the last failed attempt.
	MetadataDeadLetterReason = "dead_letter_reason"
	// MetadataDeadLetterHandler holds the name of the handler that gave up.
	MetadataDeadLetterHandler = "dead_letter_handler"
	// MetadataDeadLetterTopic holds the topic the original event was published on.
	MetadataDeadLetterTopic = "dead_letter_topic"
	// MetadataDeadLetterAttempts holds how many times the handler was called, in decimal.
	MetadataDeadLetterAttempts = "dead_letter_attempts"
)

// Message is an event as a handler receives it.
type Message struct {
	// ID is the event id, unique per published event, stable across retries and
	// redeliveries: consumers deduplicate on it.
	ID string
	// Name is the event name (the topic).
	Name string
	// OccurredAt is when the event occurred; zero if the publisher did not say.
	OccurredAt time.Time
	// Payload is the event's JSON encoding. It must not be modified.
	Payload []byte
	// Metadata is the Watermill message metadata, a read-only view: it must not
	// be modified.
	Metadata map[string]string
}

// MessageFromContext returns the message being handled. It reports false
// outside a handler called by the bus. Typed handlers use it to read the event
// id, name and time.
func MessageFromContext(ctx context.Context) (Message, bool) {
	m, ok := ctx.Value(messageKey{}).(*Message)
	if !ok {
		return Message{}, false
	}
	return *m, true
}

type messageKey struct{}

// The optional capabilities of an Event.
type (
	validatingEvent interface{ Validate() error }
	identifiedEvent interface{ EventID() string }
	timedEvent      interface{ EventTime() time.Time }
)
