package main

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/bus/busnats"
	"github.com/hookbus/hookbus/bus/buspg"
	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/postgres"
)

// BenchmarkDeliveries measures deliveries per second end to end, in one
// process: 16 goroutines publish b.N meeting_status_changed events with
// Service.Publish on a durable bus, and the clock stops when the receiver, on
// loopback in the same process, has received every one. One webhook takes
// every event. Run it with a fixed count, for example:
//
//	go test -run '^$' -bench Deliveries -benchtime 5000x ./examples/durable
//
// The variants:
//
//   - postgres: bus on PostgreSQL (bus/buspg), store and delivery log in
//     PostgreSQL, every default;
//   - nats: bus on NATS JetStream (bus/busnats), store and delivery log in
//     PostgreSQL, every default;
//   - nats-memory-log: the same with the in-memory store and delivery log,
//     which leaves the broker and HTTP;
//   - nats-wide: nats with 64 messages in flight per handler (bus workers,
//     NATS subscribers), 64 delivery workers, 64 per webhook and 64
//     database connections.
func BenchmarkDeliveries(b *testing.B) {
	for _, v := range []struct {
		name    string
		backend string
		pgLog   bool
		wide    bool
	}{
		{"postgres", backendPostgres, true, false},
		{"nats", backendNATS, true, false},
		{"nats-memory-log", backendNATS, false, false},
		{"nats-wide", backendNATS, true, true},
	} {
		b.Run(v.name, func(b *testing.B) {
			db, _ := testDB(b)
			schema := freshSchema(b, db)
			var bc bus.Config
			var err error
			const wide = 64
			switch v.backend {
			case backendPostgres:
				bc, err = buspg.New(db, buspg.Config{Schema: schema})
			case backendNATS:
				url, prefix := testNATS(b)
				nc := busnats.Config{Prefix: prefix}
				if v.wide {
					nc.Subscribers, nc.MaxAckPending = wide, 4*wide
				}
				bc, err = busnats.New(url, nc)
			}
			if err != nil {
				b.Fatal(err)
			}
			cfg := webhooks.Config{Sender: loopbackSender()}
			if v.wide {
				bc.Workers = wide
				cfg.Workers, cfg.MaxConcurrencyPerWebhook = wide, wide
				db.SetMaxOpenConns(wide)
				db.SetMaxIdleConns(wide)
			}
			if v.pgLog {
				cfg.Store, cfg.Log = pgStoreAndLog(b, db, schema)
			}
			benchmarkDeliveries(b, bc, cfg)
		})
	}
}

func benchmarkDeliveries(b *testing.B, bc bus.Config, cfg webhooks.Config) {
	ctx := context.Background()
	bs, err := bus.New(bc)
	if err != nil {
		b.Fatal(err)
	}
	hooks, err := webhooks.New(bs, cfg)
	if err != nil {
		b.Fatal(err)
	}
	rec := newCountingReceiver(b)
	wh, err := hooks.Create(ctx, webhooks.Webhook{Name: "bench", URL: rec.URL(), EventType: webhooks.MeetingStatusChangedEvent})
	if err != nil {
		b.Fatal(err)
	}
	rec.setSecret(b, wh.Secret)
	if err := hooks.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		shutCtx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := hooks.Shutdown(shutCtx); err != nil {
			b.Error(err)
		}
	})
	// The first event creates the topic's table or stream.
	warm := webhooks.MeetingStatusChanged{MeetingID: "warm-up", Status: webhooks.MeetingCreated}
	if err := hooks.Publish(ctx, warm); err != nil {
		b.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := rec.waitDistinct(waitCtx, 1); err != nil {
		b.Fatal(err)
	}

	events := make(chan webhooks.MeetingStatusChanged)
	b.ResetTimer()
	start := time.Now()
	go func() {
		for i := range b.N {
			events <- webhooks.MeetingStatusChanged{MeetingID: fmt.Sprint("m-", i), Status: webhooks.MeetingSummaryDone}
		}
		close(events)
	}()
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			var first error
			for e := range events {
				if err := hooks.Publish(ctx, e); err != nil && first == nil {
					first = err
				}
			}
			errs <- first
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	published := time.Since(start)
	waitCtx, cancel = context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := rec.waitDistinct(waitCtx, b.N+1); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(b.N)/published.Seconds(), "publishes/s")
	if s := rec.snapshot(); s.duplicates() > 0 {
		b.ReportMetric(float64(s.duplicates()), "duplicates")
	}
}

func pgStoreAndLog(b *testing.B, db *sql.DB, schema string) (webhooks.Store, webhooks.DeliveryLog) {
	opts := postgres.Options{Schema: schema}
	store, err := postgres.NewStore(db, opts)
	if err != nil {
		b.Fatal(err)
	}
	log, err := postgres.NewDeliveryLog(db, postgres.LogOptions{Options: opts})
	if err != nil {
		b.Fatal(err)
	}
	return store, log
}
