package postgres_test

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/postgres"
	"github.com/hookbus/hookbus/webhooks/webhookstest"
)

// newDeliveryLog returns a DeliveryLog on tables of its own in db.
func newDeliveryLog(t *testing.T, db *sql.DB, opts postgres.LogOptions) *postgres.DeliveryLog {
	t.Helper()
	opts.Options = migrated(t, db)
	l, err := postgres.NewDeliveryLog(db, opts)
	if err != nil {
		t.Fatalf("NewDeliveryLog = %v", err)
	}
	return l
}

func TestDeliveryLogConformance(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	webhookstest.TestDeliveryLog(t, func(t *testing.T) webhooks.DeliveryLog {
		return newDeliveryLog(t, db, postgres.LogOptions{})
	})
}

// record returns a dead-lettered delivery with every field set, completed at
// the given minute.
func record(id string, minute int) webhooks.DeliveryRecord {
	completed := time.Date(2025, time.June, 2, 9, 30, 0, 0, time.UTC).Add(time.Duration(minute) * time.Minute)
	return webhooks.DeliveryRecord{
		ID:          id,
		EventID:     "evt-" + id,
		EventType:   webhooks.MeetingStatusChangedEvent,
		WebhookID:   "wh-1",
		Outcome:     webhooks.OutcomeDeadLettered,
		Attempts:    4,
		StatusCode:  503,
		Error:       "webhooks: unexpected status: status 503",
		Payload:     []byte(`{"meetingId":"m-1","status":"meeting_created"}`),
		OccurredAt:  completed.Add(-2 * time.Minute),
		CreatedAt:   completed.Add(-time.Minute),
		CompletedAt: completed,
	}
}

// attempt returns attempt n of the delivery, started n minutes after the
// given minute.
func attempt(deliveryID string, n, minute int) webhooks.Attempt {
	started := time.Date(2025, time.June, 2, 9, 30, 0, 0, time.UTC).Add(time.Duration(minute+n) * time.Minute)
	return webhooks.Attempt{
		DeliveryID:   deliveryID,
		EventID:      "evt-" + deliveryID,
		WebhookID:    "wh-1",
		Number:       n,
		StartedAt:    started,
		Duration:     1500 * time.Millisecond,
		StatusCode:   503,
		Error:        "webhooks: unexpected status: status 503",
		ResponseBody: []byte("busy"),
	}
}

func TestDeliveryLogDropsDeliveredPayload(t *testing.T) {
	t.Parallel()
	l := newDeliveryLog(t, testDB(t), postgres.LogOptions{})
	ctx := t.Context()
	delivered := record("dlv-1", 0)
	delivered.Outcome = webhooks.OutcomeDelivered
	failed := record("dlv-2", 1)
	for _, d := range []webhooks.DeliveryRecord{delivered, failed} {
		if err := l.RecordDelivery(ctx, d); err != nil {
			t.Fatalf("RecordDelivery(%q) = %v", d.ID, err)
		}
	}
	got, err := l.Delivery(ctx, delivered.ID)
	if err != nil {
		t.Fatalf("Delivery(%q) = %v", delivered.ID, err)
	}
	if got.Payload != nil {
		t.Errorf("delivered record kept its payload %q", got.Payload)
	}
	got, err = l.Delivery(ctx, failed.ID)
	if err != nil {
		t.Fatalf("Delivery(%q) = %v", failed.ID, err)
	}
	if !bytes.Equal(got.Payload, failed.Payload) {
		t.Errorf("dead-lettered record payload = %q, want %q", got.Payload, failed.Payload)
	}
}

func TestDeliveryLogTruncatesResponseBody(t *testing.T) {
	t.Parallel()
	l := newDeliveryLog(t, testDB(t), postgres.LogOptions{})
	a := attempt("dlv-1", 1, 0)
	a.ResponseBody = bytes.Repeat([]byte("x"), webhooks.MaxLoggedResponseBytes+100)
	if err := l.RecordAttempt(t.Context(), a); err != nil {
		t.Fatalf("RecordAttempt = %v", err)
	}
	got, err := l.Attempts(t.Context(), a.DeliveryID)
	if err != nil || len(got) != 1 {
		t.Fatalf("Attempts = %d attempts, %v; want 1", len(got), err)
	}
	if !bytes.Equal(got[0].ResponseBody, a.ResponseBody[:webhooks.MaxLoggedResponseBytes]) {
		t.Errorf("ResponseBody has %d bytes, want the first %d", len(got[0].ResponseBody), webhooks.MaxLoggedResponseBytes)
	}
}

// PostgreSQL text holds neither NUL bytes nor invalid UTF-8; an error
// message carrying them must still be recorded.
func TestDeliveryLogStoresAnyErrorText(t *testing.T) {
	t.Parallel()
	l := newDeliveryLog(t, testDB(t), postgres.LogOptions{})
	ctx := t.Context()
	const raw, want = "status \x00 text \xff end", "status \uFFFD text \uFFFD end"
	a := attempt("dlv-1", 1, 0)
	a.Error = raw
	if err := l.RecordAttempt(ctx, a); err != nil {
		t.Fatalf("RecordAttempt = %v", err)
	}
	d := record("dlv-1", 0)
	d.Error = raw
	if err := l.RecordDelivery(ctx, d); err != nil {
		t.Fatalf("RecordDelivery = %v", err)
	}
	attempts, err := l.Attempts(ctx, "dlv-1")
	if err != nil || len(attempts) != 1 {
		t.Fatalf("Attempts = %d attempts, %v; want 1", len(attempts), err)
	}
	if attempts[0].Error != want {
		t.Errorf("attempt Error = %q, want %q", attempts[0].Error, want)
	}
	got, err := l.Delivery(ctx, "dlv-1")
	if err != nil {
		t.Fatalf("Delivery = %v", err)
	}
	if got.Error != want {
		t.Errorf("delivery Error = %q, want %q", got.Error, want)
	}
}

// An event from a broker may carry an id the sender refuses as it is (not
// UTF-8, or with a NUL): its refusal still goes on record, the id as a text
// column can hold it.
func TestDeliveryLogStoresAnyEventID(t *testing.T) {
	t.Parallel()
	l := newDeliveryLog(t, testDB(t), postgres.LogOptions{})
	ctx := t.Context()
	for i, tc := range []struct{ raw, want string }{{"evt-\xff", "evt-\uFFFD"}, {"evt-\x00", "evt-\uFFFD"}} {
		id := fmt.Sprintf("dlv-%d", i)
		a := attempt(id, 1, 0)
		a.EventID = tc.raw
		if err := l.RecordAttempt(ctx, a); err != nil {
			t.Errorf("RecordAttempt(event id %q) = %v", tc.raw, err)
		}
		d := record(id, 0)
		d.EventID, d.Outcome, d.Attempts, d.StatusCode = tc.raw, webhooks.OutcomeRefused, 0, 0
		if err := l.RecordDelivery(ctx, d); err != nil {
			t.Errorf("RecordDelivery(event id %q) = %v", tc.raw, err)
			continue
		}
		got, err := l.Delivery(ctx, id)
		if err != nil || got.EventID != tc.want {
			t.Errorf("Delivery(%s) = event id %q, %v; want %q", id, got.EventID, err, tc.want)
		}
		d.ID, d.Outcome = id+"-outcome", webhooks.OutcomeDelivered
		last := attempt(d.ID, 1, 0)
		last.EventID = tc.raw
		if err := l.RecordOutcome(ctx, last, d); err != nil {
			t.Errorf("RecordOutcome(event id %q) = %v", tc.raw, err)
		}
	}
}

func TestDeliveryLogDuplicateAttemptKeepsFirst(t *testing.T) {
	t.Parallel()
	l := newDeliveryLog(t, testDB(t), postgres.LogOptions{})
	ctx := t.Context()
	first := attempt("dlv-1", 1, 0)
	second := first
	second.StatusCode, second.Error = 200, ""
	for _, a := range []webhooks.Attempt{first, second} {
		if err := l.RecordAttempt(ctx, a); err != nil {
			t.Fatalf("RecordAttempt = %v", err)
		}
	}
	got, err := l.Attempts(ctx, "dlv-1")
	if err != nil {
		t.Fatalf("Attempts = %v", err)
	}
	if len(got) != 1 || got[0].StatusCode != first.StatusCode {
		t.Errorf("Attempts = %+v, want only the first one recorded", got)
	}
}

// Recording is one statement that the pgx driver prepares once per
// connection and reuses, as it does in its default mode.
func TestDeliveryLogRecordingIsPrepared(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	db.SetMaxOpenConns(1) // so the session queried below is the one that recorded
	opts := migrated(t, db)
	l, err := postgres.NewDeliveryLog(db, postgres.LogOptions{Options: opts})
	if err != nil {
		t.Fatalf("NewDeliveryLog = %v", err)
	}
	ctx := t.Context()
	for n := 1; n <= 3; n++ {
		if err := l.RecordAttempt(ctx, attempt("dlv-1", n, 0)); err != nil {
			t.Fatalf("RecordAttempt = %v", err)
		}
	}
	if err := l.RecordDelivery(ctx, record("dlv-1", 0)); err != nil {
		t.Fatalf("RecordDelivery = %v", err)
	}
	rows, err := db.QueryContext(ctx, `SELECT statement FROM pg_prepared_statements WHERE statement LIKE 'INSERT INTO%'`)
	if err != nil {
		t.Fatalf("query pg_prepared_statements: %v", err)
	}
	defer rows.Close()
	var attempts, deliveries int
	for rows.Next() {
		var stmt string
		if err := rows.Scan(&stmt); err != nil {
			t.Fatalf("scan: %v", err)
		}
		switch {
		case strings.Contains(stmt, opts.Schema+`"."hookbus_attempts"`):
			attempts++
		case strings.Contains(stmt, opts.Schema+`"."hookbus_deliveries"`):
			deliveries++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("rows: %v", err)
	}
	if attempts != 1 || deliveries != 1 {
		t.Errorf("prepared INSERT statements: %d for attempts, %d for deliveries; want 1 and 1", attempts, deliveries)
	}
}

func TestDeliveryLogBeforeMigrate(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	opts := freshOptions(t, db)
	l, err := postgres.NewDeliveryLog(db, postgres.LogOptions{Options: opts})
	if err != nil {
		t.Fatalf("NewDeliveryLog = %v", err)
	}
	if schemaExists(t, db, opts.Schema) {
		t.Fatalf("NewDeliveryLog created schema %s", opts.Schema)
	}
	_, err = l.Delivery(t.Context(), "dlv-1")
	if err == nil || errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Delivery before Migrate = %v, want a storage error", err)
	}
}

// Times are stored to the microsecond, yet Since keeps its meaning "at or
// after" when it falls between two microseconds.
func TestDeliveryLogSinceBetweenMicroseconds(t *testing.T) {
	t.Parallel()
	l := newDeliveryLog(t, testDB(t), postgres.LogOptions{})
	d := record("dlv-1", 0)
	if err := l.RecordDelivery(t.Context(), d); err != nil {
		t.Fatalf("RecordDelivery = %v", err)
	}
	for _, tc := range []struct {
		since time.Time
		want  int
	}{
		{d.CompletedAt.Add(-500 * time.Nanosecond), 1},
		{d.CompletedAt, 1},
		{d.CompletedAt.Add(500 * time.Nanosecond), 0},
	} {
		got, err := l.Deliveries(t.Context(), webhooks.DeliveryQuery{Since: tc.since})
		if err != nil {
			t.Fatalf("Deliveries = %v", err)
		}
		if len(got) != tc.want {
			t.Errorf("Deliveries(Since %v) returned %d records, want %d", tc.since, len(got), tc.want)
		}
	}
}
