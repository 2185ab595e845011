// Package bus carries typed domain events from publishers to handlers over a
// Watermill Pub/Sub, with bounded concurrency, bounded retries, dead letters,
// backpressure, a draining shutdown and OpenTelemetry trace context. It knows
// nothing about webhooks.
//
// # Model
//
// An event is a Go value with a stable name (Event). Publish encodes it as JSON
// and publishes it on the topic named after it, with its id, name and time in
// the message metadata (MetadataEventID, MetadataEventName,
// MetadataOccurredAt) and the trace context the propagator injects. Handlers
// are registered per event name before Start: Handle decodes into a typed
// value, HandleRaw passes the raw payload, HandleDeadLetters receives dead
// letters. Several handlers of one event each get every event (fan-out).
//
// The bus does not use Watermill's Router, which runs every message in its own
// goroutine, redelivers a Nack at once and forever, and cancels handlers when
// it closes. Instead each handler has one pump goroutine reading its
// subscription into a queue and a fixed number of workers (Config.Workers,
// WithWorkers): goroutines grow with the configured workers, never with the
// backlog. Handlers run concurrently and in no particular order.
//
// NewMessage and PublishMessage split Publish in two, for a store in between:
// NewMessage makes the message (payload, metadata, trace context of its
// publish span) without publishing it, PublishMessage publishes it later
// under the transport's rules. Package bus/outbox stores it in the host's own
// database transaction that way.
//
// # Failures
//
// A handler error or panic (recovered, wrapped in ErrHandlerPanic) is retried
// in the same worker with exponential backoff and full jitter (RetryPolicy);
// an error wrapped in Permanent is not retried. When the retries are used up
// the event becomes a dead letter: it is published on Config.DeadLetterTopic
// with the original payload and metadata plus the reason, handler, topic and
// attempts (the MetadataDeadLetter* keys), reported to Config.OnDeadLetter and
// logged at Error level; then the event is acknowledged. The bus never Nacks
// to retry. A message a broker's transport could not read whole (another
// producer's, marked MetadataUnreadable), or that has no id at all, is
// dead-lettered without calling its handler. A queued handler that ends its goroutine (runtime.Goexit, which
// t.FailNow calls) has its event dead-lettered at once, with an error
// wrapping ErrHandlerPanic, and a new worker takes its place.
//
// # Transports
//
// The zero Config runs in memory, in process: Publish puts the event straight
// into the queue of each of its handlers. A *gochannel.GoChannel given as both
// Publisher and Subscriber runs in memory too, on Watermill's own in-memory
// Pub/Sub, for hosts that share it with other Watermill components; it costs
// a goroutine and an acknowledgement handshake per message, which the zero
// Config's transport, reachable by nothing but the bus, does without. In
// memory:
//
//   - Publish refuses what GoChannel would silently drop: before Start it
//     returns ErrNotStarted, and for an event no handler takes, ErrNoHandlers.
//   - On a GoChannel, a pump acknowledges a message as soon as it is in the
//     handler's queue, which is no less durable than the transport, so that
//     GoChannel's per-message goroutines end at once. Either way a backlog
//     is a queue of small items.
//   - Handlers registered with Inline run inside Publish on the in-process
//     transport and take no pending unit: their own limits are their
//     backpressure.
//   - Memory is bounded by Config.MaxPending, the (event, handler) pairs
//     published and not yet handled or dead-lettered, bus-wide: Publish takes
//     one unit per handler of the event and waits for room or returns ErrFull,
//     as Config.Overflow says. Dead letters, events published from inside a
//     handler, and messages other code publishes on a user-supplied
//     GoChannel count as pending but never wait for room: the room they would
//     wait for may be held by the events queued behind them.
//   - Once Publish has returned nil the event is in the bus's hands: Shutdown
//     handles it before returning, unless its context ends first.
//
// Any other Publisher is a broker (for example Watermill's PostgreSQL or NATS
// JetStream Pub/Subs). Publish always publishes, handlers or not, and a
// process that only publishes need not Start. A message is acknowledged only
// once its handler succeeded or its dead letter was published; when the dead
// letter cannot be published the message is nacked, so the broker
// redelivers it. A handler's queue holds about as many messages as it has
// workers, so the broker keeps the backlog. With consumer groups, use
// Config.NewSubscriber: each handler name is a group, so every handler gets
// every event once across the replicas that run it.
//
// # Lifecycle
//
// New validates the Config. Handle, HandleRaw and HandleDeadLetters register
// handlers; Start subscribes them all and returns once the subscriptions
// exist; Run does Start, waits for its context to end and then shuts down.
// Shutdown stops intake (Publish returns ErrClosed), drains, stops the workers
// and closes the subscribers and the publisher, which the bus owns. Handler
// contexts are not cancelled when Shutdown begins, only if its context ends
// before the drain does; Shutdown then returns a *DrainError (matching
// ErrDrainIncomplete) that says how many pairs were left, unless none was.
// Close is Shutdown bounded by Config.DrainTimeout.
//
// # Telemetry
//
// Publish starts a producer span "publish <event name>" as a child of its
// context's span and injects it into the message metadata; each handler call
// runs under a consumer span "<operation> <event name>" (operation "process"
// unless WithSpanName says otherwise) that is a child of the publish span,
// with failed attempts and the final error recorded on it. Spans come from
// Config.TracerProvider (the global one by default), so without an SDK they
// cost next to nothing. Logs go to Config.Logger only, which is silent when nil.
package bus
