// Package postgres keeps webhooks and their delivery log in PostgreSQL: a
// Store implementing webhooks.Store and a DeliveryLog implementing
// webhooks.DeliveryLog, for hosts that run several replicas or need the
// configuration and the history to survive restarts.
//
// The package imports no driver: it works on a *sql.DB of any PostgreSQL
// driver for database/sql, such as pgx's (github.com/jackc/pgx/v5/stdlib),
// and needs PostgreSQL 9.5 or later. Nothing happens at import time nor in
// the constructors: the host creates the tables with Migrate, once per
// start-up or from its own deployment step:
//
//	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
//	if err != nil { ... }
//	opts := postgres.Options{Schema: "hookbus"} // tables hookbus.hookbus_*
//	if err := postgres.Migrate(ctx, db, opts); err != nil { ... }
//	store, err := postgres.NewStore(db, opts)
//	if err != nil { ... }
//	deliveryLog, err := postgres.NewDeliveryLog(db, postgres.LogOptions{Options: opts})
//	if err != nil { ... }
//	hooks, err := webhooks.New(b, webhooks.Config{Store: store, Log: deliveryLog})
//
// Migrate is idempotent and safe to run from several processes at once.
// Options.Tables lists the tables it creates.
//
// The delivery log grows with every attempt and outcome: a host keeps it
// bounded by calling DeliveryLog.Prune periodically, for example every hour
// with time.Now().Add(-30 * 24 * time.Hour).
//
// Every attempt and outcome is one INSERT: keep the pool's idle connections
// (sql.DB.SetMaxIdleConns) as high as the deliveries that run at once, or
// database/sql's default of two idle connections makes busy deliveries
// reconnect.
//
// Webhook secrets are stored as given, in plain text, since signing needs
// them. Encrypting them at rest is the host's choice, for example with disk
// or database-level encryption and a role restricted to these tables.
// Nothing in this package logs, and no error of it contains, a secret or a
// custom header value.
package postgres
