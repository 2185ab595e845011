package postgres

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hookbus/hookbus/internal/pgident"
)

// Defaults of Options.
const (
	// DefaultSchema is the schema used when Options.Schema is empty.
	DefaultSchema = "public"
	// DefaultTablePrefix is the prefix used when Options.TablePrefix is
	// empty.
	DefaultTablePrefix = "hookbus_"
	// DefaultPruneBatchSize is the number of deliveries DeliveryLog.Prune
	// deletes per statement when LogOptions.PruneBatchSize is zero.
	DefaultPruneBatchSize = 10_000
)

// Errors of the constructors and of Migrate.
var (
	// ErrInvalidOptions reports an Options or LogOptions value that cannot
	// be used: a Schema or TablePrefix that is not a plain identifier, or a
	// negative PruneBatchSize.
	ErrInvalidOptions = errors.New("postgres: invalid options")
	// ErrNilDB reports a nil *sql.DB.
	ErrNilDB = errors.New("postgres: nil *sql.DB")
)

// Options says where the tables of the Store and the DeliveryLog live. The
// zero value means tables named hookbus_* in the schema public.
//
// Schema and TablePrefix are written into SQL text, so they are restricted
// to plain identifiers: lowercase ASCII letters, digits and underscores, not
// starting with a digit. Anything else (quotes, spaces, semicolons,
// uppercase letters) is refused with ErrInvalidOptions before any statement
// is built, so they cannot carry SQL. They are also quoted in every
// statement, so keywords such as "user" are fine as a schema.
type Options struct {
	// Schema holds the tables; empty means DefaultSchema. Migrate creates it
	// if it does not exist. Names starting with "pg_" and
	// "information_schema" are reserved by PostgreSQL and refused.
	Schema string
	// TablePrefix starts the name of every table and index; empty means
	// DefaultTablePrefix. Two prefixes give two independent sets of tables
	// in one schema. It is short enough that every name stays within
	// PostgreSQL's 63-byte limit.
	TablePrefix string
}

// Validate reports whether o can be used: nil, or an error wrapping
// ErrInvalidOptions that names every problem.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	if err := pgident.Check(o.Schema, pgident.MaxLength); err != nil {
		errs = append(errs, fmt.Errorf("%w: Schema %q: %s", ErrInvalidOptions, o.Schema, err))
	} else if strings.HasPrefix(o.Schema, "pg_") || o.Schema == "information_schema" {
		errs = append(errs, fmt.Errorf("%w: Schema %q: reserved by PostgreSQL", ErrInvalidOptions, o.Schema))
	}
	if err := pgident.Check(o.TablePrefix, pgident.MaxLength-longestSuffix()); err != nil {
		errs = append(errs, fmt.Errorf("%w: TablePrefix %q: %s", ErrInvalidOptions, o.TablePrefix, err))
	}
	return errors.Join(errs...)
}

// Tables returns the schema-qualified names of the tables Migrate creates for
// o, in the order it creates them: a table recording the migrations applied,
// the webhooks, the deliveries and the attempts. It does not validate o.
func (o Options) Tables() []string {
	o = o.withDefaults()
	out := []string{migrationsTable, webhooksTable, deliveriesTable, attemptsTable}
	for i, s := range out {
		out[i] = o.Schema + "." + o.TablePrefix + s
	}
	return out
}

// LogOptions configures a DeliveryLog. The zero value is valid.
type LogOptions struct {
	// Options says where the tables are.
	Options
	// PruneBatchSize is the most deliveries Prune deletes in one statement,
	// so that pruning a large backlog never holds locks for long; zero means
	// DefaultPruneBatchSize.
	PruneBatchSize int
}

// Validate reports whether o can be used: nil, or an error wrapping
// ErrInvalidOptions that names every problem.
func (o LogOptions) Validate() error {
	errs := []error{o.Options.Validate()}
	if o.PruneBatchSize < 0 {
		errs = append(errs, fmt.Errorf("%w: PruneBatchSize %d is negative", ErrInvalidOptions, o.PruneBatchSize))
	}
	return errors.Join(errs...)
}

// The names of the tables and indexes, after the prefix. Migrations refer to
// them through names, never by spelling them out.
const (
	migrationsTable = "migrations"
	webhooksTable   = "webhooks"
	deliveriesTable = "deliveries"
	attemptsTable   = "attempts"

	webhooksEventTypeIndex   = "webhooks_event_type_idx"
	deliveriesCompletedIndex = "deliveries_completed_idx"
	deliveriesWebhookIndex   = "deliveries_webhook_idx"
	deliveriesEventIndex     = "deliveries_event_idx"
	deliveriesOutcomeIndex   = "deliveries_outcome_idx"
	attemptsStartedIndex     = "attempts_started_idx"
)

// longestSuffix is the length of the longest name that follows the prefix.
// PostgreSQL shortens the names it generates itself (such as those of primary
// keys) to fit, so only the names chosen here count.
func longestSuffix() int {
	n := 0
	for _, s := range []string{
		migrationsTable, webhooksTable, deliveriesTable, attemptsTable,
		webhooksEventTypeIndex, deliveriesCompletedIndex, deliveriesWebhookIndex,
		deliveriesEventIndex, deliveriesOutcomeIndex, attemptsStartedIndex,
	} {
		n = max(n, len(s))
	}
	return n
}

func (o Options) withDefaults() Options {
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	if o.TablePrefix == "" {
		o.TablePrefix = DefaultTablePrefix
	}
	return o
}

// names holds the quoted, schema-qualified names of validated Options,
// ready to be written into SQL.
type names struct {
	schema     string // unquoted, for catalog lookups
	prefix     string // unquoted, for index names
	migrations string
	webhooks   string
	deliveries string
	attempts   string
}

// newNames validates o and quotes its names.
func newNames(o Options) (names, error) {
	if err := o.Validate(); err != nil {
		return names{}, err
	}
	o = o.withDefaults()
	table := func(suffix string) string { return pgident.Quote(o.Schema) + "." + pgident.Quote(o.TablePrefix+suffix) }
	return names{
		schema:     o.Schema,
		prefix:     o.TablePrefix,
		migrations: table(migrationsTable),
		webhooks:   table(webhooksTable),
		deliveries: table(deliveriesTable),
		attempts:   table(attemptsTable),
	}, nil
}

// index returns the quoted name of an index, unqualified: PostgreSQL puts an
// index in the schema of its table.
func (n names) index(suffix string) string { return pgident.Quote(n.prefix + suffix) }
