package buspg

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookbus/hookbus/bus"

	"github.com/hookbus/hookbus/internal/pgident"
	"github.com/hookbus/hookbus/internal/wmlog"
)

// Defaults applied to zero Config fields.
const (
	// DefaultSchema holds the tables when Config.Schema is empty.
	DefaultSchema = "public"
	// DefaultTablePrefix starts every table name when Config.TablePrefix is empty.
	DefaultTablePrefix = "hookbus_"
	// DefaultAckDeadline bounds the handling of one message when
	// Config.AckDeadline is zero. It is longer than a webhook delivery with
	// the spec's limits takes (four attempts of at most 10 s each, with
	// backoff in between), with room for queueing.
	DefaultAckDeadline = 5 * time.Minute
	// DefaultPollInterval is the wait between queries of an idle subscriber
	// when Config.PollInterval is zero. Each query is a transaction that
	// locks the consumer group's offset (and so takes a transaction id).
	DefaultPollInterval = 250 * time.Millisecond
	// DefaultBatchSize is how many messages a subscriber reads per query when
	// Config.BatchSize is zero.
	DefaultBatchSize = 100
	// DefaultTurnPause is how long a subscriber waits after a batch before
	// it reads again, when Config.TurnPause is zero.
	DefaultTurnPause = 2 * time.Millisecond
	// retryInterval is the wait before a subscriber queries again after a
	// failed query, as in Watermill.
	retryInterval = time.Second
)

// Errors of New and Config.Validate.
var (
	// ErrInvalidConfig is wrapped by every error about a Config field.
	ErrInvalidConfig = errors.New("buspg: invalid config")
	// ErrNilDB is returned by New for a nil *sql.DB.
	ErrNilDB = errors.New("buspg: nil *sql.DB")
)

// Config configures the PostgreSQL transport. The zero value is valid: tables
// named hookbus_* in the schema public, the default deadline, poll interval
// and batch size, no logs. A Config is a value; it is safe for concurrent use.
type Config struct {
	// Schema holds the tables; empty means DefaultSchema. It is created when
	// missing (that needs the CREATE privilege on the database). Like
	// TablePrefix it must be a plain identifier: lowercase ASCII letters,
	// digits and underscores, not starting with a digit.
	Schema string

	// TablePrefix starts the name of every table; empty means
	// DefaultTablePrefix. Two prefixes give two independent buses in one
	// schema, unless one begins with the other followed by "topic_" or
	// "offsets_" (a table's name is the prefix, the kind and the event
	// name: prefixes "app_" and "app_topic_" could share a table). At most
	// MaxTablePrefixLength bytes.
	TablePrefix string

	// AckDeadline is how long a handler may take over one message; zero means
	// DefaultAckDeadline, and it must not be negative. Past it the subscriber
	// gives the message up, it is read again (by this process or another
	// replica of the handler) and handled a second time, while the first
	// handling goes on: its late acknowledgement is ignored. Since the
	// subscriber reads in a transaction that stays open while the message is
	// handled, a long handler also delays the messages every subscriber of
	// the database sees, on every topic (see the package documentation).
	AckDeadline time.Duration

	// PollInterval is how long an idle subscriber waits before querying
	// again; zero means DefaultPollInterval. It bounds the latency of a
	// message published while its subscribers were idle.
	PollInterval time.Duration

	// BatchSize is how many messages a subscriber reads per query; zero
	// means DefaultBatchSize. The messages of a batch are handled one after
	// the other in one transaction, whose commit records them as consumed,
	// so a crash hands up to BatchSize handled messages to the next
	// subscriber again.
	BatchSize int

	// TurnPause is how long a subscriber waits after committing a batch
	// before it reads the next one; zero means DefaultTurnPause, and a
	// negative value means no pause. Replicas of a handler take turns on the
	// consumer group's offset row (see the package documentation): a
	// replica that waited for it while another handled a batch fails to
	// serialize once that batch commits, and must roll back and query again,
	// a few round trips to the database. Meanwhile the replica that just
	// committed, already running, would usually take the row again, and one
	// replica would do most of the work. The pause should exceed those round
	// trips: the default suits a database on the same host or network
	// segment; raise it for one further away. It is paid once per batch even
	// when no replica waits.
	TurnPause time.Duration

	// Logger receives Watermill's logs, its Info level as Debug; nil discards
	// them.
	Logger *slog.Logger
}

// MaxTablePrefixLength is the longest Config.TablePrefix.
const MaxTablePrefixLength = 24

// New returns a bus.Config whose Publisher and NewSubscriber use Watermill's
// PostgreSQL Pub/Sub on db: each event name is a table of messages, each
// handler name a consumer group whose offset is kept in a table of offsets,
// so every handler gets every event once across the processes that run it.
// Tables are created when first used, by publishers and subscribers alike.
//
// New does not touch the database. The bus closes the publisher and the
// subscribers at Shutdown but not db, which the caller closes afterwards.
// Every subscriber holds a connection while it handles a batch and every
// Publish takes one: db's pool (sql.DB.SetMaxOpenConns) must allow at least
// one connection per handler, plus the concurrent publishers.
func New(db *sql.DB, cfg Config) (bus.Config, error) {
	if db == nil {
		return bus.Config{}, ErrNilDB
	}
	if err := cfg.Validate(); err != nil {
		return bus.Config{}, err
	}
	logger := cfg.watermillLogger()
	beginner := wsql.BeginnerFromStdSQL(db)
	pub, err := wsql.NewPublisher(beginner, wsql.PublisherConfig{
		SchemaAdapter:        cfg.SchemaAdapter(),
		AutoInitializeSchema: true,
	}, logger)
	if err != nil {
		return bus.Config{}, fmt.Errorf("buspg: new publisher: %w", err)
	}
	return bus.Config{
		Publisher: pub,
		NewSubscriber: func(handlerName string) (message.Subscriber, error) {
			sub, err := wsql.NewSubscriber(beginner, cfg.SubscriberConfig(handlerName), logger)
			if err != nil {
				return nil, fmt.Errorf("buspg: new subscriber for %q: %w", handlerName, err)
			}
			return sub, nil
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
	if err := pgident.Check(c.Schema, pgident.MaxLength); err != nil {
		bad("Schema %q: %v", c.Schema, err)
	} else if strings.HasPrefix(c.Schema, "pg_") || c.Schema == "information_schema" {
		bad("Schema %q: reserved by PostgreSQL", c.Schema)
	}
	if err := pgident.Check(c.TablePrefix, MaxTablePrefixLength); err != nil {
		bad("TablePrefix %q: %v", c.TablePrefix, err)
	}
	if c.AckDeadline < 0 {
		bad("AckDeadline must not be negative, got %v", c.AckDeadline)
	}
	if c.PollInterval < 0 {
		bad("PollInterval must not be negative, got %v", c.PollInterval)
	}
	if c.BatchSize < 0 {
		bad("BatchSize must not be negative, got %d", c.BatchSize)
	}
	return errors.Join(errs...)
}

// MessagesTable returns the quoted, schema-qualified name of the table
// holding the messages of topic (an event name, or the dead-letter topic).
// Names longer than PostgreSQL's 63 bytes are shortened with a hash of the
// topic, so distinct topics never share a table.
func (c Config) MessagesTable(topic string) string {
	c = c.withDefaults()
	return pgident.Quote(c.Schema) + "." + pgident.Quote(tableName(c.TablePrefix+"topic_", topic))
}

// OffsetsTable returns the quoted, schema-qualified name of the table holding
// the offsets of topic's consumer groups.
func (c Config) OffsetsTable(topic string) string {
	c = c.withDefaults()
	return pgident.Quote(c.Schema) + "." + pgident.Quote(tableName(c.TablePrefix+"offsets_", topic))
}

// SchemaAdapter returns the watermill-sql schema adapter of c: Watermill's
// PostgreSQL schema, with MessagesTable's names and BatchSize, creating the
// schema when missing. It is exported for wiring Watermill's SQL Pub/Sub by
// hand; New uses it. It does not validate c.
func (c Config) SchemaAdapter() wsql.SchemaAdapter {
	c = c.withDefaults()
	return schemaAdapter{
		DefaultPostgreSQLSchema: wsql.DefaultPostgreSQLSchema{
			GenerateMessagesTableName: c.MessagesTable,
			SubscribeBatchSize:        c.BatchSize,
		},
		schema: c.Schema,
	}
}

// OffsetsAdapter returns the watermill-sql offsets adapter of c: Watermill's
// PostgreSQL offsets, with OffsetsTable's names. It does not validate c.
func (c Config) OffsetsAdapter() wsql.OffsetsAdapter {
	return wsql.DefaultPostgreSQLOffsetsAdapter{GenerateMessagesOffsetsTableName: c.OffsetsTable}
}

// SubscriberConfig returns the watermill-sql subscriber configuration of c
// for a consumer group: c's adapters, deadline and poll interval, Watermill's
// backoff with c's TurnPause after each batch (and Watermill's default wait
// of a second after a failed query), and schema initialisation on Subscribe.
// New uses it with the handler name as the consumer group. It does not
// validate c.
func (c Config) SubscriberConfig(consumerGroup string) wsql.SubscriberConfig {
	c = c.withDefaults()
	deadline := c.AckDeadline
	return wsql.SubscriberConfig{
		ConsumerGroup:    consumerGroup,
		AckDeadline:      &deadline,
		PollInterval:     c.PollInterval,
		BackoffManager:   turns{BackoffManager: wsql.NewDefaultBackoffManager(c.PollInterval, retryInterval), pause: max(c.TurnPause, 0)},
		SchemaAdapter:    c.SchemaAdapter(),
		OffsetsAdapter:   c.OffsetsAdapter(),
		InitializeSchema: true,
	}
}

func (c Config) withDefaults() Config {
	if c.Schema == "" {
		c.Schema = DefaultSchema
	}
	if c.TablePrefix == "" {
		c.TablePrefix = DefaultTablePrefix
	}
	if c.AckDeadline == 0 {
		c.AckDeadline = DefaultAckDeadline
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.TurnPause == 0 {
		c.TurnPause = DefaultTurnPause
	}
	return c
}

// turns is Watermill's backoff with a pause after every batch read, which
// hands the consumer group's lock to a replica waiting for it.
type turns struct {
	wsql.BackoffManager
	pause time.Duration
}

// HandleError implements wsql.BackoffManager: the pause after a batch,
// Watermill's backoff after an empty or failed query.
func (t turns) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	if err == nil && !noMsg {
		return t.pause
	}
	return t.BackoffManager.HandleError(logger, noMsg, err)
}

func (c Config) watermillLogger() watermill.LoggerAdapter { return wmlog.Adapter(c.Logger) }

// schemaAdapter is Watermill's PostgreSQL schema that also creates its
// schema: the table creation runs after Watermill's advisory lock, in the
// same transaction.
type schemaAdapter struct {
	wsql.DefaultPostgreSQLSchema
	schema string
}

var _ wsql.SchemaAdapter = schemaAdapter{}

// UnmarshalMessage reads a row as Watermill's schema does, except that a
// row whose metadata is not a JSON object of strings (written by another
// producer) is handed on marked bus.MetadataUnreadable, for the bus to
// dead-letter: Watermill fails the whole batch on it, which would stop the
// consumer group at that row for good.
func (a schemaAdapter) UnmarshalMessage(params wsql.UnmarshalMessageParams) (wsql.Row, error) {
	var (
		r  wsql.Row
		tx wsql.XID8
	)
	// The columns of DefaultPostgreSQLSchema's select query, in its order.
	if err := params.Row.Scan(&r.Offset, &tx, &r.UUID, &r.Payload, &r.Metadata); err != nil {
		return wsql.Row{}, fmt.Errorf("could not scan message row: %w", err)
	}
	msg := message.NewMessage(string(r.UUID), r.Payload)
	if r.Metadata != nil {
		if err := json.Unmarshal(r.Metadata, &msg.Metadata); err != nil {
			msg.Metadata = message.Metadata{bus.MetadataUnreadable: "metadata is not a JSON object of strings: " + err.Error()}
		}
	}
	r.Msg = msg
	r.ExtraData = map[string]any{"transaction_id": tx}
	return r, nil
}

func (a schemaAdapter) SchemaInitializingQueries(params wsql.SchemaInitializingQueriesParams) ([]wsql.Query, error) {
	queries, err := a.DefaultPostgreSQLSchema.SchemaInitializingQueries(params)
	if err != nil || len(queries) == 0 {
		return queries, err
	}
	// CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the database
	// even when the schema exists: create it only when missing. The name is
	// a validated identifier, safe in a literal.
	create := wsql.Query{Query: `DO $$ BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = '` + a.schema + `') THEN
		CREATE SCHEMA ` + pgident.Quote(a.schema) + `;
	END IF;
END $$`}
	last := len(queries) - 1
	out := make([]wsql.Query, 0, len(queries)+1)
	out = append(out, queries[:last]...)
	return append(out, create, queries[last]), nil
}

// tableName returns prefix+topic, or, when that is too long for PostgreSQL,
// its beginning followed by a hash of topic.
func tableName(prefix, topic string) string {
	name := prefix + topic
	if len(name) <= pgident.MaxLength {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(topic))
	suffix := fmt.Sprintf("_%08x", h.Sum32())
	return name[:pgident.MaxLength-len(suffix)] + suffix
}
