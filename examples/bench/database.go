package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// database is the PostgreSQL database of a run: a pool, and a schema of the
// run's own that holds every table the run creates and is dropped, with
// them, by close.
type database struct {
	db     *sql.DB
	schema string
	addr   string // the URL without its password, for the report
	conns  int
}

// openDatabase connects to the database at dsn with a pool of conns
// connections, all kept idle between bursts, and creates the run's schema.
func openDatabase(ctx context.Context, dsn string, conns int) (*database, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	// database/sql keeps two idle connections unless told otherwise, and
	// PostgreSQL starts a process for every new one: a pool that shrinks
	// between bursts would measure reconnections.
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	d := &database{db: db, schema: "hookbus_bench_" + randomHex(6), addr: redactURL(dsn), conns: conns}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(cctx); err != nil {
		return nil, errors.Join(fmt.Errorf("database %s: %w", d.addr, err), db.Close())
	}
	// The schema is created here rather than by the first package that
	// needs it, so that close can drop it whatever happened in between.
	if _, err := db.ExecContext(cctx, `CREATE SCHEMA `+quoteIdent(d.schema)); err != nil {
		return nil, errors.Join(fmt.Errorf("database %s: create schema %s: %w", d.addr, d.schema, err), db.Close())
	}
	return d, nil
}

// close drops the run's schema with everything in it and closes the pool.
// It runs after ctx may have ended (an interrupted run cleans up too).
func (d *database) close(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := d.db.ExecContext(dctx, `DROP SCHEMA IF EXISTS `+quoteIdent(d.schema)+` CASCADE`)
	if err != nil {
		err = fmt.Errorf("database %s: drop schema %s: %w", d.addr, d.schema, err)
	}
	return errors.Join(err, d.db.Close())
}

// redactURL returns u without the password it may hold.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// randomHex returns n random bytes in hexadecimal.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
