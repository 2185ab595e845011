package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookbus/hookbus/webhooks"
)

// DeliveryLog is a webhooks.DeliveryLog keeping deliveries and their
// attempts in two PostgreSQL tables (the last two names of Options.Tables),
// created by Migrate.
//
// Recording is on the delivery engine's hot path, so RecordAttempt and
// RecordDelivery are each a single INSERT, in no explicit transaction: one
// round trip. A second RecordDelivery for a delivery id fails with
// webhooks.ErrConflict and changes nothing. A second RecordAttempt with the
// DeliveryID and Number of a recorded attempt is ignored: recording an
// attempt is idempotent and the first one recorded is kept.
//
// Like webhooks.MemoryLog, it drops the Payload of delivered records and
// keeps at most webhooks.MaxLoggedResponseBytes of a ResponseBody. Error
// strings that PostgreSQL cannot store as text (invalid UTF-8, NUL bytes)
// are stored with those bytes replaced by U+FFFD, so an odd error message
// never costs a log entry. Times are stored as timestamptz, with microsecond
// precision, and come back in UTC; durations are stored in nanoseconds.
//
// Deliveries are read through indexes on (webhook_id, completed_at, id),
// (event_id, completed_at, id), (outcome, completed_at, id) and
// (completed_at, id), in the order CompletedAt, then ID in byte order.
//
// The tables grow without bound: call Prune periodically to delete old
// entries.
//
// A DeliveryLog is safe for concurrent use. Its zero value is not usable:
// create one with NewDeliveryLog.
type DeliveryLog struct {
	db         *sql.DB
	q          logQueries
	pruneBatch int
}

var _ webhooks.DeliveryLog = (*DeliveryLog)(nil)

// NewDeliveryLog returns a DeliveryLog on the tables of opts, which Migrate
// creates. It does not touch the database. It fails with ErrNilDB or
// ErrInvalidOptions.
//
// db may use any PostgreSQL driver for database/sql; with pgx
// (github.com/jackc/pgx/v5/stdlib) in its default mode every statement is
// prepared once per connection and reused.
func NewDeliveryLog(db *sql.DB, opts LogOptions) (*DeliveryLog, error) {
	if db == nil {
		return nil, ErrNilDB
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	n, err := newNames(opts.Options)
	if err != nil {
		return nil, err
	}
	batch := opts.PruneBatchSize
	if batch == 0 {
		batch = DefaultPruneBatchSize
	}
	return &DeliveryLog{db: db, q: newLogQueries(n), pruneBatch: batch}, nil
}

// RecordAttempt implements webhooks.DeliveryLog.
func (l *DeliveryLog) RecordAttempt(ctx context.Context, a webhooks.Attempt) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := a.Validate(); err != nil {
		return err
	}
	if _, err := l.db.ExecContext(ctx, l.q.insertAttempt,
		a.DeliveryID, a.Number, storableText(a.EventID), a.WebhookID, dbTime(a.StartedAt), int64(a.Duration),
		a.StatusCode, storableText(a.Error), storedBody(a),
	); err != nil {
		return fmt.Errorf("postgres: record attempt %d of delivery %q: %w", a.Number, a.DeliveryID, err)
	}
	return nil
}

// RecordDelivery implements webhooks.DeliveryLog.
func (l *DeliveryLog) RecordDelivery(ctx context.Context, d webhooks.DeliveryRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := d.Validate(); err != nil {
		return err
	}
	res, err := l.db.ExecContext(ctx, l.q.insertDelivery,
		d.ID, storableText(d.EventID), string(d.EventType), d.WebhookID, string(d.Outcome), d.Attempts, d.StatusCode,
		storableText(d.Error), storedPayload(d), dbTime(d.OccurredAt), dbTime(d.CreatedAt), dbTime(d.CompletedAt), d.RedeliveryOf,
		nullTime(d.WebhookCreatedAt),
	)
	if err != nil {
		return fmt.Errorf("postgres: record delivery %q: %w", d.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("postgres: record delivery %q: %w", d.ID, err)
	} else if n == 0 {
		return fmt.Errorf("%w: delivery %q already recorded", webhooks.ErrConflict, d.ID)
	}
	return nil
}

// RecordOutcome implements webhooks.OutcomeRecorder: the delivery and its
// last attempt in one statement, so one commit.
func (l *DeliveryLog) RecordOutcome(ctx context.Context, last webhooks.Attempt, d webhooks.DeliveryRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := webhooks.ValidateOutcome(last, d); err != nil {
		return err
	}
	var inserted int
	err := l.db.QueryRowContext(ctx, l.q.insertOutcome,
		d.ID, storableText(d.EventID), string(d.EventType), d.WebhookID, string(d.Outcome), d.Attempts, d.StatusCode,
		storableText(d.Error), storedPayload(d), dbTime(d.OccurredAt), dbTime(d.CreatedAt), dbTime(d.CompletedAt), d.RedeliveryOf,
		nullTime(d.WebhookCreatedAt),
		last.Number, storableText(last.EventID), last.WebhookID, dbTime(last.StartedAt), int64(last.Duration),
		last.StatusCode, storableText(last.Error), storedBody(last),
	).Scan(&inserted)
	if err != nil {
		return fmt.Errorf("postgres: record delivery %q: %w", d.ID, err)
	}
	if inserted == 0 {
		return fmt.Errorf("%w: delivery %q already recorded", webhooks.ErrConflict, d.ID)
	}
	return nil
}

var _ webhooks.OutcomeRecorder = (*DeliveryLog)(nil)

// storedPayload is the payload kept for d: none for a delivered record.
func storedPayload(d webhooks.DeliveryRecord) []byte {
	if d.Outcome == webhooks.OutcomeDelivered {
		return nil
	}
	return d.Payload
}

// storedBody is the part of a's response body kept in the log.
func storedBody(a webhooks.Attempt) []byte {
	if len(a.ResponseBody) > webhooks.MaxLoggedResponseBytes {
		return a.ResponseBody[:webhooks.MaxLoggedResponseBytes]
	}
	return a.ResponseBody
}

// Delivery implements webhooks.DeliveryLog.
func (l *DeliveryLog) Delivery(ctx context.Context, id string) (webhooks.DeliveryRecord, error) {
	if err := ctx.Err(); err != nil {
		return webhooks.DeliveryRecord{}, err
	}
	if unstorable(id) {
		return webhooks.DeliveryRecord{}, fmt.Errorf("%w: delivery %q", webhooks.ErrNotFound, id)
	}
	d, err := scanDelivery(l.db.QueryRowContext(ctx, l.q.delivery, id))
	if errors.Is(err, sql.ErrNoRows) {
		return webhooks.DeliveryRecord{}, fmt.Errorf("%w: delivery %q", webhooks.ErrNotFound, id)
	}
	if err != nil {
		return webhooks.DeliveryRecord{}, fmt.Errorf("postgres: get delivery %q: %w", id, err)
	}
	return d, nil
}

// Deliveries implements webhooks.DeliveryLog. Every field of q narrows the
// selection in SQL, Limit included, so only the records returned are read.
func (l *DeliveryLog) Deliveries(ctx context.Context, q webhooks.DeliveryQuery) ([]webhooks.DeliveryRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if unstorable(q.WebhookID) || unstorable(q.EventID) {
		return []webhooks.DeliveryRecord{}, nil
	}
	query, args := l.q.deliveries(q)
	rows, err := l.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: query deliveries: %w", err)
	}
	defer rows.Close()
	out := []webhooks.DeliveryRecord{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: query deliveries: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: query deliveries: %w", err)
	}
	return out, nil
}

// Attempts implements webhooks.DeliveryLog.
func (l *DeliveryLog) Attempts(ctx context.Context, deliveryID string) ([]webhooks.Attempt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if unstorable(deliveryID) {
		return []webhooks.Attempt{}, nil
	}
	rows, err := l.db.QueryContext(ctx, l.q.attempts, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("postgres: attempts of delivery %q: %w", deliveryID, err)
	}
	defer rows.Close()
	out := []webhooks.Attempt{}
	for rows.Next() {
		var (
			a        webhooks.Attempt
			started  time.Time
			duration int64
		)
		if err := rows.Scan(&a.DeliveryID, &a.Number, &a.EventID, &a.WebhookID, &started, &duration,
			&a.StatusCode, &a.Error, &a.ResponseBody); err != nil {
			return nil, fmt.Errorf("postgres: attempts of delivery %q: %w", deliveryID, err)
		}
		a.StartedAt, a.Duration = started.UTC(), time.Duration(duration)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: attempts of delivery %q: %w", deliveryID, err)
	}
	return out, nil
}

// deliveryColumns are the columns of the deliveries table, in the order of
// the insert statement and of scanDelivery.
const deliveryColumns = `id, event_id, event_type, webhook_id, outcome, attempts, status_code, error,
	payload, occurred_at, created_at, completed_at, redelivery_of, webhook_created_at`

// attemptColumns are the columns of the attempts table, in the order of the
// insert statement and of Attempts.
const attemptColumns = `delivery_id, number, event_id, webhook_id, started_at, duration, status_code,
	error, response_body`

// logQueries are the statements of a DeliveryLog, built once with its table
// names. Their text never changes (Deliveries has one text per combination
// of the fields of a query), so drivers that cache prepared statements
// prepare each once per connection.
type logQueries struct {
	insertAttempt, insertDelivery, insertOutcome, delivery, selectDeliveries, attempts string
	pruneDeliveries, pruneOrphanAttempts                                               string
}

func newLogQueries(n names) logQueries {
	return logQueries{
		insertAttempt: `INSERT INTO ` + n.attempts + ` (` + attemptColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
	ON CONFLICT (delivery_id, number) DO NOTHING`,
		insertDelivery: `INSERT INTO ` + n.deliveries + ` (` + deliveryColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
	ON CONFLICT (id) DO NOTHING`,
		// The attempt is inserted only with its delivery: a delivery already
		// recorded changes nothing.
		insertOutcome: `WITH d AS (
	INSERT INTO ` + n.deliveries + ` (` + deliveryColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
	ON CONFLICT (id) DO NOTHING
	RETURNING id
), a AS (
	INSERT INTO ` + n.attempts + ` (` + attemptColumns + `)
	SELECT id, $15::integer, $16::text, $17::text, $18::timestamptz, $19::bigint, $20::integer, $21::text, $22::bytea FROM d
	ON CONFLICT (delivery_id, number) DO NOTHING
)
SELECT count(*) FROM d`,
		delivery:         `SELECT ` + deliveryColumns + ` FROM ` + n.deliveries + ` WHERE id = $1`,
		selectDeliveries: `SELECT ` + deliveryColumns + ` FROM ` + n.deliveries,
		attempts:         `SELECT ` + attemptColumns + ` FROM ` + n.attempts + ` WHERE delivery_id = $1 ORDER BY number`,
		// Oldest first, so an interrupted Prune leaves no hole behind a
		// newer cut.
		pruneDeliveries: `WITH gone AS (
	DELETE FROM ` + n.deliveries + ` WHERE id IN (
		SELECT id FROM ` + n.deliveries + ` WHERE completed_at < $1 ORDER BY completed_at, id LIMIT $2
	) RETURNING id
), gone_attempts AS (
	DELETE FROM ` + n.attempts + ` WHERE delivery_id IN (SELECT id FROM gone)
)
SELECT count(*) FROM gone`,
		pruneOrphanAttempts: `DELETE FROM ` + n.attempts + ` WHERE (delivery_id, number) IN (
	SELECT a.delivery_id, a.number FROM ` + n.attempts + ` a
	WHERE a.started_at < $1
		AND NOT EXISTS (SELECT 1 FROM ` + n.deliveries + ` d WHERE d.id = a.delivery_id)
	LIMIT $2
)`,
	}
}

// deliveries returns the statement and arguments that run q, which is
// valid. Outcomes become an IN list of distinct placeholders rather than an
// array argument, which not every driver encodes.
func (lq logQueries) deliveries(q webhooks.DeliveryQuery) (string, []any) {
	var (
		b     strings.Builder
		args  []any
		conds []string
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.WebhookID != "" {
		conds = append(conds, "webhook_id = "+arg(q.WebhookID))
	}
	if q.EventID != "" {
		conds = append(conds, "event_id = "+arg(q.EventID))
	}
	outcomes := q.Outcomes
	if q.Outcome != "" {
		outcomes = []webhooks.Outcome{q.Outcome}
	}
	if len(outcomes) > 0 {
		outcomes = slices.Clone(outcomes)
		slices.Sort(outcomes)
		outcomes = slices.Compact(outcomes)
		if len(outcomes) == 1 {
			conds = append(conds, "outcome = "+arg(string(outcomes[0])))
		} else {
			ph := make([]string, len(outcomes))
			for i, o := range outcomes {
				ph[i] = arg(string(o))
			}
			conds = append(conds, "outcome IN ("+strings.Join(ph, ", ")+")")
		}
	}
	if !q.Since.IsZero() {
		conds = append(conds, "completed_at >= "+arg(ceilMicrosecond(q.Since)))
	}
	b.WriteString(lq.selectDeliveries)
	for i, c := range conds {
		if i == 0 {
			b.WriteString(" WHERE ")
		} else {
			b.WriteString(" AND ")
		}
		b.WriteString(c)
	}
	b.WriteString(" ORDER BY completed_at, id")
	if q.Limit > 0 {
		b.WriteString(" LIMIT " + arg(q.Limit))
	}
	return b.String(), args
}

func scanDelivery(r rowScanner) (webhooks.DeliveryRecord, error) {
	var (
		d                               webhooks.DeliveryRecord
		eventType, outcome              string
		occurredAt, createdAt, complete time.Time
		webhookCreatedAt                sql.NullTime
	)
	if err := r.Scan(&d.ID, &d.EventID, &eventType, &d.WebhookID, &outcome, &d.Attempts, &d.StatusCode, &d.Error,
		&d.Payload, &occurredAt, &createdAt, &complete, &d.RedeliveryOf, &webhookCreatedAt); err != nil {
		return webhooks.DeliveryRecord{}, err
	}
	d.EventType, d.Outcome = webhooks.EventType(eventType), webhooks.Outcome(outcome)
	d.OccurredAt, d.CreatedAt, d.CompletedAt = occurredAt.UTC(), createdAt.UTC(), complete.UTC()
	if webhookCreatedAt.Valid {
		d.WebhookCreatedAt = webhookCreatedAt.Time.UTC()
	}
	return d, nil
}

// nullTime is t as the database keeps it, NULL for the zero time: a column
// a later migration added, which rows recorded before it leave NULL.
func nullTime(t time.Time) sql.NullTime {
	if t.IsZero() {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: dbTime(t), Valid: true}
}

// ceilMicrosecond returns the first whole microsecond at or after t. Stored
// times are whole microseconds, so "at or after t" and "at or after
// ceilMicrosecond(t)" select the same rows; a driver truncating t instead
// would also select rows just before it.
func ceilMicrosecond(t time.Time) time.Time {
	u := t.UTC().Truncate(time.Microsecond)
	if u.Before(t) {
		u = u.Add(time.Microsecond)
	}
	return u
}

// storableText returns s as a PostgreSQL text value can hold it: valid UTF-8
// without NUL bytes, each offending byte sequence replaced by U+FFFD. Error
// texts go through it, and event ids: an event from a broker may carry an
// id the sender refuses (ErrInvalidEventID), and its refusal must still go
// on record.

func storableText(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// unstorable reports whether s can never be in a text column: PostgreSQL
// refuses NUL bytes and invalid UTF-8. An id that is unstorable matches no
// row, and is answered as one that matches none, rather than sent to the
// database to fail.
func unstorable(s string) bool {
	return !utf8.ValidString(s) || strings.ContainsRune(s, 0)
}
