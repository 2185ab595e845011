package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/hookbus/hookbus/internal/pgident"
)

// Migrate creates the schema of opts if it does not exist, and in it the
// tables and indexes that a Store and a DeliveryLog with the same Options
// need. It is explicit: neither importing this package nor its constructors
// touch the database.
//
// Migrate is idempotent and safe to run concurrently, from one process or
// several (every replica may call it at start-up): it runs in one
// transaction that first takes a transaction-level advisory lock
// (pg_advisory_xact_lock) specific to the schema, records the migrations it
// applies in a table of its own (the first name of Options.Tables), and
// applies only those not recorded yet. A failure rolls everything back.
//
// The role needs the CREATE privilege on the schema, and on the database
// when the schema does not exist yet; a migration that alters a table
// (version 2 adds deliveries.webhook_created_at) needs the role to own it,
// as it does the tables Migrate created. Run Migrate before a new version
// of this package writes to the tables: its statements name the columns
// of the latest migration. It fails with ErrNilDB or
// ErrInvalidOptions (wrapped) before touching the database, and returns
// ctx's error, possibly wrapped, when ctx ends first.
func Migrate(ctx context.Context, db *sql.DB, opts Options) (err error) {
	if db == nil {
		return ErrNilDB
	}
	n, err := newNames(opts)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	if err := migrateTx(ctx, tx, n); err != nil {
		return fmt.Errorf("postgres: migrate schema %q: %w", n.schema, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("postgres: migrate schema %q: commit: %w", n.schema, err)
	}
	return nil
}

// migration is one step of the evolution of the tables. Steps are applied in
// order and never change once released: a new version appends a step.
type migration struct {
	version    int
	statements func(n names) []string
}

// migrations returns every step, in order. The statements are idempotent on
// their own (IF NOT EXISTS), so tables created by hand with the same
// definitions are adopted rather than refused.
func migrations() []migration {
	return []migration{
		{version: 1, statements: initialTables},
		{version: 2, statements: webhookCreatedAtColumn},
	}
}

func migrateTx(ctx context.Context, tx *sql.Tx, n names) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey(n.schema)); err != nil {
		return fmt.Errorf("advisory lock: %w", err)
	}
	// CREATE SCHEMA IF NOT EXISTS checks the CREATE privilege on the
	// database even when the schema exists, so create it only if missing.
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)`,
		n.schema).Scan(&exists); err != nil {
		return fmt.Errorf("look up schema: %w", err)
	}
	if !exists {
		if _, err := tx.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgident.Quote(n.schema)); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+n.migrations+` (
	version    integer PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	applied, err := appliedVersions(ctx, tx, n)
	if err != nil {
		return err
	}
	for _, m := range migrations() {
		if applied[m.version] {
			continue
		}
		for _, stmt := range m.statements(n) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migration %d: %w", m.version, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+n.migrations+` (version) VALUES ($1)`, m.version); err != nil {
			return fmt.Errorf("migration %d: record: %w", m.version, err)
		}
	}
	return nil
}

func appliedVersions(ctx context.Context, tx *sql.Tx, n names) (map[int]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version FROM `+n.migrations)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	defer rows.Close()
	applied := make(map[int]bool)
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	return applied, nil
}

// initialTables creates the three tables and their indexes.
//
// Identifier columns use the "C" collation so that ORDER BY id is byte
// order, the order of the in-memory store and log, whatever the database's
// collation; indexes then serve both equality and ordering, and comparisons
// are plain byte comparisons.
func initialTables(n names) []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + n.webhooks + ` (
	id               text COLLATE "C" PRIMARY KEY,
	name             text NOT NULL,
	url              text NOT NULL,
	event_type       text COLLATE "C" NOT NULL,
	headers          jsonb NOT NULL DEFAULT '{}',
	description      text NOT NULL DEFAULT '',
	secret           text NOT NULL DEFAULT '',
	previous_secrets jsonb NOT NULL DEFAULT '[]',
	disabled         boolean NOT NULL DEFAULT false,
	disabled_reason  text NOT NULL DEFAULT '',
	created_at       timestamptz NOT NULL,
	updated_at       timestamptz NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS ` + n.index(webhooksEventTypeIndex) + ` ON ` + n.webhooks + ` (event_type, created_at, id)`,

		`CREATE TABLE IF NOT EXISTS ` + n.deliveries + ` (
	id            text COLLATE "C" PRIMARY KEY,
	event_id      text COLLATE "C" NOT NULL,
	event_type    text COLLATE "C" NOT NULL,
	webhook_id    text COLLATE "C" NOT NULL,
	outcome       text COLLATE "C" NOT NULL,
	attempts      integer NOT NULL,
	status_code   integer NOT NULL,
	error         text NOT NULL,
	payload       bytea,
	occurred_at   timestamptz NOT NULL,
	created_at    timestamptz NOT NULL,
	completed_at  timestamptz NOT NULL,
	redelivery_of text COLLATE "C" NOT NULL DEFAULT ''
)`,
		`CREATE INDEX IF NOT EXISTS ` + n.index(deliveriesCompletedIndex) + ` ON ` + n.deliveries + ` (completed_at, id)`,
		`CREATE INDEX IF NOT EXISTS ` + n.index(deliveriesWebhookIndex) + ` ON ` + n.deliveries + ` (webhook_id, completed_at, id)`,
		`CREATE INDEX IF NOT EXISTS ` + n.index(deliveriesEventIndex) + ` ON ` + n.deliveries + ` (event_id, completed_at, id)`,
		`CREATE INDEX IF NOT EXISTS ` + n.index(deliveriesOutcomeIndex) + ` ON ` + n.deliveries + ` (outcome, completed_at, id)`,

		// No foreign key to the deliveries: attempts are recorded before
		// their delivery's outcome, and some (test sends) have none.
		`CREATE TABLE IF NOT EXISTS ` + n.attempts + ` (
	delivery_id   text COLLATE "C" NOT NULL,
	number        integer NOT NULL,
	event_id      text COLLATE "C" NOT NULL,
	webhook_id    text COLLATE "C" NOT NULL,
	started_at    timestamptz NOT NULL,
	duration      bigint NOT NULL,
	status_code   integer NOT NULL,
	error         text NOT NULL,
	response_body bytea,
	PRIMARY KEY (delivery_id, number)
)`,
		// Serves Prune's removal of attempts that never got an outcome.
		`CREATE INDEX IF NOT EXISTS ` + n.index(attemptsStartedIndex) + ` ON ` + n.attempts + ` (started_at)`,
	}
}

// webhookCreatedAtColumn records, with each delivery, the CreatedAt of the
// webhook it was made for; deliveries recorded before have none (NULL).
func webhookCreatedAtColumn(n names) []string {
	return []string{
		`ALTER TABLE ` + n.deliveries + ` ADD COLUMN IF NOT EXISTS webhook_created_at timestamptz`,
	}
}

// migrationLockKey returns the advisory lock key of a schema's migrations:
// two Migrate calls on the same schema exclude each other, whatever their
// prefixes (they may both create the schema), while other schemas proceed.
func migrationLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("github.com/hookbus/hookbus/webhooks/postgres.Migrate\x00" + schema))
	return int64(h.Sum64())
}

// ignoreDone drops the error of a rollback after the transaction already
// ended (for example when the connection was lost).
func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}
