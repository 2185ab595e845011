package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMain runs the tests, or, in a process the durability tests started
// with workerEnv set, a worker.
func TestMain(m *testing.M) {
	if spec := os.Getenv(workerEnv); spec != "" {
		os.Exit(workerMain(spec))
	}
	os.Exit(m.Run())
}

// TestDurable runs the whole program on the test database and checks its
// account: three meetings rows and four events from the four committed
// transactions, each delivered once, nothing from the rolled-back one, the
// outbox empty, and the fresh schema dropped at the end.
func TestDurable(t *testing.T) {
	db, url := testDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, config{dbURL: url}); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []struct {
		substr string
		count  int
	}{
		{"  committed   ", 4},
		{"  rolled back m-4 meeting_created", 1},
		{"  meetings rows:         3 (m-1=meeting_summary_done, m-2=meeting_created, m-3=meeting_created)", 1},
		{"  events forwarded:      4 ", 1},
		{"  events left in outbox: 0", 1},
		{"  deliveries on record:  4", 1},
		{"delivered attempts=1 status=204", 4},
		{"  receiver:              4 verified requests, 4 distinct webhook-ids", 1},
		{"  rolled back m-4:       0 rows, 0 events on the bus, 0 received", 1},
		{"== dropped schema ", 1},
	} {
		if got := strings.Count(text, want.substr); got != want.count {
			t.Errorf("%q appears %d times, want %d\n%s", want.substr, got, want.count, text)
		}
	}
	m := regexp.MustCompile(`(?m)^== schema (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no schema line in the output\n%s", text)
	}
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, m[1]).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("schema %s still exists after the run", m[1])
	}
}
