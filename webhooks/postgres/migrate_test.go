package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/postgres"
)

func TestMigrateCreatesTables(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	opts := freshOptions(t, db)
	for _, table := range opts.Tables() {
		if tableExists(t, db, table) {
			t.Fatalf("table %s exists before Migrate", table)
		}
	}
	if err := postgres.Migrate(t.Context(), db, opts); err != nil {
		t.Fatalf("Migrate = %v", err)
	}
	for _, table := range opts.Tables() {
		if !tableExists(t, db, table) {
			t.Errorf("table %s missing after Migrate", table)
		}
	}
}

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	opts := migrated(t, db)
	s, err := postgres.NewStore(db, opts)
	if err != nil {
		t.Fatalf("NewStore = %v", err)
	}
	w := fixtureWebhook("wh-1")
	if err := s.Create(t.Context(), w); err != nil {
		t.Fatalf("Create = %v", err)
	}
	for range 2 {
		if err := postgres.Migrate(t.Context(), db, opts); err != nil {
			t.Fatalf("Migrate again = %v", err)
		}
	}
	if _, err := s.Get(t.Context(), w.ID); err != nil {
		t.Errorf("Get after migrating again = %v", err)
	}
	assertMigrationsRecorded(t, db, opts)
}

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	opts := freshOptions(t, db) // the schema too is created concurrently
	const processes = 4
	errs := make([]error, processes)
	var wg sync.WaitGroup
	for i := range processes {
		wg.Go(func() { errs[i] = postgres.Migrate(t.Context(), db, opts) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d = %v", i, err)
		}
	}
	for _, table := range opts.Tables() {
		if !tableExists(t, db, table) {
			t.Errorf("table %s missing after concurrent Migrate", table)
		}
	}
	assertMigrationsRecorded(t, db, opts)
}

// Two prefixes make two independent sets of tables in one schema.
func TestMigrateTablePrefixes(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	opts := freshOptions(t, db)
	other := opts
	other.TablePrefix = "other_"
	for _, o := range []postgres.Options{opts, other} {
		if err := postgres.Migrate(t.Context(), db, o); err != nil {
			t.Fatalf("Migrate(%+v) = %v", o, err)
		}
	}
	a, err := postgres.NewStore(db, opts)
	if err != nil {
		t.Fatalf("NewStore = %v", err)
	}
	b, err := postgres.NewStore(db, other)
	if err != nil {
		t.Fatalf("NewStore = %v", err)
	}
	if err := a.Create(t.Context(), fixtureWebhook("wh-1")); err != nil {
		t.Fatalf("Create = %v", err)
	}
	if list, err := b.List(t.Context()); err != nil || len(list) != 0 {
		t.Errorf("List of the other prefix = %d webhooks, %v; want none", len(list), err)
	}
}

func TestMigrateCancelledContext(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	opts := freshOptions(t, db)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := postgres.Migrate(ctx, db, opts); !errors.Is(err, context.Canceled) {
		t.Errorf("Migrate with a cancelled context = %v, want context.Canceled", err)
	}
	if schemaExists(t, db, opts.Schema) {
		t.Errorf("Migrate with a cancelled context created schema %s", opts.Schema)
	}
}

// assertMigrationsRecorded checks that the migrations table holds each
// version once.
func assertMigrationsRecorded(t *testing.T, db dbQuerier, opts postgres.Options) {
	t.Helper()
	var rows, versions int
	err := db.QueryRowContext(t.Context(),
		`SELECT count(*), count(DISTINCT version) FROM `+opts.Tables()[0]).Scan(&rows, &versions)
	if err != nil {
		t.Fatalf("read migrations: %v", err)
	}
	if rows == 0 || rows != versions {
		t.Errorf("migrations table: %d rows for %d versions, want one row per version", rows, versions)
	}
}

// TestMigrateUpgradesVersion1 migrates tables as the first version left
// them: deliveries recorded before get no WebhookCreatedAt, and the log
// records and reads it for new ones.
func TestMigrateUpgradesVersion1(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	opts := migrated(t, db)
	tables := opts.Tables()
	migrations, deliveries := tables[0], tables[2]
	for _, stmt := range []string{
		`ALTER TABLE ` + deliveries + ` DROP COLUMN webhook_created_at`,
		`DELETE FROM ` + migrations + ` WHERE version > 1`,
		`INSERT INTO ` + deliveries + ` (id, event_id, event_type, webhook_id, outcome, attempts, status_code, error,
	payload, occurred_at, created_at, completed_at) VALUES ('dlv-old', 'evt-1', 'meeting.status_changed', 'wh-1',
	'dead_lettered', 4, 500, 'status 500', '\x7b7d', now(), now(), now())`,
	} {
		if _, err := db.ExecContext(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := postgres.Migrate(t.Context(), db, opts); err != nil {
		t.Fatalf("Migrate = %v", err)
	}
	assertMigrationsRecorded(t, db, opts)
	l, err := postgres.NewDeliveryLog(db, postgres.LogOptions{Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	old, err := l.Delivery(t.Context(), "dlv-old")
	if err != nil || !old.WebhookCreatedAt.IsZero() || string(old.Payload) != "{}" {
		t.Errorf("Delivery(dlv-old) = %+v, %v; want it with no WebhookCreatedAt", old, err)
	}
	created := time.Date(2026, 3, 4, 5, 6, 7, 891011000, time.UTC)
	rec := webhooks.DeliveryRecord{ID: "dlv-new", WebhookID: "wh-1", WebhookCreatedAt: created, Outcome: webhooks.OutcomeDelivered,
		OccurredAt: created, CreatedAt: created, CompletedAt: created}
	if err := l.RecordDelivery(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Delivery(t.Context(), "dlv-new"); err != nil || !got.WebhookCreatedAt.Equal(created) {
		t.Errorf("Delivery(dlv-new) = %+v, %v; want WebhookCreatedAt %v", got, err, created)
	}
}
