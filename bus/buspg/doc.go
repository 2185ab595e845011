// Package buspg runs a bus on PostgreSQL, with Watermill's SQL Pub/Sub
// (github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql): events survive
// restarts, and several processes share the work.
//
//	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
//	if err != nil { ... }
//	cfg, err := buspg.New(db, buspg.Config{})
//	if err != nil { ... }
//	b, err := bus.New(cfg) // set Logger, Workers and the rest on cfg first
//
// The package imports no driver: it works on a *sql.DB of any PostgreSQL
// driver for database/sql, such as pgx's (github.com/jackc/pgx/v5/stdlib,
// whose OpenDBFromPool turns a pgxpool.Pool into one). It needs PostgreSQL
// 13 or later.
//
// # Tables
//
// Each event name (and the dead-letter topic) is a table of messages,
// Config.MessagesTable, appended to by Publish; each of its handler names is
// a consumer group, whose position is a row of Config.OffsetsTable. Tables
// are created when first published to or subscribed to, in Config.Schema.
// A consumer group that did not exist starts at the beginning of the table:
// a new handler gets every event ever published under its event name.
// Nothing deletes messages: a host that wants the tables bounded deletes old
// rows itself, for example those whose created_at is a month old.
//
// # Consumer groups and replicas
//
// Every handler gets every event once per consumer group, whichever of the
// processes running it reads it: one subscriber of a group reads at a time,
// holding the group's offset row locked (SELECT ... FOR UPDATE) in a
// transaction while it hands the messages of a batch to the bus one by one,
// and commits the new offset once they are acknowledged. Replicas of a
// handler therefore take turns rather than work in parallel; within one
// process the bus's workers of that handler see one message at a time. The
// bus's throughput on PostgreSQL is bounded by that: see BenchmarkPublishHandle.
// Subscribers read under REPEATABLE READ: a replica that waited for the
// lock fails to serialize once the batch before it commits, and queries
// again. After each batch a subscriber pauses for Config.TurnPause, so that
// the waiting replica, rather than the one that just committed, takes the
// next batch: the turns go round.
//
// A crash rolls the transaction back, and the next reader gets the batch
// again (at least once). Shutdown does not: the bus finishes the messages
// its handlers hold, then closes the subscriber, which records the messages
// of the batch handled so far and leaves the rest to the next reader.
//
// # Connections
//
// Every handler holds a connection while it reads, and publishers need their
// own: size the pool (sql.DB.SetMaxOpenConns) for handlers plus concurrent
// publishers, and keep as many idle (SetMaxIdleConns): database/sql keeps
// only two idle connections by default, so a busy bus would reconnect for
// every burst.
//
// # Acknowledgement deadline
//
// A message not acknowledged within Config.AckDeadline is given up by the
// subscriber: it commits the offsets of the messages acknowledged before it
// and reads the message again, so it is handled a second time while the
// first handling may still run; that one's acknowledgement, when it comes,
// is ignored. Handlers must therefore be idempotent (the event id is stable)
// and should finish well within the deadline. The default, DefaultAckDeadline,
// leaves room for a webhook delivery with the spec's limits.
//
// A long handler has a cost beyond its own handler: the reading transaction
// stays open while it runs, and Watermill reads only messages of
// transactions older than every open one (pg_snapshot_xmin), so that a
// message committed late never overtakes one committed early. While one
// handler runs for a minute, no subscriber of the database sees messages
// published during that minute, on any topic. Handlers on PostgreSQL should
// be short: hand long work (such as webhook deliveries with retries) to
// rows or messages of their own and acknowledge the event at once. The same
// holds for any transaction of the database that has written or locked rows,
// the host's included: while one stays open, subscribers see nothing
// published after it began.
package buspg
