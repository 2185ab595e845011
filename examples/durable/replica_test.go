package main

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/postgres"
)

// Size of the replica tests.
const (
	replicas      = 3
	replicaEvents = 1000
	// replicaPublishers is the number of goroutines publishing the events.
	replicaPublishers = 8
	replicaDeadline   = 2 * time.Minute
	// replicaBatchSize is the PostgreSQL subscribers' batch. The replicas of
	// a handler take turns, a batch each, on the consumer group's offset
	// row: with batches of ten, 1,000 events make a hundred turns, where the
	// default of 100 would make ten.
	replicaBatchSize = 10
)

// TestReplicas runs three worker processes on one bus, on PostgreSQL (one
// schema: one consumer group per handler, read in batches of
// replicaBatchSize) and on NATS JetStream (one stream: one durable consumer
// and queue group per handler), with the
// webhook store and delivery log shared in PostgreSQL. With nothing crashing,
// every event must be delivered exactly once, and every replica must make
// some of the deliveries. It reports the split between the replicas and the
// deliveries per second from the first Publish to the last delivery.
func TestReplicas(t *testing.T) {
	t.Run(backendPostgres, func(t *testing.T) {
		db, url := testDB(t)
		schema := freshSchema(t, db)
		testReplicas(t, db, workerSpec{DB: url, Schema: schema, Backend: backendPostgres, BatchSize: replicaBatchSize},
			func(t *testing.T) bus.Config { return postgresBusConfig(t, db, schema) })
	})
	t.Run(backendNATS, func(t *testing.T) {
		natsURL, prefix := testNATS(t)
		db, url := testDB(t)
		schema := freshSchema(t, db)
		testReplicas(t, db, workerSpec{DB: url, Schema: schema, Backend: backendNATS, NATSURL: natsURL, Prefix: prefix},
			func(t *testing.T) bus.Config { return natsBusConfig(t, natsURL, prefix) })
	})
}

func testReplicas(t *testing.T, db *sql.DB, spec workerSpec, busConfig func(t *testing.T) bus.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), replicaDeadline+time.Minute)
	defer cancel()
	rec := newCountingReceiver(t)
	wh := createWebhook(t, db, spec.Schema, rec.URL())
	rec.setSecret(t, wh.Secret)

	workers := make([]*worker, replicas)
	for i := range workers {
		s := spec
		s.Replica = i + 1
		workers[i] = startWorker(t, fmt.Sprintf("replica %d", s.Replica), s)
	}
	pub := publishBus(t, busConfig(t))
	events := newEvents("replica", replicaEvents)

	start := time.Now()
	if err := publishConcurrently(ctx, pub, events, replicaPublishers); err != nil {
		t.Fatalf("publish: %v", err)
	}
	publishedIn := time.Since(start)
	waitCtx, waitCancel := context.WithTimeout(ctx, replicaDeadline)
	defer waitCancel()
	waitErr := rec.waitDistinct(waitCtx, replicaEvents)
	elapsed := time.Since(start)
	// Nothing fails, so nothing may be delivered twice, not even while the
	// replicas shut down one after the other: a replica stopping in the
	// middle of a batch records what it has handled before it goes.
	got := rec.snapshot()
	for _, w := range workers {
		w.stop()
	}
	if after := rec.snapshot(); after.requests > got.requests {
		t.Errorf("%s: %d more requests while the replicas stopped", spec.Backend, after.requests-got.requests)
	}

	missing, unknown := got.missing(events)
	t.Logf("%s: %d replicas delivered %d of %d events in %v (published in %v): %.0f deliveries/s; requests %d, duplicates %d; split by replica %s",
		spec.Backend, replicas, replicaEvents-len(missing), replicaEvents, elapsed.Round(time.Millisecond), publishedIn.Round(time.Millisecond),
		float64(replicaEvents-len(missing))/elapsed.Seconds(), got.requests, got.duplicates(), got.split())
	if waitErr != nil {
		t.Errorf("%v", waitErr)
	}
	if len(missing) > 0 {
		t.Errorf("%d events never received, such as %v", len(missing), missing[:min(5, len(missing))])
	}
	if unknown > 0 || got.unverified > 0 {
		t.Errorf("%d requests with an unknown webhook-id, %d unverified", unknown, got.unverified)
	}
	for id, n := range got.byID {
		if n != 1 {
			t.Errorf("event %s received %d times, want exactly once", id, n)
		}
	}
	for i := 1; i <= replicas; i++ {
		if got.byReplica[strconv.Itoa(i)] == 0 {
			t.Errorf("replica %d delivered nothing (split %s)", i, got.split())
		}
	}

	deliveryLog, err := postgres.NewDeliveryLog(db, postgres.LogOptions{Options: postgres.Options{Schema: spec.Schema}})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := deliveryLog.Deliveries(ctx, webhooks.DeliveryQuery{WebhookID: wh.ID})
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[webhooks.Outcome]int{}
	for _, r := range recs {
		outcomes[r.Outcome]++
	}
	if len(recs) != replicaEvents || outcomes[webhooks.OutcomeDelivered] != replicaEvents {
		t.Errorf("delivery log: %d records, outcomes %v; want %d delivered", len(recs), outcomes, replicaEvents)
	}
}
