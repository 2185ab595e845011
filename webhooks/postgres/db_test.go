package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/postgres"
	"github.com/hookbus/hookbus/webhooks/webhookstest"
)

// testURLEnv names the environment variable holding the URL of the
// PostgreSQL database the tests use. Each test works in a schema of its own,
// created and dropped by the test, so tests run in parallel and repeatedly
// against one database.
const testURLEnv = "HOOKBUS_TEST_POSTGRES_URL"

// testDB returns a database handle closed at the end of the test, or skips
// the test when no database is configured.
func testDB(t *testing.T) *sql.DB {
	t.Helper()
	url := os.Getenv(testURLEnv)
	if url == "" {
		t.Skip("HOOKBUS_TEST_POSTGRES_URL not set: skipping PostgreSQL tests")
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	db.SetMaxOpenConns(10)
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("%s is set but the database is unreachable: %v", testURLEnv, err)
	}
	return db
}

// freshOptions returns Options naming a new schema, not created yet, that is
// dropped with everything in it at the end of the test.
func freshOptions(t *testing.T, db *sql.DB) postgres.Options {
	t.Helper()
	opts := postgres.Options{Schema: randomName("hookbus_test_")}
	t.Cleanup(func() { dropSchema(t, db, opts.Schema) })
	return opts
}

// migrated returns fresh Options whose tables Migrate created.
func migrated(t *testing.T, db *sql.DB) postgres.Options {
	t.Helper()
	opts := freshOptions(t, db)
	if err := postgres.Migrate(t.Context(), db, opts); err != nil {
		t.Fatalf("Migrate = %v", err)
	}
	return opts
}

func dropSchema(t *testing.T, db *sql.DB, schema string) {
	t.Helper()
	// t.Context is already cancelled when cleanups run.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`); err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
	}
}

// randomName returns prefix followed by 16 random hex digits: a valid
// identifier no other test run uses.
func randomName(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// dbQuerier is the part of *sql.DB the assertions use.
type dbQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// fixtureWebhook returns a valid webhook with the given id.
func fixtureWebhook(id string) webhooks.Webhook {
	w := webhookstest.NewWebhook(webhooks.MeetingStatusChangedEvent, "https://example.com/hooks")
	w.ID = id
	w.CreatedAt = time.Date(2025, time.June, 2, 9, 30, 0, 0, time.UTC)
	w.UpdatedAt = w.CreatedAt
	return w
}

// schemaExists reports whether the schema exists.
func schemaExists(t *testing.T, db *sql.DB, schema string) bool {
	t.Helper()
	var ok bool
	if err := db.QueryRowContext(t.Context(),
		`SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)`, schema).Scan(&ok); err != nil {
		t.Fatalf("look up schema %s: %v", schema, err)
	}
	return ok
}

// tableExists reports whether the schema-qualified table exists.
func tableExists(t *testing.T, db *sql.DB, table string) bool {
	t.Helper()
	var ok bool
	if err := db.QueryRowContext(t.Context(), `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil {
		t.Fatalf("look up table %s: %v", table, err)
	}
	return ok
}
