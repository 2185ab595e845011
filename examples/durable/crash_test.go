package main

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bus/outbox"
	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/postgres"
)

// crashEvents is the number of events the crash test delivers.
const crashEvents = 2000

// crashDeadline bounds the wait, after the restart, for every event.
const crashDeadline = 2 * time.Minute

// TestCrashRedelivery kills a worker with SIGKILL in the middle of its
// deliveries and checks that, once a new worker runs on the same schema
// (same outbox, same consumer groups, same delivery log), every event
// reaches the receiver at least once. The events go through the outbox in
// committed transactions, half before the first worker starts and half while
// it runs; the worker forwards them to the bus on PostgreSQL and delivers
// them to a receiver in this process. The kill comes from inside the
// receiver, while the request that reached a random count of distinct events
// (between a tenth and a half of them) waits for its answer, so at least that
// delivery is in flight when the worker dies.
func TestCrashRedelivery(t *testing.T) {
	db, url := testDB(t)
	schema := freshSchema(t, db)
	ctx, cancel := context.WithTimeout(context.Background(), crashDeadline+time.Minute)
	defer cancel()
	if err := createMeetingsTable(ctx, db, schema); err != nil {
		t.Fatal(err)
	}

	rec := newCountingReceiver(t)
	wh := createWebhook(t, db, schema, rec.URL())
	rec.setSecret(t, wh.Secret)

	// This process only stores events in the outbox: its bus never starts.
	ob, err := outbox.New(publishBus(t, postgresBusConfig(t, db, schema)), db, outbox.Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	events := newEvents("crash", crashEvents)
	const batch = 20
	if err := publishThroughOutbox(ctx, db, ob, schema, events[:crashEvents/2], batch); err != nil {
		t.Fatal(err)
	}

	spec := workerSpec{DB: url, Schema: schema, Backend: backendPostgres, Outbox: true}
	killAt := crashEvents/10 + rand.IntN(crashEvents*4/10)
	first := newWorker(t, "first", spec)
	killed := make(chan struct{})
	var once sync.Once
	rec.setHook(func(distinct int) {
		if distinct >= killAt {
			once.Do(func() {
				first.kill()
				close(killed)
			})
		}
	})
	start := time.Now()
	first.start()
	published := make(chan error, 1)
	go func() {
		published <- publishThroughOutbox(ctx, db, ob, schema, events[crashEvents/2:], batch)
	}()

	select {
	case <-killed:
	case <-time.After(crashDeadline):
		t.Fatalf("the first worker did not reach %d distinct events within %v: %d", killAt, crashDeadline, rec.distinct())
	}
	first.waitExit()
	rec.setHook(nil)
	atKill := rec.snapshot()
	t.Logf("first worker killed after %v: %d distinct events received, %d requests", time.Since(start).Round(time.Millisecond), len(atKill.byID), atKill.requests)

	restart := time.Now()
	second := startWorker(t, "second", spec)
	if err := <-published; err != nil {
		t.Fatalf("publish: %v", err)
	}
	waitCtx, waitCancel := context.WithTimeout(ctx, crashDeadline)
	defer waitCancel()
	waitErr := rec.waitDistinct(waitCtx, crashEvents)
	elapsed := time.Since(start)
	second.stop()

	got := rec.snapshot()
	missing, unknown := got.missing(events)
	t.Logf("delivered ids %d of %d, requests %d, duplicates %d, unverified %d; killed at %d distinct; total %v (%v after the restart)",
		crashEvents-len(missing), crashEvents, got.requests, got.duplicates(), got.unverified,
		len(atKill.byID), elapsed.Round(time.Millisecond), time.Since(restart).Round(time.Millisecond))
	if waitErr != nil {
		t.Errorf("after the restart: %v", waitErr)
	}
	if len(missing) > 0 {
		t.Errorf("%d events never received, such as %v", len(missing), missing[:min(5, len(missing))])
	}
	if unknown > 0 || got.unverified > 0 {
		t.Errorf("%d requests with an unknown webhook-id, %d unverified", unknown, got.unverified)
	}

	// The delivery log has a delivered record for every event, and the
	// outbox forwarded everything.
	deliveryLog, err := postgres.NewDeliveryLog(db, postgres.LogOptions{Options: postgres.Options{Schema: schema}})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := deliveryLog.Deliveries(ctx, webhooks.DeliveryQuery{WebhookID: wh.ID, Outcome: webhooks.OutcomeDelivered})
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	for _, r := range recs {
		recorded[r.EventID] = true
	}
	if len(recorded) != crashEvents {
		t.Errorf("delivery log: %d events delivered on record (%d records), want %d", len(recorded), len(recs), crashEvents)
	}
	var left int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+outbox.Config{Schema: schema}.Table()).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d events left in the outbox", left)
	}
}
