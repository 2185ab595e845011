// Package outbox is a transactional outbox for a bus: the host publishes an
// event inside its own PostgreSQL transaction, next to its business write,
// and the event exists if and only if that transaction commits. A forwarder
// then moves the committed events on to the bus, whatever its transport: the
// in-memory one, PostgreSQL (bus/buspg) or NATS JetStream (bus/busnats).
//
//	ob, err := outbox.New(b, db, outbox.Config{})
//	if err != nil { ... }
//	if err := ob.Migrate(ctx); err != nil { ... } // creates the outbox table
//	go ob.Run(ctx)                               // the forwarder
//
//	tx, err := db.BeginTx(ctx, nil)
//	...                                          // the business write
//	if err := ob.Publish(ctx, tx, OrderPlaced{...}); err != nil { ... }
//	err = tx.Commit()                            // the event exists from here on
//
// PublishPgx does the same in a pgx.Tx. The package imports no driver: it
// works on a *sql.DB of any PostgreSQL driver for database/sql, and needs
// PostgreSQL 9.5 or later.
//
// # What is stored
//
// Publish stores what bus.Bus.Publish would have published (bus.Bus.NewMessage
// makes it): the event's JSON, its id, name and time, and the trace context
// of its publish span, a child of the span of Publish's context. Handlers see
// the event as if it had been published directly, their spans children of
// that publish span. The table is a Watermill SQL queue of Watermill
// forwarder envelopes (components/forwarder), one row per event committed
// and not forwarded yet.
//
// # Forwarding
//
// Run is Watermill's forwarder reading the table; it publishes each event
// with bus.Bus.PublishMessage, so the bus's rules apply: on the in-memory
// transport an event is refused before the bus starts, when no handler takes
// it, or when MaxPending is reached with OverflowFail. A refused event stays
// in the outbox: it is put back with a due time after a backoff, in the
// transaction that removes it, the refusal is logged, and the events behind
// it go on. A forwarded event is removed in the transaction that
// acknowledges the forward: a crash between the forward and that commit
// forwards it again, so delivery is at least once, and consumers dedupe on
// the event id (bus/busnats drops a second publish of an event id within
// two minutes by itself). Events are forwarded roughly in the order they
// were stored, but no order is guaranteed: a refused event, for one, comes
// after those behind it. On the in-process transport, handlers registered
// with bus.Inline run inside the forward (the webhooks dispatcher is one): a
// forward refused part-way, once some of them queued their work, is
// forwarded again later with the same event id, so they see it twice and
// rely on that id to dedupe, as with any redelivery. Stop the forwarder (Close, or the end of Run's
// context) before shutting the bus down: events it forwards to a closed bus
// are refused, and wait in the outbox for the next run.
package outbox
