package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/bus/busnats"
	"github.com/hookbus/hookbus/bus/buspg"
)

// Values of -backend.
const (
	backendMemory   = "memory"
	backendPostgres = "postgres"
	backendNATS     = "nats"
)

// backend supplies the transport of the bus under measurement. Every mode
// builds its buses through one, so a broker-backed run differs from the
// in-memory one only here.
type backend interface {
	// name is the value of -backend.
	name() string
	// describe says where the backend keeps events, for the report.
	describe() string
	// busConfig returns cfg with the backend's Publisher and Subscriber (or
	// NewSubscriber) set, and a function that releases what it created,
	// called after the bus has shut down. Each call gives a bus of its own:
	// nothing one measured service left behind reaches the next.
	busConfig(ctx context.Context, cfg bus.Config) (bus.Config, func() error, error)
	// close releases what the backend holds for the whole run, after every
	// bus it configured has shut down.
	close(ctx context.Context) error
}

// newBackend returns the backend o.backend names. The PostgreSQL backend
// keeps its tables in db's schema; the NATS backend connects at once, so an
// unreachable server fails the run before anything is measured.
func newBackend(ctx context.Context, o options, db *database) (backend, error) {
	switch o.backend {
	case backendMemory:
		return memoryBackend{}, nil
	case backendPostgres:
		if db == nil {
			return nil, errors.New("-backend postgres: no database")
		}
		return &postgresBackend{db: db}, nil
	case backendNATS:
		return newNATSBackend(ctx, o.natsURL)
	}
	return nil, fmt.Errorf("-backend %q: want %s, %s or %s", o.backend, backendMemory, backendPostgres, backendNATS)
}

// memoryBackend is the in-memory transport: the in-process one bus.New
// makes when Publisher and Subscriber are nil.
type memoryBackend struct{}

func (memoryBackend) name() string { return backendMemory }

func (memoryBackend) describe() string { return "in memory, in process (the zero bus.Config)" }

func (memoryBackend) busConfig(_ context.Context, cfg bus.Config) (bus.Config, func() error, error) {
	return cfg, func() error { return nil }, nil
}

func (memoryBackend) close(context.Context) error { return nil }

// postgresBackend is Watermill's PostgreSQL Pub/Sub (bus/buspg) with its
// defaults. Every bus gets tables of its own, named with a prefix of its own
// in the run's schema, which the database drops at the end of the run.
type postgresBackend struct {
	db    *database
	buses atomic.Int64
}

func (*postgresBackend) name() string { return backendPostgres }

func (p *postgresBackend) describe() string {
	return fmt.Sprintf("PostgreSQL (bus/buspg, default poll interval %v and batch size %d) at %s, tables in schema %s (dropped at exit), pool of %d connections",
		buspg.DefaultPollInterval, buspg.DefaultBatchSize, p.db.addr, p.db.schema, p.db.conns)
}

func (p *postgresBackend) busConfig(_ context.Context, cfg bus.Config) (bus.Config, func() error, error) {
	pc, err := buspg.New(p.db.db, buspg.Config{
		Schema:      p.db.schema,
		TablePrefix: fmt.Sprintf("bus%d_", p.buses.Add(1)),
	})
	if err != nil {
		return bus.Config{}, nil, err
	}
	cfg.Publisher, cfg.Subscriber, cfg.NewSubscriber = pc.Publisher, nil, pc.NewSubscriber
	return cfg, func() error { return nil }, nil
}

func (*postgresBackend) close(context.Context) error { return nil }

// natsStreamMaxAge bounds how long the streams of a run that could not
// delete them (killed, say) keep their messages.
const natsStreamMaxAge = time.Hour

// natsBackend is Watermill's NATS JetStream Pub/Sub (bus/busnats). Every bus
// gets streams of its own, under a prefix of its own that starts with the
// run's, and deletes them (with their consumers) once it has shut down;
// close sweeps whatever is left of the run. A stream a killed run leaves
// keeps its messages at most natsStreamMaxAge.
type natsBackend struct {
	url   string
	runID string // "hb" and 6 hex digits; buses add "-" and their number
	conn  *nats.Conn
	js    nats.JetStreamContext
	buses atomic.Int64
}

func newNATSBackend(ctx context.Context, url string) (*natsBackend, error) {
	conn, err := nats.Connect(url, nats.Name("hookbus bench"), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("-backend nats: connect %s: %w", redactURL(url), err)
	}
	js, err := conn.JetStream(nats.Context(ctx))
	if err == nil {
		// Fails when the server runs without JetStream.
		_, err = js.AccountInfo(nats.Context(ctx))
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("-backend nats: JetStream at %s: %w", redactURL(url), err)
	}
	return &natsBackend{url: url, runID: "hb" + randomHex(3), conn: conn, js: js}, nil
}

func (*natsBackend) name() string { return backendNATS }

func (n *natsBackend) describe() string {
	return fmt.Sprintf("NATS JetStream (bus/busnats, file storage) at %s, streams %s-N_* (deleted after each service; max age %v)",
		redactURL(n.url), n.runID, natsStreamMaxAge)
}

func (n *natsBackend) busConfig(ctx context.Context, cfg bus.Config) (bus.Config, func() error, error) {
	prefix := fmt.Sprintf("%s-%d", n.runID, n.buses.Add(1))
	// One subscription per bus worker, and no more messages out for
	// acknowledgement than the workers take: the closed loop has no more in
	// flight, and extra ones would wait in the client.
	subscribers := cmp.Or(cfg.Workers, bus.DefaultWorkers)
	nc, err := busnats.New(n.url, busnats.Config{
		Prefix:        prefix,
		Subscribers:   subscribers,
		MaxAckPending: subscribers,
		MaxAge:        natsStreamMaxAge,
	})
	if err != nil {
		return bus.Config{}, nil, err
	}
	cfg.Publisher, cfg.Subscriber, cfg.NewSubscriber = nc.Publisher, nil, nc.NewSubscriber
	release := func() error {
		// The bus closed its publisher already, unless bus.New failed;
		// closing it twice is harmless.
		return errors.Join(nc.Publisher.Close(), n.deleteStreams(ctx, prefix+"_"))
	}
	return cfg, release, nil
}

func (n *natsBackend) close(ctx context.Context) error {
	defer n.conn.Close()
	return n.deleteStreams(ctx, n.runID+"-")
}

// deleteStreams deletes the streams whose names start with prefix, and so
// their consumers. It runs after ctx may have ended.
func (n *natsBackend) deleteStreams(ctx context.Context, prefix string) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var names []string
	for name := range n.js.StreamNames(nats.Context(dctx)) {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	var errs []error
	for _, name := range names {
		if err := n.js.DeleteStream(name, nats.Context(dctx)); err != nil && !errors.Is(err, nats.ErrStreamNotFound) {
			errs = append(errs, fmt.Errorf("delete stream %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
