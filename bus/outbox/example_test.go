package outbox_test

import (
	"errors"
	"fmt"

	"github.com/hookbus/hookbus/bus/outbox"
)

func ExampleConfig() {
	cfg := outbox.Config{Schema: "shop"}
	fmt.Println(cfg.Table())

	err := outbox.Config{Topic: "order-events", RetryMax: -1}.Validate()
	fmt.Println(errors.Is(err, outbox.ErrInvalidConfig))
	fmt.Println(err)
	// Output:
	// "shop"."hookbus_outbox"
	// true
	// outbox: invalid config: TablePrefix "hookbus_" and Topic "order-events": byte 13 is not a lowercase ASCII letter, digit or underscore
	// outbox: invalid config: RetryMax must not be negative, got -1ns
}
