package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/forwarder"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookbus/hookbus/bus"

	"github.com/hookbus/hookbus/internal/pgident"
)

// forwardDeadline bounds one forward: the bus's Publish, which may wait for
// room. Past it the row is read again later.
const forwardDeadline = time.Minute

// maxErrorLength bounds MetadataLastError.
const maxErrorLength = 500

// newSubscriber reads the outbox table as a queue: rows in insertion order,
// those due only, one at a time (locked FOR UPDATE SKIP LOCKED, so
// forwarders in several processes share the rows), each deleted in the
// transaction that acknowledges it.
//
// One row per read: with more, Watermill's queue adapter would delete every
// row it read when one of them is not acknowledged (at shutdown, or past the
// deadline), including those not forwarded yet.
func (o *Outbox) newSubscriber() (*wsql.Subscriber, error) {
	deadline := forwardDeadline
	sub, err := wsql.NewSubscriber(wsql.BeginnerFromStdSQL(o.db), wsql.SubscriberConfig{
		AckDeadline:      &deadline,
		PollInterval:     o.cfg.PollInterval,
		SchemaAdapter:    o.schema,
		OffsetsAdapter:   wsql.PostgreSQLQueueOffsetsAdapter{DeleteOnAck: true, GenerateMessagesTableName: o.schema.GenerateMessagesTableName},
		InitializeSchema: true,
	}, o.wlog)
	if err != nil {
		return nil, fmt.Errorf("outbox: new subscriber: %w", err)
	}
	return sub, nil
}

// drainingSubscriber reads the outbox for the forwarder and lets the rows
// being forwarded finish when it stops. Watermill's router, when it closes
// or its context ends, closes its subscriber and cancels the subscription
// while a forward may still be publishing: the SQL subscriber then rolls
// back the transaction that would have deleted the row, although the bus
// has taken the event, which is forwarded again. This subscriber reads with
// a context of its own; once stopped it hands the router no more rows,
// waits (at most forwardDeadline) until every row handed over is
// acknowledged or refused, closes the SQL subscriber, which commits what was
// acknowledged first, and then cancels its reads: at once when the SQL
// subscriber has closed, else after closeGrace (a read waiting for a
// connection or a lock, say), which rolls back what it holds.
type drainingSubscriber struct {
	sub     *wsql.Subscriber
	ctx     context.Context // the SQL subscriber's reads and acknowledgements
	cancel  context.CancelFunc
	stopped chan struct{} // closed by stop: no more rows for the router
	once    sync.Once
	feeders sync.WaitGroup // goroutines handing rows to the router
	// inflight counts the rows handed to the router and not yet
	// acknowledged or refused. Added to only by feeders, before they exit.
	inflight  sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ message.Subscriber = (*drainingSubscriber)(nil)

func newDrainingSubscriber(sub *wsql.Subscriber) *drainingSubscriber {
	ctx, cancel := context.WithCancel(context.Background())
	return &drainingSubscriber{sub: sub, ctx: ctx, cancel: cancel, stopped: make(chan struct{})}
}

// Subscribe implements message.Subscriber; the router's context is not the
// one the rows are read with (see drainingSubscriber).
func (d *drainingSubscriber) Subscribe(_ context.Context, topic string) (<-chan *message.Message, error) {
	in, err := d.sub.Subscribe(d.ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	d.feeders.Go(func() {
		defer close(out)
		for {
			var m *message.Message
			select {
			case <-d.stopped:
				return
			case msg, ok := <-in:
				if !ok {
					return
				}
				m = msg
			}
			d.inflight.Add(1)
			select {
			case out <- m:
				go func() {
					defer d.inflight.Done()
					select {
					case <-m.Acked():
					case <-m.Nacked():
					case <-d.ctx.Done():
					}
				}()
			case <-d.stopped:
				d.inflight.Done() // never handed over: its transaction rolls back
				return
			}
		}
	})
	return out, nil
}

// stop hands the router no more rows; the router's handler then ends.
func (d *drainingSubscriber) stop() { d.once.Do(func() { close(d.stopped) }) }

// Close implements message.Subscriber: stop, then wait for the rows being
// forwarded (at most forwardDeadline), then close the SQL subscriber and
// cancel its reads. It is safe to call more than once.
func (d *drainingSubscriber) Close() error {
	d.closeOnce.Do(func() {
		d.stop()
		d.feeders.Wait()
		done := make(chan struct{})
		go func() {
			d.inflight.Wait()
			close(done)
		}()
		t := time.NewTimer(forwardDeadline)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
		closed := make(chan error, 1)
		go func() { closed <- d.sub.Close() }()
		grace := time.NewTimer(closeGrace)
		select {
		case d.closeErr = <-closed:
		case <-grace.C:
			d.cancel() // ends the read it waits for
			d.closeErr = <-closed
		}
		grace.Stop()
		d.cancel()
	})
	return d.closeErr
}

// closeGrace is how long a stopping forwarder lets the SQL subscriber finish
// what it is doing (committing an acknowledged row) before it cancels it.
const closeGrace = time.Second

// retryLater wraps the forwarder's handler: when the bus refuses an event,
// it puts the row back into the outbox, due after a backoff, within the
// transaction that acknowledges (and so deletes) the row, and logs the
// refusal.
func (o *Outbox) retryLater(forward message.HandlerFunc) message.HandlerFunc {
	return func(row *message.Message) ([]*message.Message, error) {
		_, err := forward(row)
		if err == nil {
			return nil, nil
		}
		env := peekEnvelope(row)
		// Only the event's own invalidity is final: an Inline handler's
		// error may wrap ErrInvalidEvent too, and is retried like any other.
		if errors.Is(err, bus.ErrInvalidEvent) && !errors.Is(err, bus.ErrInlineHandler) {
			o.log.Error("outbox: event refused by the bus as invalid, dropped",
				"event", env.DestinationTopic, "event_id", env.UUID, "error", err)
			return nil, nil
		}
		tx, ok := wsql.TxFromContext(row.Context())
		if !ok {
			return nil, err // nacked: read again at once
		}
		attempts, _ := strconv.Atoi(row.Metadata.Get(MetadataAttempts))
		attempts++
		wait := o.backoff(attempts)
		again := message.NewMessage(watermill.NewUUID(), row.Payload)
		for k, v := range row.Metadata {
			again.Metadata[k] = v
		}
		again.Metadata[MetadataAttempts] = strconv.Itoa(attempts)
		again.Metadata[MetadataNotBefore] = time.Now().Add(wait).UTC().Format(time.RFC3339Nano)
		again.Metadata[MetadataLastError] = truncate(err.Error(), maxErrorLength)
		again.SetContext(row.Context())
		pub, perr := wsql.NewPublisher(tx, wsql.PublisherConfig{SchemaAdapter: o.schema}, o.wlog)
		if perr == nil {
			perr = pub.Publish(o.cfg.Topic, again)
		}
		if perr != nil {
			return nil, errors.Join(err, fmt.Errorf("outbox: put back for a retry: %w", perr))
		}
		o.log.Warn("outbox: event refused by the bus, retrying later",
			"event", env.DestinationTopic, "event_id", env.UUID, "attempts", attempts, "retry_in", wait, "error", err)
		return nil, nil
	}
}

// backoff returns the wait before attempt n+1: between half the limit and
// the limit, the limit doubling from RetryInitial up to RetryMax.
func (o *Outbox) backoff(n int) time.Duration {
	limit := bus.RetryPolicy{InitialBackoff: o.cfg.RetryInitial, MaxBackoff: o.cfg.RetryMax}.BackoffLimit(n)
	half := limit / 2
	return half + time.Duration(rand.Int64N(int64(limit-half)+1))
}

// envelope is the part of Watermill's forwarder envelope the logs name.
type envelope struct {
	DestinationTopic string `json:"destination_topic"`
	UUID             string `json:"uuid"`
}

func peekEnvelope(row *message.Message) envelope {
	var e envelope
	_ = json.Unmarshal(row.Payload, &e) // only for logs: empty fields say it did not decode
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// forwarderConfig is the configuration of Watermill's forwarder.
func (o *Outbox) forwarderConfig() forwarder.Config {
	return forwarder.Config{
		ForwarderTopic:      o.cfg.Topic,
		Middlewares:         []message.HandlerMiddleware{o.retryLater},
		AckWhenCannotUnwrap: true,
		// Longer than a forward may take, which Close waits for: the
		// router's default (30 s) would report a forward that finished as a
		// close timeout.
		CloseTimeout: forwardDeadline + 2*closeGrace,
	}
}

// busPublisher publishes the forwarder's messages through the bus, under its
// rules; it does not own the bus.
type busPublisher struct{ b *bus.Bus }

var _ message.Publisher = busPublisher{}

func (p busPublisher) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		if err := p.publish(m); err != nil {
			return err
		}
	}
	return nil
}

// publish waits for room on the bus for at most half the forward's
// deadline, so that a refusal still leaves the other half to put the row
// back, in the same transaction, before the deadline aborts it.
func (p busPublisher) publish(m *message.Message) error {
	ctx, cancel := context.WithTimeout(m.Context(), forwardDeadline/2)
	defer cancel()
	return p.b.PublishMessage(ctx, m)
}

func (busPublisher) Close() error { return nil }

// outboxSchema is Watermill's PostgreSQL queue schema on one table, holding
// only the rows that are due, and creating its schema and table itself (with
// a 64-bit offset, where Watermill's would wrap after 2^31 rows ever
// inserted).
type outboxSchema struct {
	wsql.PostgreSQLQueueSchema
	schema string
	table  string // quoted, qualified
}

var _ wsql.SchemaAdapter = outboxSchema{}

func newOutboxSchema(schema, table string) outboxSchema {
	return outboxSchema{
		PostgreSQLQueueSchema: wsql.PostgreSQLQueueSchema{
			GenerateMessagesTableName: func(string) string { return table },
			GenerateWhereClause: func(wsql.GenerateWhereClauseParams) (string, []any) {
				return `((metadata->>'` + MetadataNotBefore + `') IS NULL OR (metadata->>'` + MetadataNotBefore + `')::timestamptz <= now())`, nil
			},
			SubscribeBatchSize: 1,
		},
		schema: schema,
		table:  table,
	}
}

// SchemaInitializingQueries creates the schema when missing (CREATE SCHEMA IF
// NOT EXISTS would need the CREATE privilege on the database even when it
// exists) and the table, after Watermill's schema lock.
func (s outboxSchema) SchemaInitializingQueries(wsql.SchemaInitializingQueriesParams) ([]wsql.Query, error) {
	return []wsql.Query{
		{Query: `SELECT pg_advisory_xact_lock($1)`, Args: []any{wsql.DefaultSchemaInitializationLock("watermill")}},
		{Query: `DO $$ BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = '` + s.schema + `') THEN
		CREATE SCHEMA ` + pgident.Quote(s.schema) + `;
	END IF;
END $$`},
		{Query: `CREATE TABLE IF NOT EXISTS ` + s.table + ` (
	"offset" BIGSERIAL PRIMARY KEY,
	"uuid" VARCHAR(36) NOT NULL,
	"payload" JSON DEFAULT NULL,
	"metadata" JSON DEFAULT NULL,
	"acked" BOOLEAN NOT NULL DEFAULT FALSE,
	"created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP
)`},
	}, nil
}

// SelectQuery is Watermill's, with SKIP LOCKED: a row another forwarder is
// forwarding is passed over rather than waited for, so forwarders in several
// processes share the work. Each row is deleted when acknowledged, so no
// offset can be skipped.
func (s outboxSchema) SelectQuery(params wsql.SelectQueryParams) (wsql.Query, error) {
	q, err := s.PostgreSQLQueueSchema.SelectQuery(params)
	if err != nil {
		return q, err
	}
	q.Query = strings.TrimSpace(q.Query) + " SKIP LOCKED"
	return q, nil
}

// RequiresTransaction makes Watermill create the table in a transaction,
// under the advisory lock.
func (outboxSchema) RequiresTransaction() bool { return true }
