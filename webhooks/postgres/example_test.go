package postgres_test

import (
	"errors"
	"fmt"

	"github.com/hookbus/hookbus/webhooks/postgres"
)

// Options name the tables Migrate creates; values that are not plain
// identifiers are refused before any SQL is built.
func Example() {
	opts := postgres.Options{Schema: "hookbus"}
	for _, table := range opts.Tables() {
		fmt.Println(table)
	}

	bad := postgres.Options{Schema: `public"; DROP SCHEMA public CASCADE; --`}
	err := bad.Validate()
	fmt.Println(errors.Is(err, postgres.ErrInvalidOptions))
	// Output:
	// hookbus.hookbus_migrations
	// hookbus.hookbus_webhooks
	// hookbus.hookbus_deliveries
	// hookbus.hookbus_attempts
	// true
}
