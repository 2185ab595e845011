package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// Store is a webhooks.Store keeping one row per webhook in a PostgreSQL
// table (the second name of Options.Tables), created by Migrate.
//
// Every method is a single statement: Create is an INSERT that reports an
// existing id as webhooks.ErrConflict, Update and Delete report a missing
// one as webhooks.ErrNotFound. ListByEventType and ListEnabled, which the
// dispatcher calls for every event, read an index on (event_type,
// created_at, id). Webhooks are ordered by CreatedAt, then by ID in byte
// order.
//
// Times are stored as timestamptz, with microsecond precision: the part of a
// time below a microsecond is dropped, and times come back in UTC. The
// Headers map and the PreviousSecrets slice are stored as jsonb; an empty
// map or slice comes back as nil.
//
// Secret and PreviousSecrets are stored as given, in plain text: the
// library needs them to sign requests. Encrypting them at rest is the
// host's choice (disk or database-level encryption, or a restricted role
// and table). The Store never logs, and its errors never contain, secrets
// or header values.
//
// A Store is safe for concurrent use. Its zero value is not usable: create
// one with NewStore.
type Store struct {
	db *sql.DB
	q  storeQueries
}

var _ webhooks.VersionedStore = (*Store)(nil)

// NewStore returns a Store on the tables of opts, which Migrate creates. It
// does not touch the database. It fails with ErrNilDB or ErrInvalidOptions.
//
// db may use any PostgreSQL driver for database/sql; with pgx
// (github.com/jackc/pgx/v5/stdlib) in its default mode every statement is
// prepared once per connection and reused.
func NewStore(db *sql.DB, opts Options) (*Store, error) {
	if db == nil {
		return nil, ErrNilDB
	}
	n, err := newNames(opts)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, q: newStoreQueries(n)}, nil
}

// Create implements webhooks.Store.
func (s *Store) Create(ctx context.Context, w webhooks.Webhook) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	args, err := webhookArgs(w)
	if err != nil {
		return fmt.Errorf("postgres: create webhook %q: %w", w.ID, err)
	}
	res, err := s.db.ExecContext(ctx, s.q.insert, args...)
	if err != nil {
		return fmt.Errorf("postgres: create webhook %q: %w", w.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("postgres: create webhook %q: %w", w.ID, err)
	} else if n == 0 {
		return fmt.Errorf("%w: id %q", webhooks.ErrConflict, w.ID)
	}
	return nil
}

// Get implements webhooks.Store.
func (s *Store) Get(ctx context.Context, id string) (webhooks.Webhook, error) {
	if err := ctx.Err(); err != nil {
		return webhooks.Webhook{}, err
	}
	if unstorable(id) {
		return webhooks.Webhook{}, fmt.Errorf("%w: id %q", webhooks.ErrNotFound, id)
	}
	w, err := scanWebhook(s.db.QueryRowContext(ctx, s.q.get, id))
	if errors.Is(err, sql.ErrNoRows) {
		return webhooks.Webhook{}, fmt.Errorf("%w: id %q", webhooks.ErrNotFound, id)
	}
	if err != nil {
		return webhooks.Webhook{}, fmt.Errorf("postgres: get webhook %q: %w", id, err)
	}
	return w, nil
}

// Update implements webhooks.Store.
func (s *Store) Update(ctx context.Context, w webhooks.Webhook) error {
	return s.update(ctx, w, s.q.update)
}

// UpdateVersion implements webhooks.VersionedStore, in one statement: the
// row is replaced only if its created_at and updated_at are still those
// given.
func (s *Store) UpdateVersion(ctx context.Context, w webhooks.Webhook, createdAt, updatedAt time.Time) error {
	return s.update(ctx, w, s.q.updateVersion, dbTime(createdAt), dbTime(updatedAt))
}

// update runs query, an UPDATE of the row of w.ID with w's columns and the
// conditions of more. No row updated is ErrNotFound if there is none under
// the id, ErrStale if a condition of more failed.
func (s *Store) update(ctx context.Context, w webhooks.Webhook, query string, more ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if unstorable(w.ID) {
		return fmt.Errorf("%w: id %q", webhooks.ErrNotFound, w.ID)
	}
	args, err := webhookArgs(w)
	if err != nil {
		return fmt.Errorf("postgres: update webhook %q: %w", w.ID, err)
	}
	res, err := s.db.ExecContext(ctx, query, append(args, more...)...)
	if err != nil {
		return fmt.Errorf("postgres: update webhook %q: %w", w.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("postgres: update webhook %q: %w", w.ID, err)
	}
	if n > 0 {
		return nil
	}
	if len(more) > 0 {
		var exists bool
		if err := s.db.QueryRowContext(ctx, s.q.exists, w.ID).Scan(&exists); err != nil {
			return fmt.Errorf("postgres: update webhook %q: %w", w.ID, err)
		}
		if exists {
			return fmt.Errorf("%w: id %q", webhooks.ErrStale, w.ID)
		}
	}
	return fmt.Errorf("%w: id %q", webhooks.ErrNotFound, w.ID)
}

// Delete implements webhooks.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if unstorable(id) {
		return fmt.Errorf("%w: id %q", webhooks.ErrNotFound, id)
	}
	res, err := s.db.ExecContext(ctx, s.q.delete, id)
	if err != nil {
		return fmt.Errorf("postgres: delete webhook %q: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("postgres: delete webhook %q: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("%w: id %q", webhooks.ErrNotFound, id)
	}
	return nil
}

// List implements webhooks.Store.
func (s *Store) List(ctx context.Context) ([]webhooks.Webhook, error) {
	return s.list(ctx, "list webhooks", s.q.list)
}

// ListEnabled implements webhooks.Store.
func (s *Store) ListEnabled(ctx context.Context, t webhooks.EventType) ([]webhooks.Webhook, error) {
	return s.list(ctx, "list enabled webhooks", s.q.listEnabled, string(t))
}

// ListByEventType implements webhooks.Store.
func (s *Store) ListByEventType(ctx context.Context, t webhooks.EventType) ([]webhooks.Webhook, error) {
	return s.list(ctx, "list webhooks by event type", s.q.listByEventType, string(t))
}

func (s *Store) list(ctx context.Context, op, query string, args ...any) ([]webhooks.Webhook, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", op, err)
	}
	defer rows.Close()
	out := []webhooks.Webhook{}
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: %s: %w", op, err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", op, err)
	}
	return out, nil
}

// webhookColumns are the columns of the webhooks table, in the order of
// webhookArgs and scanWebhook.
const webhookColumns = `id, name, url, event_type, headers, description, secret, previous_secrets,
	disabled, disabled_reason, created_at, updated_at`

// storeQueries are the statements of a Store, built once with its table
// name. Their text never changes, so drivers that cache prepared statements
// prepare each once per connection.
type storeQueries struct {
	insert, get, update, updateVersion, exists, delete, list, listEnabled, listByEventType string
}

func newStoreQueries(n names) storeQueries {
	const order = ` ORDER BY created_at, id`
	selectAll := `SELECT ` + webhookColumns + ` FROM ` + n.webhooks
	update := `UPDATE ` + n.webhooks + ` SET name = $2, url = $3, event_type = $4, headers = $5,
	description = $6, secret = $7, previous_secrets = $8, disabled = $9, disabled_reason = $10,
	created_at = $11, updated_at = $12
	WHERE id = $1`
	return storeQueries{
		insert: `INSERT INTO ` + n.webhooks + ` (` + webhookColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
	ON CONFLICT (id) DO NOTHING`,
		get:             selectAll + ` WHERE id = $1`,
		update:          update,
		updateVersion:   update + ` AND created_at = $13 AND updated_at = $14`,
		exists:          `SELECT EXISTS (SELECT 1 FROM ` + n.webhooks + ` WHERE id = $1)`,
		delete:          `DELETE FROM ` + n.webhooks + ` WHERE id = $1`,
		list:            selectAll + order,
		listEnabled:     selectAll + ` WHERE event_type = $1 AND NOT disabled` + order,
		listByEventType: selectAll + ` WHERE event_type = $1` + order,
	}
}

// storedSecret is the JSON form of a webhooks.PreviousSecret.
type storedSecret struct {
	Secret    string    `json:"secret"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// webhookArgs returns the arguments of the insert and update statements for
// w. Its errors never contain a secret or a header value.
func webhookArgs(w webhooks.Webhook) ([]any, error) {
	headers := "{}"
	if len(w.Headers) > 0 {
		b, err := json.Marshal(w.Headers)
		if err != nil {
			return nil, errors.New("encode headers")
		}
		headers = string(b)
	}
	previous := "[]"
	if len(w.PreviousSecrets) > 0 {
		stored := make([]storedSecret, len(w.PreviousSecrets))
		for i, p := range w.PreviousSecrets {
			stored[i] = storedSecret{Secret: p.Secret, ExpiresAt: dbTime(p.ExpiresAt)}
		}
		b, err := json.Marshal(stored)
		if err != nil {
			// Only a year outside 0 to 9999 fails; the error names it
			// without the secret.
			return nil, fmt.Errorf("encode previous secrets: %w", err)
		}
		previous = string(b)
	}
	return []any{
		w.ID, w.Name, w.URL, string(w.EventType), headers, w.Description, w.Secret, previous,
		w.Disabled, storableText(w.DisabledReason), dbTime(w.CreatedAt), dbTime(w.UpdatedAt),
	}, nil
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

func scanWebhook(r rowScanner) (webhooks.Webhook, error) {
	var (
		w                  webhooks.Webhook
		eventType          string
		headers, previous  []byte
		createdAt, updated time.Time
	)
	if err := r.Scan(&w.ID, &w.Name, &w.URL, &eventType, &headers, &w.Description, &w.Secret, &previous,
		&w.Disabled, &w.DisabledReason, &createdAt, &updated); err != nil {
		return webhooks.Webhook{}, err
	}
	w.EventType = webhooks.EventType(eventType)
	w.CreatedAt, w.UpdatedAt = createdAt.UTC(), updated.UTC()
	if err := json.Unmarshal(headers, &w.Headers); err != nil {
		return webhooks.Webhook{}, fmt.Errorf("webhook %q: decode headers: not a JSON object of strings", w.ID)
	}
	if len(w.Headers) == 0 {
		w.Headers = nil
	}
	var stored []storedSecret
	if err := json.Unmarshal(previous, &stored); err != nil {
		return webhooks.Webhook{}, fmt.Errorf("webhook %q: decode previous secrets: not a JSON array of secrets", w.ID)
	}
	if len(stored) > 0 {
		w.PreviousSecrets = make([]webhooks.PreviousSecret, len(stored))
		for i, p := range stored {
			w.PreviousSecrets[i] = webhooks.PreviousSecret{Secret: p.Secret, ExpiresAt: p.ExpiresAt.UTC()}
		}
	}
	return w, nil
}

// dbTime returns t as a timestamptz column keeps it: in UTC, without
// monotonic clock reading, truncated to the microsecond.
func dbTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
