package busnats

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/internal/wmlog"
)

// Defaults applied to zero Config fields.
const (
	// DefaultPrefix starts stream names and subjects when Config.Prefix is empty.
	DefaultPrefix = "hookbus"
	// DefaultAckWait is how long the server waits for the acknowledgement of
	// a delivered message before redelivering it, when Config.AckWait is
	// zero. It is longer than a webhook delivery with the spec's limits
	// takes (four attempts of at most 10 s each, with backoff in between),
	// with room for queueing.
	DefaultAckWait = 5 * time.Minute
	// DefaultMaxAckPending bounds the messages of one handler delivered and
	// not yet acknowledged, across all its processes, when
	// Config.MaxAckPending is zero.
	DefaultMaxAckPending = 256
	// DefaultSubscribers is the number of messages one process handles at
	// once per handler when Config.Subscribers is zero; it matches
	// bus.DefaultWorkers.
	DefaultSubscribers = bus.DefaultWorkers
	// DefaultMaxAge is how long a stream keeps a message when Config.MaxAge
	// is zero.
	DefaultMaxAge = 7 * 24 * time.Hour
	// DefaultDrainTimeout bounds the hand-back of a subscriber's undelivered
	// messages when it closes, unless Config.NATSOptions set nats.DrainTimeout.
	DefaultDrainTimeout = 10 * time.Second
)

// Limits of the names New derives.
const (
	// MaxPrefixLength is the longest Config.Prefix.
	MaxPrefixLength = 15
	// maxTokenLength bounds the part of a name derived from a topic or a
	// handler name, hash included.
	maxTokenLength = 48
)

// Errors of New and Config.Validate.
var (
	// ErrInvalidConfig is wrapped by every error about a Config field.
	ErrInvalidConfig = errors.New("busnats: invalid config")
	// ErrClosed is returned by Subscribe and Publish after Close.
	ErrClosed = errors.New("busnats: closed")
	// ErrConsumerMismatch is returned by Subscribe when the durable consumer
	// named after the handler exists but is not a push consumer delivering to
	// a queue group of that name: it was made by something else.
	ErrConsumerMismatch = errors.New("busnats: existing consumer does not match")
)

// Config configures the NATS JetStream transport. The zero value is valid. A
// Config is a value; it is safe for concurrent use.
type Config struct {
	// Prefix starts every stream name and subject; empty means DefaultPrefix.
	// Two prefixes give two independent buses on one server, unless one is
	// the other followed by '_' and more (stream names join the prefix and
	// the event name with '_': prefix "app" with event "x_order" and prefix
	// "app_x" with event "order" would share a stream). ASCII letters,
	// digits, '-' and '_', at most MaxPrefixLength bytes.
	Prefix string

	// AckWait is how long the server waits for a message's acknowledgement
	// before it delivers the message again; zero means DefaultAckWait. A
	// handler running past it is not stopped: the message goes to another
	// subscriber of the handler (this process or another replica) and is
	// handled a second time, and the first handling's acknowledgement is
	// ignored. After a crash, the messages the process held come back after
	// AckWait. Applied to the consumer when the subscriber starts, also when
	// the consumer exists already.
	AckWait time.Duration

	// AckSync makes the acknowledgement of a handled message wait for the
	// server's confirmation. By default it is sent without waiting, as
	// nats.go's Msg.Ack does: a round trip less per message, and an
	// acknowledgement lost with the connection only means the server
	// delivers the message again after AckWait, which at-least-once
	// delivery allows (handlers are idempotent on the event id).
	AckSync bool

	// MaxAckPending bounds the messages of one handler delivered and not yet
	// acknowledged, across all the processes running it; zero means
	// DefaultMaxAckPending. Messages delivered beyond Subscribers wait in the
	// client, their AckWait running: keep it near Subscribers times the
	// number of processes.
	MaxAckPending int

	// Subscribers is the number of messages one process handles at once per
	// handler (Watermill's SubscribersCount: one NATS subscription each, in
	// the handler's queue group); zero means DefaultSubscribers. More than
	// the handler's bus workers gains nothing.
	Subscribers int

	// MaxAge is how long a stream keeps messages; zero means DefaultMaxAge.
	// Streams keep messages whether or not they were handled (so that a new
	// handler gets the backlog), until they are MaxAge old. Applied when a
	// stream is created; ConfigureStream may lift the limit (MaxAge 0).
	MaxAge time.Duration

	// Replicas is the number of copies of each stream in a clustered server;
	// zero means 1. Applied when a stream is created.
	Replicas int

	// NATSOptions are applied to every connection, after the defaults of
	// this package (reconnect forever, DefaultDrainTimeout, a connection
	// name): credentials, TLS, timeouts.
	NATSOptions []nats.Option

	// ConfigureStream, when set, adjusts the configuration of a topic's
	// stream before it is created.
	ConfigureStream func(topic string, cfg *nats.StreamConfig)

	// ConfigureConsumer, when set, adjusts the configuration of a handler's
	// durable consumer before it is created. Durable, DeliverGroup,
	// DeliverSubject, FilterSubject and AckPolicy must stay as they are.
	ConfigureConsumer func(handlerName, topic string, cfg *nats.ConsumerConfig)

	// Logger receives Watermill's and the transport's logs, Watermill's Info
	// level as Debug; nil discards them.
	Logger *slog.Logger
}

// New connects to the NATS server at url (one URL or several, comma
// separated) and returns a bus.Config whose Publisher and NewSubscriber use
// Watermill's NATS Pub/Sub with JetStream. Each event name is a stream with
// one subject; each handler name is a durable push consumer on it,
// delivering to a queue group of the same name, so every handler gets every
// event once across the processes that run it, each process a share. Streams
// are created by the first Publish or Subscribe of their topic, consumers by
// the first Subscribe of their handler; neither is deleted.
//
// New dials the publisher's connection, bounded by the connection timeout
// (nats.Timeout); each subscriber dials its own when the bus starts. The bus
// closes them all at Shutdown.
func New(url string, cfg Config) (bus.Config, error) {
	if err := cfg.Validate(); err != nil {
		return bus.Config{}, err
	}
	cfg = cfg.withDefaults()
	conn, _, err := cfg.connect(url, "hookbus publisher")
	if err != nil {
		return bus.Config{}, fmt.Errorf("busnats: connect: %w", err)
	}
	js, err := conn.JetStream()
	if err != nil {
		conn.Close()
		return bus.Config{}, fmt.Errorf("busnats: jetstream: %w", err)
	}
	p := &provisioner{cfg: cfg, js: js}
	pub, err := newPublisher(conn, p)
	if err != nil {
		conn.Close()
		return bus.Config{}, err
	}
	return bus.Config{
		Publisher: pub,
		NewSubscriber: func(handlerName string) (message.Subscriber, error) {
			return newSubscriber(url, handlerName, p), nil
		},
	}, nil
}

// Validate reports whether c can be used: nil, or an error wrapping
// ErrInvalidConfig that names every problem.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	switch {
	case len(c.Prefix) > MaxPrefixLength:
		bad("Prefix %q: %d bytes, at most %d allowed", c.Prefix, len(c.Prefix), MaxPrefixLength)
	case strings.IndexFunc(c.Prefix, func(r rune) bool { return !isNameRune(r) }) >= 0:
		bad("Prefix %q: only ASCII letters, digits, '-' and '_' allowed", c.Prefix)
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"AckWait", c.AckWait}, {"MaxAge", c.MaxAge}} {
		if f.v < 0 {
			bad("%s must not be negative, got %v", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"MaxAckPending", c.MaxAckPending}, {"Subscribers", c.Subscribers}, {"Replicas", c.Replicas}} {
		if f.v < 0 {
			bad("%s must not be negative, got %d", f.name, f.v)
		}
	}
	return errors.Join(errs...)
}

// StreamName returns the name of topic's stream: Prefix, '_' and the topic,
// where a topic with characters a stream name cannot hold (such as '.'), or a
// long one, is shortened and followed by a hash of it, so that distinct
// topics never share a stream.
func (c Config) StreamName(topic string) string {
	return c.withDefaults().Prefix + "_" + token(topic)
}

// Subject returns the subject events of topic are published on: Prefix, '.'
// and the topic as in StreamName.
func (c Config) Subject(topic string) string {
	return c.withDefaults().Prefix + "." + token(topic)
}

// DurableName returns the name of the durable consumer of a handler, which is
// also the queue group its subscriptions join: the handler name, made a
// valid name the way StreamName does it.
func (c Config) DurableName(handlerName string) string {
	return token(handlerName)
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = DefaultMaxAckPending
	}
	if c.Subscribers == 0 {
		c.Subscribers = DefaultSubscribers
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	return c
}

// streamConfig is the configuration of a new stream for topic.
func (c Config) streamConfig(topic string) nats.StreamConfig {
	sc := nats.StreamConfig{
		Name:        c.StreamName(topic),
		Description: "hookbus events " + topic,
		Subjects:    []string{c.Subject(topic)},
		Retention:   nats.LimitsPolicy,
		Discard:     nats.DiscardOld,
		MaxAge:      c.MaxAge,
		Storage:     nats.FileStorage,
		Replicas:    c.Replicas,
	}
	if c.ConfigureStream != nil {
		c.ConfigureStream(topic, &sc)
	}
	return sc
}

// consumerConfig is the configuration of a new durable consumer for a
// handler of topic.
func (c Config) consumerConfig(handlerName, topic string) nats.ConsumerConfig {
	durable := c.DurableName(handlerName)
	cc := nats.ConsumerConfig{
		Durable:        durable,
		Description:    "hookbus handler " + handlerName,
		DeliverSubject: nats.NewInbox(),
		DeliverGroup:   durable,
		DeliverPolicy:  nats.DeliverAllPolicy,
		AckPolicy:      nats.AckExplicitPolicy,
		AckWait:        c.AckWait,
		MaxDeliver:     -1,
		FilterSubject:  c.Subject(topic),
		ReplayPolicy:   nats.ReplayInstantPolicy,
		MaxAckPending:  c.MaxAckPending,
	}
	if c.ConfigureConsumer != nil {
		c.ConfigureConsumer(handlerName, topic, &cc)
	}
	return cc
}

// connect dials a connection with the package's defaults and c.NATSOptions.
// The channel is closed once the connection is closed for good.
func (c Config) connect(url, name string) (*nats.Conn, <-chan struct{}, error) {
	opts := nats.GetDefaultOptions()
	opts.Url = url
	for _, o := range append([]nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.DrainTimeout(DefaultDrainTimeout),
	}, c.NATSOptions...) {
		if err := o(&opts); err != nil {
			return nil, nil, err
		}
	}
	closed := make(chan struct{})
	userClosed := opts.ClosedCB
	opts.ClosedCB = func(nc *nats.Conn) {
		if userClosed != nil {
			userClosed(nc)
		}
		close(closed)
	}
	nc, err := opts.Connect()
	if err != nil {
		return nil, nil, err
	}
	return nc, closed, nil
}

func (c Config) watermillLogger() watermill.LoggerAdapter { return wmlog.Adapter(c.Logger) }

// marshaler is Watermill's NATS wire format: the payload as the body, the
// UUID and the metadata as headers. NATS headers cannot hold line breaks:
// the client turns them into spaces.
var marshaler = &wmnats.NATSMarshaler{}

// unmarshaler reads messages as marshaler writes them, and hands one it
// cannot read (a header sent twice, by another publisher) to the bus marked
// bus.MetadataUnreadable, which dead-letters it: Watermill would otherwise
// neither acknowledge nor reject it, and the stream would send it again
// every AckWait, for ever, holding a place among MaxAckPending.
type unmarshaler struct{}

func (unmarshaler) Unmarshal(m *nats.Msg) (*message.Message, error) {
	msg, err := marshaler.Unmarshal(m)
	if err == nil {
		return msg, nil
	}
	id := m.Header.Get(wmnats.WatermillUUIDHdr)
	if id == "" {
		id = watermill.NewUUID()
	}
	msg = message.NewMessage(id, m.Data)
	for k, v := range m.Header { // what can be read is kept for the dead letter
		if len(v) == 1 && k != wmnats.WatermillUUIDHdr && !strings.HasPrefix(k, "Nats-") {
			msg.Metadata.Set(k, v[0])
		}
	}
	msg.Metadata.Set(bus.MetadataUnreadable, err.Error())
	return msg, nil
}

// token makes s a valid part of a stream, consumer or subject name: ASCII
// letters, digits, '-' and '_' are kept and anything else becomes '_'; when
// that changed s, or s is long, a hash of s follows, so that distinct
// inputs give distinct names.
func token(s string) string {
	var b strings.Builder
	changed := false
	for _, r := range s {
		if isNameRune(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
			changed = true
		}
	}
	out := b.String()
	if !changed && len(out) <= maxTokenLength {
		return out
	}
	h := fnv.New32a()
	h.Write([]byte(s))
	suffix := fmt.Sprintf("_%08x", h.Sum32())
	if len(out) > maxTokenLength-len(suffix) {
		out = out[:maxTokenLength-len(suffix)]
	}
	return out + suffix
}

func isNameRune(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_'
}
