package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/forwarder"
	"github.com/jackc/pgx/v5"

	"github.com/hookbus/hookbus/bus"

	"github.com/hookbus/hookbus/internal/pgident"
	"github.com/hookbus/hookbus/internal/wmlog"
)

// Defaults applied to zero Config fields.
const (
	// DefaultSchema holds the outbox table when Config.Schema is empty.
	DefaultSchema = "public"
	// DefaultTablePrefix starts the table name when Config.TablePrefix is empty.
	DefaultTablePrefix = "hookbus_"
	// DefaultTopic is the outbox's Watermill topic, and after the prefix its
	// table's name, when Config.Topic is empty.
	DefaultTopic = "outbox"
	// DefaultPollInterval is how long the forwarder waits before looking
	// again when it found nothing to forward, when Config.PollInterval is zero.
	DefaultPollInterval = 100 * time.Millisecond
	// DefaultRetryInitial bounds the wait before the first retry of an event
	// the bus refused, when Config.RetryInitial is zero.
	DefaultRetryInitial = time.Second
	// DefaultRetryMax caps the wait between retries of an event the bus
	// refused, when Config.RetryMax is zero.
	DefaultRetryMax = time.Minute
)

// Metadata keys the forwarder sets on an outbox row it puts back for a
// retry (on the row, not on the event).
const (
	// MetadataAttempts holds how many times the bus refused the event, in decimal.
	MetadataAttempts = "hookbus_outbox_attempts"
	// MetadataNotBefore holds when the event is due again, in RFC 3339.
	MetadataNotBefore = "hookbus_outbox_not_before"
	// MetadataLastError holds why the bus refused the event the last time.
	MetadataLastError = "hookbus_outbox_last_error"
)

// Errors of the package. Test for them with errors.Is.
var (
	// ErrInvalidConfig is wrapped by the errors of New and Config.Validate.
	ErrInvalidConfig = errors.New("outbox: invalid config")
	// ErrClosed is returned by Publish, PublishPgx and Run after Close.
	ErrClosed = errors.New("outbox: closed")
	// ErrRunning is returned by Run while another Run of the same Outbox runs.
	ErrRunning = errors.New("outbox: already running")
	// ErrNilTx is returned by Publish and PublishPgx for a nil transaction.
	ErrNilTx = errors.New("outbox: nil transaction")
)

// Config configures an Outbox. The zero value is valid. A Config is a value;
// it is safe for concurrent use.
type Config struct {
	// Schema holds the outbox table; empty means DefaultSchema. It is created
	// when missing. Like TablePrefix and Topic it must be a plain identifier:
	// lowercase ASCII letters, digits and underscores, not starting with a
	// digit.
	Schema string
	// TablePrefix starts the table name; empty means DefaultTablePrefix.
	TablePrefix string
	// Topic names the outbox (its Watermill topic and, after TablePrefix,
	// its table); empty means DefaultTopic. Two topics are two independent
	// outboxes.
	Topic string
	// PollInterval is how long the forwarder waits before looking again when
	// it found nothing to forward; zero means DefaultPollInterval. It bounds
	// the delay between a commit and the forward when the forwarder was idle.
	PollInterval time.Duration
	// RetryInitial and RetryMax bound the waits between attempts to forward
	// an event the bus refused: the limit starts at RetryInitial and doubles
	// up to RetryMax, and each wait is between half the limit and the limit.
	// Zero means DefaultRetryInitial and DefaultRetryMax.
	RetryInitial, RetryMax time.Duration
	// Logger receives the refusals (at Warn), the events dropped as
	// unusable (at Error) and Watermill's logs (its Info level as Debug);
	// nil discards them.
	Logger *slog.Logger
}

// Outbox stores events in the host's database transactions and forwards the
// committed ones to a bus. Publish and PublishPgx may be called from any
// goroutine; Run forwards until its context ends or Close is called. An
// Outbox must be made by New.
type Outbox struct {
	bus    *bus.Bus
	db     *sql.DB
	cfg    Config // with defaults
	table  string // quoted, qualified
	schema outboxSchema
	log    *slog.Logger
	wlog   watermill.LoggerAdapter

	mu      sync.Mutex
	closed  bool
	running *forwarder.Forwarder
	stopped chan struct{} // closed when the current Run has returned
}

// New returns an Outbox whose events go, once committed, to b, and whose
// table is in db. New does not touch the database: call Migrate first.
// Errors wrap ErrInvalidConfig.
func New(b *bus.Bus, db *sql.DB, cfg Config) (*Outbox, error) {
	var errs []error
	if b == nil {
		errs = append(errs, fmt.Errorf("%w: nil bus", ErrInvalidConfig))
	}
	if db == nil {
		errs = append(errs, fmt.Errorf("%w: nil *sql.DB", ErrInvalidConfig))
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	o := &Outbox{
		bus:   b,
		db:    db,
		cfg:   cfg,
		table: cfg.Table(),
		log:   cfg.Logger,
		wlog:  wmlog.Adapter(cfg.Logger),
	}
	o.schema = newOutboxSchema(cfg.Schema, o.table)
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Migrate creates the schema if missing and the outbox table if missing, in
// one transaction serialised by an advisory lock: it is idempotent and safe
// to run from several processes at once. Run does it too, but Publish needs
// the table, so a host calls Migrate at start-up (or creates the table in
// its own migrations, as Migrate does).
func (o *Outbox) Migrate(ctx context.Context) (err error) {
	queries, err := o.schema.SchemaInitializingQueries(wsql.SchemaInitializingQueriesParams{Topic: o.cfg.Topic})
	if err != nil {
		return fmt.Errorf("outbox: migrate: %w", err)
	}
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("outbox: migrate: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	for _, q := range queries {
		if _, err := tx.ExecContext(ctx, q.Query, q.Args...); err != nil {
			return fmt.Errorf("outbox: migrate %s: %w", o.table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("outbox: migrate %s: commit: %w", o.table, err)
	}
	return nil
}

// Publish stores e in the outbox within tx: it is forwarded to the bus if and
// only if tx commits. e becomes the message bus.Bus.Publish would have
// published (see bus.Bus.NewMessage): its id, name, time, payload, and the
// trace context of a publish span that is a child of ctx's span. ctx bounds
// the insert. Publish returns an error wrapping bus.ErrInvalidEvent for an
// event the bus refuses outright, and otherwise the database's error, after
// which PostgreSQL has aborted tx.
func (o *Outbox) Publish(ctx context.Context, tx *sql.Tx, e bus.Event) error {
	if tx == nil {
		return ErrNilTx
	}
	return o.publish(ctx, wsql.TxFromStdSQL(tx), e)
}

// PublishPgx is Publish within a transaction of pgx's own interface (from a
// pgx.Conn or a pgxpool.Pool).
func (o *Outbox) PublishPgx(ctx context.Context, tx pgx.Tx, e bus.Event) error {
	if tx == nil {
		return ErrNilTx
	}
	return o.publish(ctx, wsql.TxFromPgx(tx), e)
}

func (o *Outbox) publish(ctx context.Context, tx wsql.ContextExecutor, e bus.Event) error {
	o.mu.Lock()
	closed := o.closed
	o.mu.Unlock()
	if closed {
		return ErrClosed
	}
	msg, err := o.bus.NewMessage(ctx, e)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	pub, err := wsql.NewPublisher(tx, wsql.PublisherConfig{SchemaAdapter: o.schema}, o.wlog)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	name := msg.Metadata[bus.MetadataEventName]
	err = forwarder.NewPublisher(pub, forwarder.PublisherConfig{ForwarderTopic: o.cfg.Topic}).Publish(name, msg)
	if err != nil {
		return fmt.Errorf("outbox: store %s %s: %w", name, msg.UUID, err)
	}
	return nil
}

// Run forwards the committed events to the bus with Watermill's forwarder,
// until ctx ends or Close is called; then it lets the event being forwarded
// finish (at most a minute) and returns nil. It creates the
// table if needed. Several processes may run it on one outbox: they share
// the events, each skipping the rows another is forwarding. An error means it could not start.
//
// An event is removed from the outbox in the transaction that acknowledges
// its forward, so a crash in between forwards it again (at least once;
// consumers dedupe on the event id). When the bus refuses an event (on the
// in-memory transport: not started yet, no handler for it, full; with a
// broker: the broker failing), the event is put back into the outbox, due
// after a backoff (see Config.RetryInitial), in the same transaction that
// removes it, and the refusal is logged: nothing is lost, and other events
// are not held up. An event whose row cannot be read as a forwarder envelope,
// or that the bus refuses as invalid (bus.ErrInvalidEvent, not from an
// Inline handler: bus.ErrInlineHandler), can never be forwarded: it is
// logged at Error and removed.
func (o *Outbox) Run(ctx context.Context) error {
	o.mu.Lock()
	switch {
	case o.closed:
		o.mu.Unlock()
		return ErrClosed
	case o.running != nil:
		o.mu.Unlock()
		return ErrRunning
	}
	raw, err := o.newSubscriber()
	if err != nil {
		o.mu.Unlock()
		return err
	}
	sub := newDrainingSubscriber(raw)
	fwd, err := forwarder.NewForwarder(sub, busPublisher{o.bus}, o.wlog, o.forwarderConfig())
	if err != nil {
		o.mu.Unlock()
		_ = sub.Close()
		return fmt.Errorf("outbox: new forwarder: %w", err)
	}
	o.running = fwd
	o.stopped = make(chan struct{})
	o.mu.Unlock()

	// The end of ctx stops the reads, and the router once its handler ends;
	// the rows being forwarded finish first (drainingSubscriber).
	unhook := context.AfterFunc(ctx, sub.stop)
	err = fwd.Run(ctx)
	unhook()
	_ = fwd.Close()
	_ = sub.Close()
	o.mu.Lock()
	o.running = nil
	close(o.stopped)
	o.mu.Unlock()
	if err != nil {
		return fmt.Errorf("outbox: run: %w", err)
	}
	return nil
}

// Close stops Run, waiting (at most a minute) for the event being forwarded
// and the removal of its row, so that an event the bus took is not
// forwarded again, and makes Publish,
// PublishPgx and Run return ErrClosed from then on. It does not close the bus
// nor the database. It is safe to call more than once.
func (o *Outbox) Close() error {
	o.mu.Lock()
	o.closed = true
	fwd, stopped := o.running, o.stopped
	o.mu.Unlock()
	if fwd == nil {
		return nil
	}
	err := fwd.Close()
	<-stopped
	if err != nil {
		return fmt.Errorf("outbox: close: %w", err)
	}
	return nil
}

// Validate reports whether c can be used: nil, or an error wrapping
// ErrInvalidConfig that names every problem.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if err := pgident.Check(c.Schema, pgident.MaxLength); err != nil {
		bad("Schema %q: %v", c.Schema, err)
	} else if strings.HasPrefix(c.Schema, "pg_") || c.Schema == "information_schema" {
		bad("Schema %q: reserved by PostgreSQL", c.Schema)
	}
	if err := pgident.Check(c.TablePrefix+c.Topic, pgident.MaxLength); err != nil {
		bad("TablePrefix %q and Topic %q: %v", c.TablePrefix, c.Topic, err)
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"PollInterval", c.PollInterval}, {"RetryInitial", c.RetryInitial}, {"RetryMax", c.RetryMax}} {
		if f.v < 0 {
			bad("%s must not be negative, got %v", f.name, f.v)
		}
	}
	return errors.Join(errs...)
}

// Table returns the quoted, schema-qualified name of the outbox table. It
// holds one row per event committed and not yet forwarded (including those
// waiting for a retry, whose metadata has MetadataNotBefore).
func (c Config) Table() string {
	c = c.withDefaults()
	return pgident.Quote(c.Schema) + "." + pgident.Quote(c.TablePrefix+c.Topic)
}

func (c Config) withDefaults() Config {
	if c.Schema == "" {
		c.Schema = DefaultSchema
	}
	if c.TablePrefix == "" {
		c.TablePrefix = DefaultTablePrefix
	}
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.RetryInitial == 0 {
		c.RetryInitial = DefaultRetryInitial
	}
	if c.RetryMax == 0 {
		c.RetryMax = DefaultRetryMax
	}
	return c
}
