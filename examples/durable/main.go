// Command durable runs hookbus the way a monolith with a PostgreSQL database
// does: the business write and its webhook event commit in one transaction,
// and everything after the commit survives a crash.
//
// Usage:
//
//	durable [-db postgres://...] [-schema NAME] [-keep]
//
// The program makes a schema holding every table: a meetings table (the
// business data), the outbox (package bus/outbox), the bus's message and
// offset tables (package bus/buspg) and the webhook store and delivery log
// (package webhooks/postgres, created explicitly with Migrate). It starts a
// receiver on loopback, creates a webhook for meeting_status_changed that
// points at it, and changes a few meetings, each change one transaction that
// writes the meetings row and stores the event in the outbox. One
// transaction is rolled back after storing its event, and leaves nothing
// behind. The outbox forwarder moves the committed events to the bus on
// PostgreSQL, the webhook service delivers them, and the program prints an
// account read back from the database: rows written, events forwarded and
// deliveries with their outcomes from the delivery log.
//
// -db defaults to $HOOKBUS_TEST_POSTGRES_URL, then to
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. Without -schema
// the program makes a fresh schema with a random name and drops it at exit,
// unless -keep is given; a schema named with -schema is never dropped.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/bus/buspg"
	"github.com/hookbus/hookbus/bus/outbox"
	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/postgres"
)

// defaultDatabaseURL is the database used when neither -db nor
// $HOOKBUS_TEST_POSTGRES_URL names one.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// webhookName names the demo's webhook; one of that name left in a kept
// schema by an earlier run points at a receiver that is gone, and is deleted.
const webhookName = "Meeting sync"

// deliveryTimeout bounds the wait for the deliveries of the committed events.
const deliveryTimeout = 30 * time.Second

// rolledBack is the meeting whose transaction is rolled back.
const rolledBack = "m-4"

// config is what the flags set.
type config struct {
	dbURL  string
	schema string
	keep   bool
}

func main() {
	var cfg config
	dbURL := os.Getenv("HOOKBUS_TEST_POSTGRES_URL")
	if dbURL == "" {
		dbURL = defaultDatabaseURL
	}
	flag.StringVar(&cfg.dbURL, "db", dbURL, "PostgreSQL URL")
	flag.StringVar(&cfg.schema, "schema", "", "schema holding every table (default: a fresh one, dropped at exit unless -keep)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the fresh schema at exit, for a look with psql")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "durable:", err)
		os.Exit(1)
	}
}

// run runs the whole flow, writing its account to out.
func run(ctx context.Context, out io.Writer, cfg config) (err error) {
	db, err := sql.Open("pgx", cfg.dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	// The bus's three handlers (one per event type) each hold a connection
	// while they read; the forwarder, the delivery log, the store and the
	// business transactions need a few more. database/sql keeps only two
	// idle connections by default, and opening one costs PostgreSQL a
	// process: keep them all.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}

	schema := cfg.schema
	if schema == "" {
		schema = "durable_" + randomHex(6)
		if !cfg.keep {
			defer func() {
				// ctx may be done already: the drop must happen anyway.
				dropCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				defer cancel()
				if _, derr := db.ExecContext(dropCtx, `DROP SCHEMA IF EXISTS `+quoteIdent(schema)+` CASCADE`); derr != nil {
					err = errors.Join(err, fmt.Errorf("drop schema %s: %w", schema, derr))
					return
				}
				fmt.Fprintf(out, "== dropped schema %s\n", schema)
			}()
		}
	}
	fmt.Fprintf(out, "== schema %s\n", schema)

	// The tables: webhook store and delivery log (an explicit Migrate,
	// which also creates the schema), business data, outbox (an explicit
	// Migrate too). The bus creates its own tables when it first publishes
	// or subscribes.
	pgOpts := postgres.Options{Schema: schema}
	if err := postgres.Migrate(ctx, db, pgOpts); err != nil {
		return err
	}
	if err := createMeetingsTable(ctx, db, schema); err != nil {
		return err
	}
	store, err := postgres.NewStore(db, pgOpts)
	if err != nil {
		return err
	}
	deliveryLog, err := postgres.NewDeliveryLog(db, postgres.LogOptions{Options: pgOpts})
	if err != nil {
		return err
	}

	busCfg := buspg.Config{Schema: schema}
	bc, err := buspg.New(db, busCfg)
	if err != nil {
		return err
	}
	b, err := bus.New(bc)
	if err != nil {
		return err
	}
	hooks, err := webhooks.New(b, webhooks.Config{
		Store: store,
		Log:   deliveryLog,
		// The receiver runs here, on loopback over plain http: both are
		// refused unless allowed.
		Sender: webhooks.SenderConfig{
			AllowHTTP:      true,
			AllowAddresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		},
	})
	if err != nil {
		return err
	}
	ob, err := outbox.New(b, db, outbox.Config{Schema: schema})
	if err != nil {
		return err
	}
	if err := ob.Migrate(ctx); err != nil {
		return err
	}

	// The receiver, as a customer would run it: it verifies each request
	// with the webhook's secret, which exists once the webhook does.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := deleteStaleWebhooks(ctx, hooks); err != nil {
		return err
	}
	wh, err := hooks.Create(ctx, webhooks.Webhook{
		Name:      webhookName,
		URL:       "http://" + ln.Addr().String() + "/hooks/meetings",
		EventType: webhooks.MeetingStatusChangedEvent,
	})
	if err != nil {
		return err
	}
	recv := &receiver{events: map[string]webhooks.MeetingStatusChanged{}}
	handler, err := webhooks.NewReceiver(webhooks.ReceiverConfig{Secrets: []string{wh.Secret}},
		webhooks.ReceiverFuncs{OnMeetingStatusChanged: recv.onMeetingStatusChanged})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Fprintln(out, "== webhook")
	fmt.Fprintf(out, "  %s  %s  %s\n", wh.Name, wh.EventType, wh.URL)

	if err := hooks.Start(ctx); err != nil {
		return err
	}
	fwdDone := make(chan error, 1)
	go func() { fwdDone <- ob.Run(ctx) }()
	defer func() {
		// The forwarder first, so that nothing is forwarded to a closed bus;
		// then the service, which drains and closes the bus.
		err = errors.Join(err, ob.Close(), <-fwdDone)
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err = errors.Join(err, hooks.Shutdown(shutCtx))
	}()

	fmt.Fprintln(out, "== transactions: the meetings row and its event, committed together or not at all")
	changes := []struct {
		change meetingChange
		commit bool
	}{
		{meetingChange{"m-1", "Kick-off with Acme", webhooks.MeetingCreated}, true},
		{meetingChange{"m-2", "Quarterly review", webhooks.MeetingCreated}, true},
		{meetingChange{rolledBack, "Cancelled before it existed", webhooks.MeetingCreated}, false},
		{meetingChange{"m-3", "Pricing call", webhooks.MeetingCreated}, true},
		{meetingChange{"m-1", "Kick-off with Acme", webhooks.MeetingSummaryDone}, true},
	}
	committed := 0
	for _, c := range changes {
		if err := applyChange(ctx, db, ob, schema, c.change, c.commit); err != nil {
			return err
		}
		verb := "committed  "
		if c.commit {
			committed++
		} else {
			verb = "rolled back"
		}
		fmt.Fprintf(out, "  %s %s %s\n", verb, c.change.id, c.change.status)
	}

	// Events are forwarded in commit order, so once the last committed one
	// is delivered, an event of the rolled-back transaction, had it existed,
	// would have been delivered before it.
	recs, err := waitDelivered(ctx, deliveryLog, wh.ID, committed)
	if err != nil {
		return err
	}
	return account(ctx, out, db, schema, busCfg, recs, recv)
}

// meetingChange is one business change: a meeting and its new status.
type meetingChange struct {
	id, title string
	status    webhooks.MeetingStatus
}

// createMeetingsTable creates the schema and the business table, as the
// host's own migrations would.
func createMeetingsTable(ctx context.Context, db *sql.DB, schema string) error {
	_, err := db.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+quoteIdent(schema)+`;
CREATE TABLE IF NOT EXISTS `+quoteIdent(schema)+`.meetings (
	id text PRIMARY KEY,
	title text NOT NULL,
	status text NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
)`)
	if err != nil {
		return fmt.Errorf("create meetings table: %w", err)
	}
	return nil
}

// applyChange writes the meetings row and stores its event in the outbox, in
// one transaction, which it commits or, to show that nothing is left behind,
// rolls back after both writes.
func applyChange(ctx context.Context, db *sql.DB, ob *outbox.Outbox, schema string, c meetingChange, commit bool) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil || !commit {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	_, err = tx.ExecContext(ctx, `INSERT INTO `+quoteIdent(schema)+`.meetings (id, title, status) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, updated_at = now()`, c.id, c.title, string(c.status))
	if err != nil {
		return fmt.Errorf("write meeting %s: %w", c.id, err)
	}
	if err := ob.Publish(ctx, tx, webhooks.MeetingStatusChanged{MeetingID: c.id, Status: c.status}); err != nil {
		return err
	}
	if !commit {
		return nil
	}
	return tx.Commit()
}

// waitDelivered polls the delivery log until n deliveries to the webhook are
// delivered, and returns the webhook's deliveries.
func waitDelivered(ctx context.Context, log webhooks.DeliveryLog, webhookID string, n int) ([]webhooks.DeliveryRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, deliveryTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		recs, err := log.Deliveries(ctx, webhooks.DeliveryQuery{WebhookID: webhookID})
		if err != nil {
			return nil, err
		}
		delivered := 0
		for _, r := range recs {
			if r.Outcome == webhooks.OutcomeDelivered {
				delivered++
			}
		}
		if delivered >= n {
			return recs, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%d of %d deliveries delivered: %w", delivered, n, ctx.Err())
		case <-tick.C:
		}
	}
}

// account prints what the database and the receiver hold.
func account(ctx context.Context, out io.Writer, db *sql.DB, schema string, busCfg buspg.Config, recs []webhooks.DeliveryRecord, recv *receiver) error {
	fmt.Fprintln(out, "== account")
	rows, err := db.QueryContext(ctx, `SELECT id, status FROM `+quoteIdent(schema)+`.meetings ORDER BY id`)
	if err != nil {
		return err
	}
	var meetings []string
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			rows.Close()
			return err
		}
		meetings = append(meetings, id+"="+status)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	fmt.Fprintf(out, "  meetings rows:         %d (%s)\n", len(meetings), strings.Join(meetings, ", "))

	var forwarded, left int
	topic := webhooks.MeetingStatusChanged{}.EventName()
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+busCfg.MessagesTable(topic)).Scan(&forwarded); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+outbox.Config{Schema: schema}.Table()).Scan(&left); err != nil {
		return err
	}
	fmt.Fprintf(out, "  events forwarded:      %d (in %s)\n", forwarded, busCfg.MessagesTable(topic))
	fmt.Fprintf(out, "  events left in outbox: %d\n", left)

	fmt.Fprintf(out, "  deliveries on record:  %d\n", len(recs))
	for _, r := range recs {
		e := recv.event(r.EventID)
		fmt.Fprintf(out, "    %s %-22s %-9s attempts=%d status=%d\n", e.MeetingID, e.Status, r.Outcome, r.Attempts, r.StatusCode)
	}
	requests, ids := recv.counts()
	fmt.Fprintf(out, "  receiver:              %d verified requests, %d distinct webhook-ids\n", requests, ids)

	// What the rolled-back transaction left: nothing anywhere.
	var rows4, stored4 int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(schema)+`.meetings WHERE id = $1`, rolledBack).Scan(&rows4); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+busCfg.MessagesTable(topic)+` WHERE payload->>'meetingId' = $1`, rolledBack).Scan(&stored4); err != nil {
		return err
	}
	fmt.Fprintf(out, "  rolled back %s:       %d rows, %d events on the bus, %d received\n", rolledBack, rows4, stored4, recv.countMeeting(rolledBack))
	return nil
}

// receiver keeps the events the webhook receiver verified, by webhook-id.
type receiver struct {
	mu       sync.Mutex
	requests int
	events   map[string]webhooks.MeetingStatusChanged
}

func (r *receiver) onMeetingStatusChanged(ctx context.Context, e webhooks.MeetingStatusChanged) error {
	v, _ := webhooks.VerifiedFromContext(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	r.events[v.ID] = e
	return nil
}

func (r *receiver) event(id string) webhooks.MeetingStatusChanged {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[id]
}

func (r *receiver) counts() (requests, ids int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, len(r.events)
}

func (r *receiver) countMeeting(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.MeetingID == id {
			n++
		}
	}
	return n
}

// deleteStaleWebhooks deletes the demo webhooks an earlier run left in a
// kept schema: their receiver is gone.
func deleteStaleWebhooks(ctx context.Context, hooks *webhooks.Service) error {
	all, err := hooks.List(ctx)
	if err != nil {
		return err
	}
	for _, w := range all {
		if w.Name == webhookName {
			if err := hooks.Delete(ctx, w.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// ignoreDone drops the error of rolling back a transaction already ended.
func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// randomHex returns 2n random lowercase hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
