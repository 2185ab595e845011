// Package busnats runs a bus on NATS JetStream, with Watermill's NATS
// Pub/Sub (github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats): events
// survive restarts, and several processes share the work.
//
//	cfg, err := busnats.New("nats://127.0.0.1:4222", busnats.Config{})
//	if err != nil { ... }
//	b, err := bus.New(cfg) // set Logger, Workers and the rest on cfg first
//
// # Streams and consumers
//
// Each event name (and the dead-letter topic) is a stream,
// Config.StreamName, with one subject, Config.Subject. A stream keeps its
// messages until they are Config.MaxAge old, handled or not. Each handler
// name is a durable push consumer on its event's stream, Config.DurableName,
// delivering every message from the start of the stream to a queue group of
// the same name: every process running the handler subscribes
// Config.Subscribers times to that group, and the server hands each message
// to one of them. So every handler gets every event once across the
// processes that run it, and a handler added later gets the events still in
// the stream. Streams are created by the first Publish or Subscribe of their
// topic, consumers by the first Subscribe of their handler, and this package
// deletes neither; an existing stream is used as it is.
//
// Publish waits for the stream's acknowledgement. The event id is the
// JetStream message id, so a second publish of the same event within the
// stream's duplicate window (two minutes by default) is dropped: the
// delivery of a retried publish, or of an outbox forwarded twice, is not
// doubled. Metadata travels as NATS headers, which cannot hold line breaks:
// the client turns them into spaces.
//
// # Acknowledgement wait
//
// The server redelivers a message whose acknowledgement has not come within
// Config.AckWait of its delivery. A handler running past it is not stopped:
// the message is handled a second time, by this process or another one, and
// the first handling's acknowledgement is ignored. Handlers must therefore
// be idempotent (the event id is stable) and finish well within AckWait; the
// default, DefaultAckWait, leaves room for a webhook delivery with the spec's
// limits. AckWait is also how long the messages a crashed process held wait
// before they are redelivered. Config.MaxAckPending bounds the messages out
// for acknowledgement: those beyond what the processes handle at once wait
// in the clients, their AckWait running.
//
// When a subscriber closes (the bus shuts down), the messages delivered to it
// that the bus had not taken yet are nacked, so they go at once to the other
// processes, or to the next one to start; those the bus was handling are
// acknowledged or nacked by the bus.
package busnats
