package buspg_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/bus/buspg"
	"github.com/hookbus/hookbus/bus/bustest"
)

// testURLEnv names the environment variable with the URL of the PostgreSQL
// database the tests use. Each test works in a schema of its own, dropped at
// its end, so runs in parallel and repeated runs do not meet.
const testURLEnv = "HOOKBUS_TEST_POSTGRES_URL"

// testDB returns a database handle closed at the end of the test, or skips the
// test when no database is configured.
func testDB(t testing.TB) *sql.DB {
	t.Helper()
	url := os.Getenv(testURLEnv)
	if url == "" {
		t.Skip(testURLEnv + " not set: skipping PostgreSQL tests")
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatalf("%s is set but the database is unreachable: %v", testURLEnv, err)
	}
	return db
}

// freshConfig returns a Config whose tables live in a new schema, created by
// the transport when first used and dropped at the end of the test.
func freshConfig(t testing.TB, db *sql.DB) buspg.Config {
	t.Helper()
	cfg := buspg.Config{Schema: randomName("hookbus_test_")}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP SCHEMA IF EXISTS "`+cfg.Schema+`" CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", cfg.Schema, err)
		}
	})
	return cfg
}

func randomName(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func TestConformance(t *testing.T) {
	db := testDB(t)
	cfg := freshConfig(t, db)
	bustest.TestBus(t, func(t *testing.T) bus.Config {
		c, err := buspg.New(db, cfg)
		if err != nil {
			t.Fatalf("buspg.New: %v", err)
		}
		return c
	})
}

// TestReplicasShareConsumerGroups runs one handler name on two buses and a
// second handler name on one of them: the first group gets every event once
// across both buses, the second every event too.
func TestReplicasShareConsumerGroups(t *testing.T) {
	db := testDB(t)
	cfg := freshConfig(t, db)
	const n = 300
	var (
		mu     sync.Mutex
		shared = map[int]int{}
		other  = map[int]int{}
		done   = make(chan struct{})
	)
	record := func(m map[int]int) func(context.Context, seqEvent) error {
		return func(_ context.Context, e seqEvent) error {
			mu.Lock()
			defer mu.Unlock()
			m[e.Seq]++
			if len(shared) == n && len(other) == n {
				select {
				case <-done:
				default:
					close(done)
				}
			}
			return nil
		}
	}
	buses := []*bus.Bus{
		startBus(t, db, cfg, map[string]seqHandler{"shared": record(shared), "other": record(other)}),
		startBus(t, db, cfg, map[string]seqHandler{"shared": record(shared)}),
	}
	for seq := range n {
		if err := buses[seq%2].Publish(t.Context(), seqEvent{Seq: seq}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("after 30s: %d of %d events handled by the shared group, %d by the other", len(shared), n, len(other))
	}
	// Nothing fails, so nothing may be handled twice, not even while the
	// buses shut down one after the other (see TestShutdownKeepsBatchProgress).
	for _, b := range buses {
		if err := b.Shutdown(t.Context()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for seq := range n {
		if shared[seq] != 1 || other[seq] != 1 {
			t.Errorf("event %d handled %d times by the shared group and %d by the other, want once each", seq, shared[seq], other[seq])
		}
	}
}

type seqEvent struct {
	Seq int `json:"seq"`
}

// seqHandler handles seqEvents.
type seqHandler = func(context.Context, seqEvent) error

// startBus starts a bus on the PostgreSQL transport of cfg with handlers
// by name, closed at the end of the test.
func startBus(t *testing.T, db *sql.DB, cfg buspg.Config, handlers map[string]seqHandler) *bus.Bus {
	t.Helper()
	b := newBus(t, db, cfg)
	for name, handle := range handlers {
		if err := bus.Handle(b, name, handle); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return b
}

// newBus returns a bus on the PostgreSQL transport of cfg, not started,
// closed at the end of the test.
func newBus(t *testing.T, db *sql.DB, cfg buspg.Config) *bus.Bus {
	t.Helper()
	c, err := buspg.New(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bus.New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// shutdownReleasing shuts b down while one of its handlers holds an event
// until release is closed, which it closes once Shutdown has begun.
func shutdownReleasing(t *testing.T, b *bus.Bus, release chan struct{}) {
	t.Helper()
	shut := make(chan error, 1)
	go func() { shut <- b.Shutdown(t.Context()) }()
	for !errors.Is(b.Publish(t.Context(), probeEvent{}), bus.ErrClosed) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// publishSeq publishes the seqEvents 0 to n-1 on b.
func publishSeq(t *testing.T, b *bus.Bus, n int) {
	t.Helper()
	for seq := range n {
		if err := b.Publish(t.Context(), seqEvent{Seq: seq}); err != nil {
			t.Fatal(err)
		}
	}
}

func (seqEvent) EventName() string { return "buspg_seq" }

// probeEvent is published to learn whether a bus has begun to shut down; no
// handler takes it.
type probeEvent struct{}

func (probeEvent) EventName() string { return "buspg_probe" }

func TestNewRefusesInvalidConfigs(t *testing.T) {
	valid := buspg.Config{Schema: "events", TablePrefix: "app_", AckDeadline: time.Minute, PollInterval: time.Second, BatchSize: 10}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name   string
		change func(*buspg.Config)
	}{
		{"schema with a quote", func(c *buspg.Config) { c.Schema = `a"b` }},
		{"uppercase schema", func(c *buspg.Config) { c.Schema = "Events" }},
		{"reserved schema", func(c *buspg.Config) { c.Schema = "pg_catalog" }},
		{"prefix starting with a digit", func(c *buspg.Config) { c.TablePrefix = "1app_" }},
		{"prefix too long", func(c *buspg.Config) { c.TablePrefix = strings.Repeat("a", buspg.MaxTablePrefixLength+1) }},
		{"negative deadline", func(c *buspg.Config) { c.AckDeadline = -time.Second }},
		{"negative poll interval", func(c *buspg.Config) { c.PollInterval = -time.Second }},
		{"negative batch size", func(c *buspg.Config) { c.BatchSize = -1 }},
	}
	db, err := sql.Open("pgx", "postgres://unused.invalid/db") // New does not connect
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			if _, err := buspg.New(db, cfg); !errors.Is(err, buspg.ErrInvalidConfig) {
				t.Errorf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
	if _, err := buspg.New(nil, valid); !errors.Is(err, buspg.ErrNilDB) {
		t.Errorf("New(nil) = %v, want ErrNilDB", err)
	}
	if _, err := buspg.New(db, valid); err != nil {
		t.Errorf("New(valid) = %v", err)
	}
}

func TestTableNames(t *testing.T) {
	var cfg buspg.Config
	long := strings.Repeat("x", 70)
	names := map[string]string{}
	for _, topic := range []string{"a", "offsets_a", "topic_a", long, long + "y", "hookbus.dead_letter"} {
		for _, table := range []string{cfg.MessagesTable(topic), cfg.OffsetsTable(topic)} {
			if prev, ok := names[table]; ok {
				t.Errorf("topics %q and %q share the table %s", prev, topic, table)
			}
			names[table] = topic
			unquoted := strings.TrimPrefix(table, `"public"."`)
			unquoted = strings.TrimSuffix(unquoted, `"`)
			if len(unquoted) > 63 {
				t.Errorf("table %s is longer than PostgreSQL keeps", table)
			}
		}
	}
	if got := cfg.MessagesTable("order_placed"); got != `"public"."hookbus_topic_order_placed"` {
		t.Errorf("MessagesTable = %s", got)
	}
}

// TestShutdownKeepsBatchProgress shuts a bus down while its handler holds
// the fourth event of a batch of ten: the four handled events are recorded
// as consumed, and the next bus of the consumer group gets the other six,
// none of the four again.
func TestShutdownKeepsBatchProgress(t *testing.T) {
	db := testDB(t)
	cfg := freshConfig(t, db)
	cfg.BatchSize = 10
	const n, held = 10, 3
	publishSeq(t, startBus(t, db, cfg, nil), n)

	var mu sync.Mutex
	first := map[int]int{}
	reached, release := make(chan struct{}), make(chan struct{})
	b1 := startBus(t, db, cfg, map[string]seqHandler{"h": func(_ context.Context, e seqEvent) error {
		mu.Lock()
		first[e.Seq]++
		mu.Unlock()
		if e.Seq == held {
			close(reached)
			<-release
		}
		return nil
	}})
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatal("the first bus never got the held event")
	}
	shutdownReleasing(t, b1, release)

	second := map[int]int{}
	got := make(chan struct{}, n)
	startBus(t, db, cfg, map[string]seqHandler{"h": func(_ context.Context, e seqEvent) error {
		mu.Lock()
		second[e.Seq]++
		mu.Unlock()
		got <- struct{}{}
		return nil
	}})
	timeout := time.After(30 * time.Second)
	for range n - held - 1 {
		select {
		case <-got:
		case <-timeout:
			t.Fatal("the second bus did not get the rest of the batch")
		}
	}
	time.Sleep(3 * buspg.DefaultPollInterval) // room for anything read again
	mu.Lock()
	defer mu.Unlock()
	for seq := range n {
		wantFirst, wantSecond := 0, 1
		if seq <= held {
			wantFirst, wantSecond = 1, 0
		}
		if first[seq] != wantFirst || second[seq] != wantSecond {
			t.Errorf("event %d handled %d times by the bus that shut down and %d by the next, want %d and %d",
				seq, first[seq], second[seq], wantFirst, wantSecond)
		}
	}
}

// TestShutdownOfWaitingReplica shuts down a replica that waits for the
// consumer group's lock while another replica handles a long batch: the
// waiting replica holds nothing, and its Shutdown must not wait for the
// other's batch.
func TestShutdownOfWaitingReplica(t *testing.T) {
	db := testDB(t)
	cfg := freshConfig(t, db)
	const hold = 10 * time.Second
	publishSeq(t, startBus(t, db, cfg, nil), 3)
	reached, release := make(chan struct{}, 3), make(chan struct{})
	holder := startBus(t, db, cfg, map[string]seqHandler{"h": func(ctx context.Context, _ seqEvent) error {
		reached <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		case <-time.After(hold):
		}
		return nil
	}})
	t.Cleanup(func() { close(release); _ = holder.Shutdown(context.Background()) })
	select {
	case <-reached: // the holder has the lock and a batch
	case <-time.After(30 * time.Second):
		t.Fatal("no replica got the events")
	}
	waiting := startBus(t, db, cfg, map[string]seqHandler{"h": func(context.Context, seqEvent) error {
		t.Error("the waiting replica handled an event the other one holds")
		return nil
	}})
	time.Sleep(300 * time.Millisecond) // waiting for the lock by now

	start := time.Now()
	if err := waiting.Shutdown(t.Context()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if took := time.Since(start); took > hold/2 {
		t.Errorf("the waiting replica's Shutdown took %v: it waited for the other replica's batch", took)
	}
}

// TestTurnPause checks the subscribers' backoff: TurnPause after a batch
// (the default, a set value, none), Watermill's poll interval after an empty
// query and its retry interval after a failed one.
func TestTurnPause(t *testing.T) {
	logger := watermill.NopLogger{}
	for _, tc := range []struct {
		pause, want time.Duration
	}{
		{0, buspg.DefaultTurnPause},
		{10 * time.Millisecond, 10 * time.Millisecond},
		{-1, 0},
	} {
		cfg := buspg.Config{TurnPause: tc.pause, PollInterval: 3 * time.Second}
		backoff := cfg.SubscriberConfig("h").BackoffManager
		if got := backoff.HandleError(logger, false, nil); got != tc.want {
			t.Errorf("TurnPause %v: after a batch, wait %v, want %v", tc.pause, got, tc.want)
		}
		if got := backoff.HandleError(logger, true, nil); got != 3*time.Second {
			t.Errorf("TurnPause %v: after an empty query, wait %v, want the poll interval", tc.pause, got)
		}
		if got := backoff.HandleError(logger, false, errors.New("connection refused")); got != time.Second {
			t.Errorf("TurnPause %v: after a failed query, wait %v, want a second", tc.pause, got)
		}
	}
}

type otherEvent struct {
	Seq int `json:"seq"`
}

func (otherEvent) EventName() string { return "buspg_other" }

// A graceful Shutdown of a replica with two handlers, the first waiting for
// the consumer-group lock another replica holds, still records the batch
// progress of the second: the next replica does not handle its events
// again.
func TestShutdownKeepsABatchBesideAHandlerWaitingForTheLock(t *testing.T) {
	db := testDB(t)
	cfg := freshConfig(t, db)
	cfg.BatchSize = 10
	pubBus := startBus(t, db, cfg, nil)
	publishSeq(t, pubBus, 3)
	for i := range 10 {
		if err := pubBus.Publish(t.Context(), otherEvent{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	reached, release := make(chan struct{}, 3), make(chan struct{})
	holder := startBus(t, db, cfg, map[string]seqHandler{"h": func(ctx context.Context, _ seqEvent) error {
		reached <- struct{}{}
		select {
		case <-release:
		case <-time.After(20 * time.Second):
		}
		return nil
	}})
	t.Cleanup(func() { close(release); _ = holder.Shutdown(context.Background()) })
	<-reached

	w := newBus(t, db, cfg)
	if err := bus.Handle(w, "h", func(context.Context, seqEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	first := map[int]int{}
	gReached, gRelease := make(chan struct{}), make(chan struct{})
	if err := bus.Handle(w, "g", func(_ context.Context, e otherEvent) error {
		mu.Lock()
		first[e.Seq]++
		mu.Unlock()
		if e.Seq == 3 {
			close(gReached)
			<-gRelease
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-gReached
	time.Sleep(300 * time.Millisecond) // w's "h" subscriber waits for the lock by now
	shutdownReleasing(t, w, gRelease)

	second := map[int]int{}
	b2 := newBus(t, db, cfg)
	if err := bus.Handle(b2, "g", func(_ context.Context, e otherEvent) error {
		mu.Lock()
		second[e.Seq]++
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b2.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(second)
		mu.Unlock()
		if n >= 6 || time.Now().After(deadline) {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for seq := 4; seq < 10; seq++ {
		if second[seq] == 0 {
			t.Errorf("event %d, not handled before the Shutdown, was not handled after it", seq)
		}
	}
	for seq := 0; seq <= 3; seq++ {
		if second[seq] != 0 {
			t.Errorf("event %d handled by the shut-down replica (graceful) and again by the next: %d", seq, second[seq])
		}
	}
}

// A dead letter whose handler fails permanently is dropped, not nacked:
// the broker would bring it back every few moments, for good.
func TestDeadLetterHandlerPermanentFailureDropsIt(t *testing.T) {
	db := testDB(t)
	cfg := freshConfig(t, db)
	b := newBus(t, db, cfg)
	if err := bus.Handle(b, "h", func(context.Context, seqEvent) error { return bus.Permanent(errors.New("refused")) }); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls := 0
	if err := bus.HandleDeadLetters(b, "dl", func(context.Context, bus.DeadLetter) error {
		mu.Lock()
		calls++
		mu.Unlock()
		return bus.Permanent(errors.New("cannot store the dead letter"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), seqEvent{Seq: 1}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("the dead-letter handler was called %d times in 3 s for one dead letter it refused for good, want 1", calls)
	}
}

// A row whose metadata is not a JSON object of strings (another producer's)
// is dead-lettered, and the events after it are handled: Watermill alone
// fails every batch that holds it, stopping the consumer group there.
func TestUnreadableRowIsDeadLettered(t *testing.T) {
	db := testDB(t)
	cfg := freshConfig(t, db)
	var mu sync.Mutex
	var handled []int
	var dead []bus.DeadLetter
	b := newBus(t, db, cfg)
	if err := bus.Handle(b, "h", func(_ context.Context, e seqEvent) error {
		mu.Lock()
		handled = append(handled, e.Seq)
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := bus.HandleDeadLetters(b, "dl", func(_ context.Context, d bus.DeadLetter) error {
		mu.Lock()
		dead = append(dead, d)
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), `INSERT INTO `+cfg.MessagesTable(seqEvent{}.EventName())+
		` (uuid, payload, metadata, transaction_id) VALUES ('foreign-1', '{"seq":99}', '{"a":1}', pg_current_xact_id())`); err != nil {
		t.Fatal(err)
	}
	publishSeq(t, b, 3)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		h, d := len(handled), len(dead)
		mu.Unlock()
		if h >= 3 && d >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handled %v (want the 3 events after the unreadable row), %d dead letters (want 1)", handled, d)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if d := dead[0]; !strings.Contains(d.Reason, "unreadable") || d.Message.ID != "foreign-1" {
		t.Errorf("dead letter %q (reason %q), want foreign-1, unreadable", d.Message.ID, d.Reason)
	}
	if slices.Contains(handled, 99) {
		t.Error("the handler was called with the unreadable row")
	}
}
