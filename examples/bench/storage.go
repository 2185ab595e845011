package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/postgres"
)

// Values of -store.
const (
	storeMemory   = "memory"
	storePostgres = "postgres"
)

// storage supplies the webhook store and the delivery log of every measured
// service: in memory (the service's defaults, so that a broker-backed figure
// measures the bus backend), or in PostgreSQL (webhooks/postgres), which
// makes every step of a delivery durable.
type storage struct {
	kind     string
	db       *database // nil in memory
	services atomic.Int64
}

// newStorage returns the storage kind names; postgres keeps its tables in
// db's schema.
func newStorage(kind string, db *database) (*storage, error) {
	if kind == storePostgres && db == nil {
		return nil, errors.New("-store postgres: no database")
	}
	return &storage{kind: kind, db: db}, nil
}

// describe says where webhooks and outcomes are kept, for the report.
func (s *storage) describe() string {
	if s.kind == storePostgres {
		return fmt.Sprintf("webhook store and delivery log in PostgreSQL (webhooks/postgres) at %s, schema %s: every attempt and outcome is an INSERT",
			s.db.addr, s.db.schema)
	}
	return "webhook store and delivery log in memory (the service's defaults): the figure measures the bus backend and HTTP; -store postgres makes them durable too"
}

// open returns a store and a delivery log of their own for one service. In
// PostgreSQL, each service gets tables of its own (a prefix of its own in the
// run's schema, created with postgres.Migrate), so that it sees no webhook of
// another.
func (s *storage) open(ctx context.Context) (webhooks.Store, webhooks.DeliveryLog, error) {
	if s.kind != storePostgres {
		return webhooks.NewMemoryStore(), webhooks.NewMemoryLog(0), nil
	}
	opts := postgres.Options{Schema: s.db.schema, TablePrefix: fmt.Sprintf("svc%d_", s.services.Add(1))}
	if err := postgres.Migrate(ctx, s.db.db, opts); err != nil {
		return nil, nil, err
	}
	store, err := postgres.NewStore(s.db.db, opts)
	if err != nil {
		return nil, nil, err
	}
	log, err := postgres.NewDeliveryLog(s.db.db, postgres.LogOptions{Options: opts})
	if err != nil {
		return nil, nil, err
	}
	return store, log, nil
}
