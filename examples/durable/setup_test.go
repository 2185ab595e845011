package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/bus/busnats"
	"github.com/hookbus/hookbus/bus/buspg"
	"github.com/hookbus/hookbus/bus/outbox"
	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/postgres"
)

// Environment variables naming the services the tests use; a test that
// needs one skips when it is not set.
const (
	postgresURLEnv = "HOOKBUS_TEST_POSTGRES_URL"
	natsURLEnv     = "HOOKBUS_TEST_NATS_URL"
)

// Backends a worker's bus runs on.
const (
	backendPostgres = "postgres"
	backendNATS     = "nats"
)

// replicaHeader is the custom header through which each replica of the
// replica tests signs its requests, so that the receiver knows who delivered.
const replicaHeader = "X-Replica"

// testDB returns the database URL and a handle closed at the end of the
// test, or skips the test when no database is configured.
func testDB(t testing.TB) (*sql.DB, string) {
	t.Helper()
	url := os.Getenv(postgresURLEnv)
	if url == "" {
		t.Skip(postgresURLEnv + " not set: skipping PostgreSQL tests")
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	// Idle connections are kept: database/sql keeps two by default, and
	// PostgreSQL forks a process for every new one.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatalf("%s is set but the database is unreachable: %v", postgresURLEnv, err)
	}
	return db, url
}

// freshSchema returns a schema name no other run uses, whose tables of the
// webhook store and delivery log Migrate has created; the schema is
// dropped with everything in it at the end of the test.
func freshSchema(t testing.TB, db *sql.DB) string {
	t.Helper()
	schema := "durable_test_" + randomHex(6)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+quoteIdent(schema)+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	if err := postgres.Migrate(context.Background(), db, postgres.Options{Schema: schema}); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return schema
}

// testNATS returns the server's URL and a stream prefix of the test's own,
// whose streams are deleted at the end of the test, or skips the test when
// no server is configured.
func testNATS(t testing.TB) (url, prefix string) {
	t.Helper()
	url = os.Getenv(natsURLEnv)
	if url == "" {
		t.Skip(natsURLEnv + " not set: skipping NATS tests")
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("%s is set but the server is unreachable: %v", natsURLEnv, err)
	}
	js, err := nc.JetStream()
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	prefix = "hbd_" + randomHex(4)
	t.Cleanup(func() {
		defer nc.Close()
		for name := range js.StreamNames() {
			if strings.HasPrefix(name, prefix+"_") {
				if err := js.DeleteStream(name); err != nil {
					t.Errorf("delete stream %s: %v", name, err)
				}
			}
		}
	})
	return url, prefix
}

// createWebhook stores a webhook of meeting_status_changed to url in the
// schema's store, as a settings page of the host would, and returns it with
// its generated secret.
func createWebhook(t testing.TB, db *sql.DB, schema, url string) webhooks.Webhook {
	t.Helper()
	store, err := postgres.NewStore(db, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := webhooks.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	w := webhooks.Webhook{
		ID:        "wh_" + randomHex(8),
		Name:      "durability test",
		URL:       url,
		EventType: webhooks.MeetingStatusChangedEvent,
		Secret:    secret,
		CreatedAt: now,
		UpdatedAt: now,
	}
	if err := w.Validate(webhooks.ValidateOptions{AllowHTTP: true}); err != nil {
		t.Fatal(err)
	}
	if err := store.Create(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	return w
}

// identifiedMeeting is a meeting_status_changed event whose id the test
// chooses (the bus takes an event's own id from EventID), so that the
// receiver's webhook-ids can be checked against the ids published.
type identifiedMeeting struct {
	webhooks.MeetingStatusChanged
	id string
}

// EventID returns the event's id.
func (e identifiedMeeting) EventID() string { return e.id }

// newEvents returns n events with ids of the form tag-XXXXXXXX-NNNNN, short
// enough for Watermill's 36-character message ids.
func newEvents(tag string, n int) []identifiedMeeting {
	run := randomHex(4)
	events := make([]identifiedMeeting, n)
	for i := range events {
		events[i] = identifiedMeeting{
			MeetingStatusChanged: webhooks.MeetingStatusChanged{MeetingID: fmt.Sprintf("m-%d", i), Status: webhooks.MeetingSummaryDone},
			id:                   fmt.Sprintf("%s-%s-%05d", tag, run, i),
		}
	}
	return events
}

// publishBus returns a bus on the backend that only publishes: it never
// starts, and is closed at the end of the test.
func publishBus(t testing.TB, cfg bus.Config) *bus.Bus {
	t.Helper()
	b, err := bus.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close publishing bus: %v", err)
		}
	})
	return b
}

// postgresBusConfig returns the bus configuration of the PostgreSQL backend
// in schema.
func postgresBusConfig(t testing.TB, db *sql.DB, schema string) bus.Config {
	t.Helper()
	cfg, err := buspg.New(db, buspg.Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// natsBusConfig returns the bus configuration of the NATS backend with the
// stream prefix.
func natsBusConfig(t testing.TB, url, prefix string) bus.Config {
	t.Helper()
	cfg, err := busnats.New(url, busnats.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// publishConcurrently publishes events with the given number of goroutines
// and returns the first error.
func publishConcurrently(ctx context.Context, b *bus.Bus, events []identifiedMeeting, goroutines int) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	next := make(chan identifiedMeeting)
	for range goroutines {
		wg.Go(func() {
			for e := range next {
				if err := b.Publish(ctx, e); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for _, e := range events {
		next <- e
	}
	close(next)
	wg.Wait()
	return first
}

// publishThroughOutbox stores events in the outbox, batch by batch, each
// batch one committed transaction that also writes the meetings rows.
func publishThroughOutbox(ctx context.Context, db *sql.DB, ob *outbox.Outbox, schema string, events []identifiedMeeting, batch int) error {
	for len(events) > 0 {
		n := min(batch, len(events))
		if err := commitMeetings(ctx, db, ob, schema, events[:n]); err != nil {
			return err
		}
		events = events[n:]
	}
	return nil
}

func commitMeetings(ctx context.Context, db *sql.DB, ob *outbox.Outbox, schema string, events []identifiedMeeting) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	for _, e := range events {
		_, err := tx.ExecContext(ctx, `INSERT INTO `+quoteIdent(schema)+`.meetings (id, title, status) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, updated_at = now()`, e.MeetingID, "meeting "+e.MeetingID, string(e.Status))
		if err != nil {
			return err
		}
		if err := ob.Publish(ctx, tx, e); err != nil {
			return err
		}
	}
	return tx.Commit()
}
