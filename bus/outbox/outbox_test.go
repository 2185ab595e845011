package outbox_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/nats-io/nats.go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/bus/busnats"
	"github.com/hookbus/hookbus/bus/buspg"
	"github.com/hookbus/hookbus/bus/outbox"
	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/webhookstest"
)

// testURLEnv names the environment variable with the URL of the PostgreSQL
// database the tests use. Each test works in a schema of its own, dropped at
// its end, so runs in parallel and repeated runs do not meet.
const testURLEnv = "HOOKBUS_TEST_POSTGRES_URL"

func testURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv(testURLEnv)
	if url == "" {
		t.Skip(testURLEnv + " not set: skipping PostgreSQL tests")
	}
	return url
}

// testDB returns a database handle closed at the end of the test, or skips
// the test when no database is configured.
func testDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", testURL(t))
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("%s is set but the database is unreachable: %v", testURLEnv, err)
	}
	return db
}

// freshSchema returns a schema name no other test uses; the schema is
// dropped with everything in it at the end of the test.
func freshSchema(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	schema := "hookbus_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// orderPlaced is the events the tests store; each carries its own id.
type orderPlaced struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
}

func (orderPlaced) EventName() string      { return "order_placed" }
func (e orderPlaced) EventID() string      { return e.ID }
func (e orderPlaced) EventTime() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }

// unhandled is an event no handler of the tests takes.
type unhandled struct {
	ID string `json:"id"`
}

func (unhandled) EventName() string { return "nobody_handles_this" }
func (e unhandled) EventID() string { return e.ID }

// handled records the messages a handler got, by event id.
type handled struct {
	mu      sync.Mutex
	msgs    map[string][]bus.Message
	changed chan struct{}
}

func newHandled() *handled {
	return &handled{msgs: map[string][]bus.Message{}, changed: make(chan struct{})}
}

func (h *handled) handler(ctx context.Context, e orderPlaced) error {
	m, _ := bus.MessageFromContext(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs[m.ID] = append(h.msgs[m.ID], m)
	close(h.changed)
	h.changed = make(chan struct{})
	return nil
}

func (h *handled) count(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.msgs[id])
}

func (h *handled) distinct() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.msgs)
}

// waitFor waits until every id was handled at least once.
func (h *handled) waitFor(t *testing.T, ids ...string) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		missing := 0
		for _, id := range ids {
			if len(h.msgs[id]) == 0 {
				missing++
			}
		}
		changed := h.changed
		h.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("after 20s, %d of %d events not handled", missing, len(ids))
		}
	}
}

// fixture is an in-memory bus with a handler of orderPlaced, and an outbox
// in a fresh schema forwarding to it.
type fixture struct {
	db  *sql.DB
	bus *bus.Bus
	ob  *outbox.Outbox
	cfg outbox.Config
	got *handled
}

func newFixture(t *testing.T, busCfg bus.Config, start bool) *fixture {
	t.Helper()
	db := testDB(t)
	f := &fixture{db: db, got: newHandled(), cfg: outbox.Config{
		Schema:       freshSchema(t, db),
		PollInterval: 10 * time.Millisecond,
		RetryInitial: 20 * time.Millisecond,
		RetryMax:     100 * time.Millisecond,
	}}
	b, err := bus.New(busCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := bus.Handle(b, "orders", f.got.handler); err != nil {
		t.Fatal(err)
	}
	if start {
		if err := b.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	f.bus = b
	f.ob = f.newOutbox(t)
	if err := f.ob.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return f
}

func (f *fixture) newOutbox(t *testing.T) *outbox.Outbox {
	t.Helper()
	ob, err := outbox.New(f.bus, f.db, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close() })
	return ob
}

// run runs the forwarder until the test ends or the returned stop is called;
// stop returns Run's result.
func run(t *testing.T, ob *outbox.Outbox) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ob.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// commit stores events in one transaction and commits it.
func (f *fixture) commit(t *testing.T, events ...bus.Event) {
	t.Helper()
	f.inTx(t, true, events...)
}

func (f *fixture) inTx(t *testing.T, commit bool, events ...bus.Event) {
	t.Helper()
	tx, err := f.db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if err := f.ob.Publish(t.Context(), tx, e); err != nil {
			_ = tx.Rollback()
			t.Fatalf("Publish: %v", err)
		}
	}
	if commit {
		err = tx.Commit()
	} else {
		err = tx.Rollback()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// rows returns the metadata of the rows left in the outbox table.
func (f *fixture) rows(t *testing.T) []map[string]string {
	t.Helper()
	r, err := f.db.QueryContext(t.Context(), `SELECT metadata FROM `+f.cfg.Table()+` ORDER BY "offset"`)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []map[string]string
	for r.Next() {
		var raw []byte
		if err := r.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		md := map[string]string{}
		if err := json.Unmarshal(raw, &md); err != nil {
			t.Fatal(err)
		}
		out = append(out, md)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitRows waits until the outbox table holds n rows.
func (f *fixture) waitRows(t *testing.T, n int) []map[string]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows := f.rows(t)
		if len(rows) == n {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20s, %d rows in the outbox, want %d", len(rows), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCommitAndRollback stores events in committed and rolled-back
// transactions: exactly the committed ones are handled, once each, as
// Publish would have published them, traced from the host's span.
func TestCommitAndRollback(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	f := newFixture(t, bus.Config{TracerProvider: tp}, true)

	ctx, host := tp.Tracer("host").Start(t.Context(), "place order")
	tx, err := f.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []bus.Event{orderPlaced{ID: "o-1", Total: 100}, orderPlaced{ID: "o-2", Total: 200}} {
		if err := f.ob.Publish(ctx, tx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	host.End()
	f.inTx(t, false, orderPlaced{ID: "rolled-back"})
	f.commit(t, orderPlaced{ID: "o-3"})
	if rows := f.rows(t); len(rows) != 3 {
		t.Fatalf("%d rows in the outbox before Run, want the 3 committed events", len(rows))
	}

	run(t, f.ob)
	f.got.waitFor(t, "o-1", "o-2", "o-3")
	f.waitRows(t, 0) // everything committed was forwarded: nothing more can come
	shutdownBus(t, f.bus)

	if f.got.count("rolled-back") != 0 || f.got.distinct() != 3 {
		t.Errorf("%d distinct events handled, rolled-back one %d times; want exactly o-1, o-2, o-3", f.got.distinct(), f.got.count("rolled-back"))
	}
	for _, id := range []string{"o-1", "o-2", "o-3"} {
		if n := f.got.count(id); n != 1 {
			t.Errorf("event %s handled %d times, want once", id, n)
		}
	}
	m := f.got.msgs["o-2"][0]
	want := orderPlaced{ID: "o-2"}
	if m.Name != want.EventName() || !m.OccurredAt.Equal(want.EventTime()) || string(m.Payload) != `{"id":"o-2","total":200}` {
		t.Errorf("handler got %+v, want the event as Publish sends it", m)
	}

	spans := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	var publishes []sdktrace.ReadOnlySpan
	for _, s := range recorder.Ended() {
		spans[s.SpanContext().SpanID()] = s
		if s.Name() == "publish order_placed" {
			publishes = append(publishes, s)
		}
	}
	if len(publishes) != 4 {
		t.Fatalf("%d publish spans, want one per Publish (4)", len(publishes))
	}
	processes := 0
	for _, s := range recorder.Ended() {
		if s.Name() != "process order_placed" {
			continue
		}
		processes++
		parent := spans[s.Parent().SpanID()]
		if parent == nil || parent.Name() != "publish order_placed" {
			t.Errorf("consumer span's parent is %v, want a publish span", parent)
		}
	}
	if processes != 3 {
		t.Errorf("%d consumer spans, want 3", processes)
	}
	for _, p := range publishes[:2] {
		if p.Parent().SpanID() != host.SpanContext().SpanID() {
			t.Errorf("publish span parent %v, want the host's span %v", p.Parent().SpanID(), host.SpanContext().SpanID())
		}
	}
}

// TestPublishPgx does the same within pgx transactions.
func TestPublishPgx(t *testing.T) {
	f := newFixture(t, bus.Config{}, true)
	pool, err := pgxpool.New(t.Context(), testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	for _, c := range []struct {
		id     string
		commit bool
	}{{"p-1", true}, {"p-rolled-back", false}, {"p-2", true}} {
		tx, err := pool.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := f.ob.PublishPgx(t.Context(), tx, orderPlaced{ID: c.id}); err != nil {
			t.Fatalf("PublishPgx: %v", err)
		}
		if c.commit {
			err = tx.Commit(t.Context())
		} else {
			err = tx.Rollback(t.Context())
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	run(t, f.ob)
	f.got.waitFor(t, "p-1", "p-2")
	f.waitRows(t, 0)
	shutdownBus(t, f.bus)
	if f.got.distinct() != 2 || f.got.count("p-1") != 1 || f.got.count("p-2") != 1 {
		t.Errorf("handled %v, want p-1 and p-2 once each", f.got.msgs)
	}
}

// TestWebhooksDeliverCommittedEventsOnce puts the webhooks engine on the
// bus: a committed event is delivered once to each webhook of its type, a
// rolled-back one never.
func TestWebhooksDeliverCommittedEventsOnce(t *testing.T) {
	db := testDB(t)
	b, err := bus.New(bus.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := webhooks.New(b, webhooks.Config{Sender: webhooks.SenderConfig{
		AllowHTTP:      true,
		AllowAddresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	recorders := []*webhookstest.Recorder{webhookstest.NewRecorder(t), webhookstest.NewRecorder(t)}
	for _, rec := range recorders {
		if _, err := hooks.Create(t.Context(), webhookstest.NewWebhook(webhooks.MeetingStatusChangedEvent, rec.URL())); err != nil {
			t.Fatal(err)
		}
	}
	if err := hooks.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hooks.Shutdown(context.Background()) })
	ob, err := outbox.New(b, db, outbox.Config{Schema: freshSchema(t, db), PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close() })
	if err := ob.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	store := func(commit bool, meeting string) {
		tx, err := db.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		e := webhooks.MeetingStatusChanged{MeetingID: meeting, Status: webhooks.MeetingSummaryDone}
		if err := ob.Publish(t.Context(), tx, e); err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	store(false, "m-rolled-back")
	store(true, "m-committed")
	run(t, ob)
	for _, rec := range recorders {
		rec.WaitFor(t, 1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
	if err := hooks.Shutdown(ctx); err != nil { // every delivery has an outcome now
		t.Fatal(err)
	}
	for i, rec := range recorders {
		reqs := rec.Requests()
		ids := map[string]int{}
		for _, r := range reqs {
			ids[r.Header.Get("webhook-id")]++
			e, ok := r.Event.(webhooks.MeetingStatusChanged)
			if !ok || e.MeetingID != "m-committed" {
				t.Errorf("webhook %d got %v, want the committed event only", i, r.Event)
			}
		}
		if len(reqs) != 1 || len(ids) != 1 {
			t.Errorf("webhook %d got %d requests for %d event ids, want exactly one delivery", i, len(reqs), len(ids))
		}
	}
}

// TestRestartLosesNothing stops the forwarder while events are being
// forwarded and starts another one: every committed event is handled, at
// least once.
func TestRestartLosesNothing(t *testing.T) {
	f := newFixture(t, bus.Config{}, true)
	const n = 300
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("r-%03d", i)
	}
	for i := 0; i < n; i += 50 {
		events := make([]bus.Event, 0, 50)
		for _, id := range ids[i : i+50] {
			events = append(events, orderPlaced{ID: id})
		}
		f.commit(t, events...)
	}
	stop := run(t, f.ob)
	deadline := time.Now().Add(20 * time.Second)
	for f.got.distinct() < n/3 {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s, %d events forwarded", f.got.distinct())
		}
		time.Sleep(time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run after its context ended = %v, want nil", err)
	}
	forwarded := f.got.distinct()
	if forwarded == n {
		t.Fatalf("all %d events forwarded before the stop: nothing left to test", n)
	}
	second := f.newOutbox(t)
	run(t, second)
	f.got.waitFor(t, ids...)
	f.waitRows(t, 0)
	shutdownBus(t, f.bus)
	dups := 0
	for _, id := range ids {
		dups += f.got.count(id) - 1
	}
	if f.got.distinct() != n {
		t.Errorf("%d distinct events handled, want %d", f.got.distinct(), n)
	}
	t.Logf("%d events forwarded before the restart, %d after, %d duplicates", forwarded, n-forwarded, dups)
}

// TestForwardersShareTheOutbox runs two forwarders on one outbox at once: every
// event is forwarded, and none twice.
func TestForwardersShareTheOutbox(t *testing.T) {
	f := newFixture(t, bus.Config{}, true)
	const n = 200
	ids := make([]string, n)
	events := make([]bus.Event, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("t-%03d", i)
		events[i] = orderPlaced{ID: ids[i]}
	}
	f.commit(t, events...)
	run(t, f.ob)
	run(t, f.newOutbox(t))
	f.got.waitFor(t, ids...)
	f.waitRows(t, 0)
	shutdownBus(t, f.bus)
	for _, id := range ids {
		if c := f.got.count(id); c != 1 {
			t.Errorf("event %s handled %d times, want once", id, c)
		}
	}
}

// TestRefusedEventsStayInTheOutbox forwards to an in-memory bus that has
// not started, then to one that has but does not handle every event: the
// refused events stay in the outbox with their attempts counted, and do not
// hold up the others.
func TestRefusedEventsStayInTheOutbox(t *testing.T) {
	f := newFixture(t, bus.Config{}, false)
	f.commit(t, orderPlaced{ID: "early"})
	run(t, f.ob)
	// The bus has not started: ErrNotStarted, retried.
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows := f.rows(t)
		if len(rows) == 1 && attempts(rows[0]) >= 2 && strings.Contains(rows[0][outbox.MetadataLastError], bus.ErrNotStarted.Error()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20s the outbox holds %v, want the event refused twice", rows)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := f.bus.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.got.waitFor(t, "early")

	f.commit(t, unhandled{ID: "u-1"}, orderPlaced{ID: "after"})
	f.got.waitFor(t, "after")
	rows := f.waitRows(t, 1) // the unhandled event, back for a retry
	for attempts(rows[0]) < 2 {
		rows = f.waitRows(t, 1)
	}
	if !strings.Contains(rows[0][outbox.MetadataLastError], bus.ErrNoHandlers.Error()) || rows[0][outbox.MetadataNotBefore] == "" {
		t.Errorf("row %v, want a due time and the ErrNoHandlers refusal", rows[0])
	}
	shutdownBus(t, f.bus)
	if f.got.count("early") != 1 || f.got.count("after") != 1 {
		t.Errorf("handled %v, want early and after once each", f.got.msgs)
	}
}

// TestForwardsToBrokers forwards to buses on PostgreSQL and NATS JetStream.
func TestForwardsToBrokers(t *testing.T) {
	brokers := map[string]func(t *testing.T, db *sql.DB) bus.Config{
		"postgres": func(t *testing.T, db *sql.DB) bus.Config {
			cfg, err := buspg.New(db, buspg.Config{Schema: freshSchema(t, db)})
			if err != nil {
				t.Fatal(err)
			}
			return cfg
		},
		"nats": func(t *testing.T, db *sql.DB) bus.Config {
			url := os.Getenv("HOOKBUS_TEST_NATS_URL")
			if url == "" {
				t.Skip("HOOKBUS_TEST_NATS_URL not set: skipping NATS")
			}
			var b [4]byte
			rand.Read(b[:])
			ncfg := busnats.Config{Prefix: "hbo_" + hex.EncodeToString(b[:])}
			cfg, err := busnats.New(url, ncfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { deleteStreams(t, url, ncfg.Prefix) })
			return cfg
		},
	}
	for name, newConfig := range brokers {
		t.Run(name, func(t *testing.T) {
			db := testDB(t)
			f := newFixture(t, newConfig(t, db), true)
			ids := []string{"b-1", "b-2", "b-3"}
			f.commit(t, orderPlaced{ID: ids[0]}, orderPlaced{ID: ids[1]})
			f.inTx(t, false, orderPlaced{ID: "b-rolled-back"})
			f.commit(t, orderPlaced{ID: ids[2]})
			run(t, f.ob)
			f.got.waitFor(t, ids...)
			f.waitRows(t, 0)
			shutdownBus(t, f.bus)
			if f.got.distinct() != 3 {
				t.Errorf("%d distinct events handled, want 3", f.got.distinct())
			}
		})
	}
}

func TestUsage(t *testing.T) {
	f := newFixture(t, bus.Config{}, true)
	ob, db := f.ob, f.db
	if err := ob.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if err := ob.Publish(t.Context(), nil, orderPlaced{}); !errors.Is(err, outbox.ErrNilTx) {
		t.Errorf("Publish(nil tx) = %v, want ErrNilTx", err)
	}
	if err := ob.PublishPgx(t.Context(), nil, orderPlaced{}); !errors.Is(err, outbox.ErrNilTx) {
		t.Errorf("PublishPgx(nil tx) = %v, want ErrNilTx", err)
	}

	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Publish(t.Context(), tx, bus.Event(nil)); !errors.Is(err, bus.ErrInvalidEvent) {
		t.Errorf("Publish(nil event) = %v, want bus.ErrInvalidEvent", err)
	}
	// Refused before touching the database: the transaction goes on.
	if err := ob.Publish(t.Context(), tx, orderPlaced{ID: "u-1"}); err != nil {
		t.Errorf("Publish after a refused event = %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	running := make(chan error, 1)
	go func() { running <- ob.Run(t.Context()) }()
	f.got.waitFor(t, "u-1") // Run is running
	if err := ob.Run(t.Context()); !errors.Is(err, outbox.ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	if err := ob.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-running:
		if err != nil {
			t.Errorf("Run stopped by Close = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("Run still running 5s after Close returned")
	}
	if err := ob.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := ob.Run(t.Context()); !errors.Is(err, outbox.ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}
	tx, err = db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := ob.Publish(t.Context(), tx, orderPlaced{ID: "late"}); !errors.Is(err, outbox.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}

func TestNewRefusesInvalidConfigs(t *testing.T) {
	valid := outbox.Config{Schema: "shop", TablePrefix: "app_", Topic: "events", PollInterval: time.Second, RetryInitial: time.Second, RetryMax: time.Minute}
	b, err := bus.New(bus.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	db, err := sql.Open("pgx", "postgres://unused.invalid/db") // New does not connect
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := outbox.New(b, db, valid); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name   string
		change func(*outbox.Config)
	}{
		{"uppercase schema", func(c *outbox.Config) { c.Schema = "Shop" }},
		{"reserved schema", func(c *outbox.Config) { c.Schema = "information_schema" }},
		{"topic with a dot", func(c *outbox.Config) { c.Topic = "a.b" }},
		{"prefix with a quote", func(c *outbox.Config) { c.TablePrefix = `a"` }},
		{"table name too long", func(c *outbox.Config) { c.Topic = strings.Repeat("t", 60) }},
		{"negative poll interval", func(c *outbox.Config) { c.PollInterval = -1 }},
		{"negative RetryInitial", func(c *outbox.Config) { c.RetryInitial = -1 }},
		{"negative RetryMax", func(c *outbox.Config) { c.RetryMax = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			if _, err := outbox.New(b, db, cfg); !errors.Is(err, outbox.ErrInvalidConfig) {
				t.Errorf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
	if _, err := outbox.New(nil, db, valid); !errors.Is(err, outbox.ErrInvalidConfig) {
		t.Errorf("New(nil bus) = %v, want ErrInvalidConfig", err)
	}
	if _, err := outbox.New(b, nil, valid); !errors.Is(err, outbox.ErrInvalidConfig) {
		t.Errorf("New(nil db) = %v, want ErrInvalidConfig", err)
	}
}

func shutdownBus(t *testing.T, b *bus.Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("bus Shutdown: %v", err)
	}
}

// attempts reads MetadataAttempts of an outbox row.
func attempts(row map[string]string) int {
	n, _ := strconv.Atoi(row[outbox.MetadataAttempts])
	return n
}

func deleteStreams(t *testing.T, url, prefix string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Errorf("delete streams: %v", err)
		return
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Errorf("delete streams: %v", err)
		return
	}
	for name := range js.StreamNames() {
		if strings.HasPrefix(name, prefix+"_") {
			if err := js.DeleteStream(name); err != nil {
				t.Errorf("delete stream %s: %v", name, err)
			}
		}
	}
}

// invalidFollowUp is an event an Inline handler tries to publish; it is
// invalid.
type invalidFollowUp struct{}

func (invalidFollowUp) EventName() string { return "invalid_follow_up" }
func (invalidFollowUp) Validate() error   { return errors.New("missing field") }

// An Inline handler whose error wraps bus.ErrInvalidEvent (a follow-up it
// could not publish) does not make a valid event's row count as invalid:
// the row is retried, and the event handled, instead of dropped.
func TestInlineHandlerErrorIsRetriedNotDropped(t *testing.T) {
	f := newFixture(t, bus.Config{}, false)
	f.ob = f.newOutbox(t)
	var calls atomic.Int32
	if err := bus.Handle(f.bus, "inline", func(ctx context.Context, e orderPlaced) error {
		if calls.Add(1) == 1 {
			if err := f.bus.Publish(ctx, invalidFollowUp{}); err != nil {
				return fmt.Errorf("follow-up of %s: %w", e.ID, err)
			}
		}
		return nil
	}, bus.Inline()); err != nil {
		t.Fatal(err)
	}
	if err := f.bus.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.commit(t, orderPlaced{ID: "valid-1", Total: 5})
	run(t, f.ob)
	deadline := time.Now().Add(10 * time.Second)
	for f.got.count("valid-1") == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := f.got.count("valid-1"); n != 1 || calls.Load() < 2 {
		t.Fatalf("valid-1 handled %d times after %d inline calls; want once, after a retry", n, calls.Load())
	}
	f.waitRows(t, 0)
}

// An event the bus has taken while the forwarder stops (Close, or the end of
// Run's context) is removed from the outbox: it is not forwarded again.
func TestStopDuringAForwardForwardsItOnce(t *testing.T) {
	for _, how := range []string{"Close", "context"} {
		t.Run(how, func(t *testing.T) {
			var calls atomic.Int32
			entered, release := make(chan struct{}, 4), make(chan struct{})
			f := newFixture(t, bus.Config{}, false)
			// An Inline handler runs inside the forward's PublishMessage,
			// which it holds until release.
			err := bus.HandleRaw(f.bus, "slow", "order_placed", func(context.Context, bus.Message) error {
				calls.Add(1)
				entered <- struct{}{}
				<-release
				return nil
			}, bus.Inline())
			if err != nil {
				t.Fatal(err)
			}
			if err := f.bus.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			f.commit(t, orderPlaced{ID: "o-1"})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ran := make(chan error, 1)
			go func() { ran <- f.ob.Run(ctx) }()
			<-entered
			stopped := make(chan error, 1)
			go func() {
				if how == "Close" {
					stopped <- f.ob.Close()
					return
				}
				cancel()
				stopped <- nil
			}()
			time.Sleep(200 * time.Millisecond)
			close(release)
			if err := <-stopped; err != nil {
				t.Fatalf("Close = %v", err)
			}
			if err := <-ran; err != nil {
				t.Fatalf("Run = %v", err)
			}
			if rows := f.rows(t); len(rows) != 0 {
				t.Fatalf("%d rows left in the outbox after the bus took the event, want 0", len(rows))
			}
			// Another forwarder finds nothing to forward again.
			stop := run(t, f.newOutbox(t))
			time.Sleep(300 * time.Millisecond)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("the event was forwarded %d times, want once", n)
			}
			f.got.waitFor(t, "o-1")
		})
	}
}

// A forwarder whose read waits (for a connection of a pool the host has
// taken, or for a lock on the table) stops at once all the same, when Run's
// context ends or Close is called.
func TestStopWhileAReadWaits(t *testing.T) {
	for _, tc := range []struct{ how, wait string }{{"context", "pool"}, {"Close", "pool"}, {"context", "lock"}} {
		t.Run(tc.how+" "+tc.wait, func(t *testing.T) {
			f := newFixture(t, bus.Config{}, true)
			db, ob := f.db, f.ob
			if tc.wait == "pool" {
				var err error
				if db, err = sql.Open("pgx", testURL(t)); err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				db.SetMaxOpenConns(1)
				if ob, err = outbox.New(f.bus, db, f.cfg); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ran := make(chan error, 1)
			go func() { ran <- ob.Run(ctx) }()
			time.Sleep(300 * time.Millisecond) // polling
			if tc.wait == "pool" {
				conn, err := db.Conn(context.Background()) // the only connection
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
			} else {
				tx, err := db.BeginTx(context.Background(), nil)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = tx.Rollback() }()
				if _, err := tx.Exec(`LOCK TABLE ` + f.cfg.Table() + ` IN ACCESS EXCLUSIVE MODE`); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(100 * time.Millisecond) // the read now waits
			closed := make(chan error, 1)
			if tc.how == "context" {
				cancel()
				closed <- nil
			} else {
				go func() { closed <- ob.Close() }()
			}
			select {
			case err := <-ran:
				if err != nil {
					t.Errorf("Run = %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run still running 10 s after the forwarder was stopped")
			}
			if err := <-closed; err != nil {
				t.Errorf("Close = %v", err)
			}
		})
	}
}
