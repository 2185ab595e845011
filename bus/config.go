package bus

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Defaults applied to zero Config fields.
const (
	// DefaultWorkers is the per-handler concurrency when Config.Workers is zero.
	DefaultWorkers = 16
	// DefaultMaxPending is the in-memory pending limit when Config.MaxPending is zero.
	DefaultMaxPending = 10_000
	// DefaultDeadLetterTopic is the dead-letter topic when Config.DeadLetterTopic is empty.
	DefaultDeadLetterTopic = "hookbus.dead_letter"
	// DefaultDrainTimeout bounds the drain of Run and Close when Config.DrainTimeout is zero.
	DefaultDrainTimeout = 30 * time.Second
)

// Config configures a Bus. Every zero field means its documented default, so the
// zero Config is a working in-memory bus.
type Config struct {
	// Publisher and Subscriber are the Watermill transport. Both nil (the
	// default): in memory, in process, Publish queueing each event for its
	// handlers directly (see the package documentation). Setting one without
	// the other is an error, unless NewSubscriber replaces Subscriber. The Bus
	// owns them: Shutdown closes them.
	//
	// A *gochannel.GoChannel set as both runs in memory on Watermill's
	// GoChannel; it should be configured with BlockPublishUntilSubscriberAck:
	// Publish then returns once the event is queued, so GoChannel's
	// per-message goroutines end at once and messages published on it by
	// other code are drained as well.
	//
	// Any other Publisher is a broker: Publish always publishes, and a message
	// is acknowledged once its handler's outcome is settled. A single
	// Subscriber is subscribed once per handler and must give every
	// subscription its own copy of each message; a broker with consumer groups
	// needs NewSubscriber instead.
	Publisher  message.Publisher
	Subscriber message.Subscriber

	// NewSubscriber, when set, is called once per handler by Start with the
	// handler's name, which brokers with consumer groups should use as the
	// group. It takes precedence over Subscriber and requires Publisher. The
	// subscribers it returns are closed by Shutdown.
	NewSubscriber func(handlerName string) (message.Subscriber, error)

	// Logger receives the bus's logs: dead letters and incomplete drains at
	// Error, recovered panics (with their stack) at Warn, failed attempts and
	// lifecycle at Debug. Nil discards them.
	Logger *slog.Logger

	// TracerProvider makes the publish and consumer spans. Nil means the global
	// provider, which is a no-op until the host installs an SDK.
	TracerProvider trace.TracerProvider

	// Propagator carries trace context through message metadata. Nil means W3C
	// trace context plus baggage (not the global propagator, which is a no-op by
	// default).
	Propagator propagation.TextMapPropagator

	// Workers is the default number of concurrent calls per handler (see
	// WithWorkers). Zero means DefaultWorkers.
	Workers int

	// MaxPending bounds, on the in-memory transport only, the (event, handler)
	// pairs published but not yet handled or dead-lettered, bus-wide. Zero means
	// DefaultMaxPending. An event with more handlers than MaxPending can never be
	// published. Dead letters, and events published from inside a handler with
	// OverflowWait, are counted but may exceed the limit: waiting for room
	// there could mean waiting for the handler itself.
	MaxPending int

	// Overflow is what Publish does on the in-memory transport when MaxPending
	// pairs are pending. The zero value is OverflowWait.
	Overflow Overflow

	// Retry bounds the retries of a failing handler call; the zero value means
	// the documented defaults (see RetryPolicy). WithRetry overrides it per handler.
	Retry RetryPolicy

	// DeadLetterTopic is where dead letters are published. Empty means
	// DefaultDeadLetterTopic. Events may not use it as their name.
	DeadLetterTopic string

	// OnDeadLetter, when set, is called for every dead letter after the bus tried
	// to publish it, whether or not that succeeded. The handler's worker waits
	// for it, so it should be quick; a panic in it is recovered and logged, and
	// a runtime.Goexit ends only its own call.
	OnDeadLetter func(DeadLetterParams)

	// DrainTimeout bounds the drain of Run (after its context ends) and of Close.
	// Zero means DefaultDrainTimeout.
	DrainTimeout time.Duration

	// Now returns the current time, for events that do not carry their own. Nil
	// means time.Now.
	Now func() time.Time
}

// Overflow says what Publish does when the in-memory transport's MaxPending
// limit is reached.
type Overflow int

const (
	// OverflowWait makes Publish wait for room, until its context ends.
	OverflowWait Overflow = iota
	// OverflowFail makes Publish return ErrFull at once.
	OverflowFail
)

// String returns the constant's name.
func (o Overflow) String() string {
	switch o {
	case OverflowWait:
		return "OverflowWait"
	case OverflowFail:
		return "OverflowFail"
	default:
		return fmt.Sprintf("Overflow(%d)", int(o))
	}
}

// problems lists everything wrong with c, each wrapping ErrInvalidConfig.
func (c Config) problems() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	switch {
	case c.NewSubscriber != nil && c.Publisher == nil:
		bad("NewSubscriber requires Publisher")
	case c.NewSubscriber == nil && (c.Publisher == nil) != (c.Subscriber == nil):
		bad("Publisher and Subscriber must be set together (or both left nil for the in-memory transport)")
	}
	if gc, ok := c.Publisher.(*gochannel.GoChannel); ok {
		if sub, _ := c.Subscriber.(*gochannel.GoChannel); sub != gc || c.NewSubscriber != nil {
			bad("a *gochannel.GoChannel Publisher must also be the Subscriber, without NewSubscriber")
		}
	}
	if c.Workers < 0 {
		bad("Workers must not be negative, got %d", c.Workers)
	}
	if c.MaxPending < 0 {
		bad("MaxPending must not be negative, got %d", c.MaxPending)
	}
	if c.Overflow != OverflowWait && c.Overflow != OverflowFail {
		bad("unknown Overflow %v", c.Overflow)
	}
	if c.DrainTimeout < 0 {
		bad("DrainTimeout must not be negative, got %v", c.DrainTimeout)
	}
	for _, err := range c.Retry.problems() {
		errs = append(errs, fmt.Errorf("%w: Retry: %w", ErrInvalidConfig, err))
	}
	return errs
}
