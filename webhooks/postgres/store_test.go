package postgres_test

import (
	"database/sql"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/postgres"
	"github.com/hookbus/hookbus/webhooks/webhookstest"
)

// newStore returns a Store on tables of its own in db.
func newStore(t *testing.T, db *sql.DB) *postgres.Store {
	t.Helper()
	s, err := postgres.NewStore(db, migrated(t, db))
	if err != nil {
		t.Fatalf("NewStore = %v", err)
	}
	return s
}

func TestStoreConformance(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	webhookstest.TestStore(t, func(t *testing.T) webhooks.Store { return newStore(t, db) })
}

func TestStoreTimesInUTCToTheMicrosecond(t *testing.T) {
	t.Parallel()
	s := newStore(t, testDB(t))
	zone := time.FixedZone("UTC+2", 2*3600)
	created := time.Date(2025, time.June, 2, 11, 30, 0, 123456789, zone)
	w := webhooks.Webhook{
		ID: "wh-1", Name: "n", URL: "https://example.com", EventType: webhooks.MeetingStatusChangedEvent,
		PreviousSecrets: []webhooks.PreviousSecret{{Secret: webhookstest.Secret, ExpiresAt: created.Add(time.Hour)}},
		CreatedAt:       created,
		UpdatedAt:       created,
	}
	if err := s.Create(t.Context(), w); err != nil {
		t.Fatalf("Create = %v", err)
	}
	got, err := s.Get(t.Context(), w.ID)
	if err != nil {
		t.Fatalf("Get = %v", err)
	}
	want := created.Truncate(time.Microsecond).UTC()
	for _, tc := range []struct {
		name string
		got  time.Time
		want time.Time
	}{
		{"CreatedAt", got.CreatedAt, want},
		{"UpdatedAt", got.UpdatedAt, want},
		{"PreviousSecrets[0].ExpiresAt", got.PreviousSecrets[0].ExpiresAt, want.Add(time.Hour)},
	} {
		if !tc.got.Equal(tc.want) || tc.got.Location() != time.UTC {
			t.Errorf("%s = %v, want %v in UTC", tc.name, tc.got, tc.want)
		}
	}
}

func TestStoreBeforeMigrate(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	opts := freshOptions(t, db)
	s, err := postgres.NewStore(db, opts)
	if err != nil {
		t.Fatalf("NewStore = %v", err)
	}
	if schemaExists(t, db, opts.Schema) {
		t.Fatalf("NewStore created schema %s", opts.Schema)
	}
	// A missing table is a storage failure, not a missing webhook.
	_, err = s.Get(t.Context(), "wh-1")
	if err == nil || errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Get before Migrate = %v, want a storage error", err)
	}
}

// Ids are ordered byte by byte, as by the in-memory store, whatever the
// database's collation: the id columns use the "C" collation.
func TestStoreOrdersIDsByBytes(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	opts := migrated(t, db)
	s, err := postgres.NewStore(db, opts)
	if err != nil {
		t.Fatalf("NewStore = %v", err)
	}
	ids := []string{"b", "a_1", "B", "a-1", "a", "é"}
	for _, id := range ids {
		if err := s.Create(t.Context(), fixtureWebhook(id)); err != nil { // one CreatedAt for all
			t.Fatalf("Create(%q) = %v", id, err)
		}
	}
	list, err := s.ListByEventType(t.Context(), webhooks.MeetingStatusChangedEvent)
	if err != nil {
		t.Fatalf("ListByEventType = %v", err)
	}
	var got []string
	for _, w := range list {
		got = append(got, w.ID)
	}
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("ListByEventType ids = %q, want byte order %q", got, want)
	}

	// This database's collation may order like "C" anyway: check the columns.
	rows, err := db.QueryContext(t.Context(), `SELECT table_name, column_name, coalesce(collation_name, '')
		FROM information_schema.columns
		WHERE table_schema = $1 AND column_name IN
			('id', 'event_type', 'delivery_id', 'webhook_id', 'event_id', 'outcome', 'redelivery_of')`, opts.Schema)
	if err != nil {
		t.Fatalf("read columns: %v", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var table, column, collation string
		if err := rows.Scan(&table, &column, &collation); err != nil {
			t.Fatalf("scan: %v", err)
		}
		n++
		if collation != "C" {
			t.Errorf("%s.%s has collation %q, want C", table, column, collation)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("rows: %v", err)
	}
	if n != 11 {
		t.Errorf("found %d identifier columns, want 11", n)
	}
}
