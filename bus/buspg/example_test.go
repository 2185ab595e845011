package buspg_test

import (
	"errors"
	"fmt"

	"github.com/hookbus/hookbus/bus/buspg"
)

func ExampleConfig() {
	cfg := buspg.Config{Schema: "events"}
	// The bus's handler names are the consumer groups; the event names pick
	// the tables.
	fmt.Println(cfg.MessagesTable("order_placed"))
	fmt.Println(cfg.OffsetsTable("order_placed"))
	fmt.Println(cfg.SubscriberConfig("ship-orders").ConsumerGroup)

	err := buspg.Config{Schema: "Events", BatchSize: -1}.Validate()
	fmt.Println(errors.Is(err, buspg.ErrInvalidConfig))
	fmt.Println(err)
	// Output:
	// "events"."hookbus_topic_order_placed"
	// "events"."hookbus_offsets_order_placed"
	// ship-orders
	// true
	// buspg: invalid config: Schema "Events": byte 0 is not a lowercase ASCII letter, digit or underscore
	// buspg: invalid config: BatchSize must not be negative, got -1
}
