package bus_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/hookbus/hookbus/bus"
)

// OrderPlaced is a domain event: its name is stable, its payload is its JSON.
type OrderPlaced struct {
	OrderID string `json:"orderId"`
	Total   int    `json:"total"`
}

func (OrderPlaced) EventName() string { return "order_placed" }

func Example() {
	b, err := bus.New(bus.Config{}) // in memory, quiet, global OpenTelemetry
	if err != nil {
		log.Fatal(err)
	}
	err = bus.Handle(b, "print-orders", func(ctx context.Context, e OrderPlaced) error {
		m, _ := bus.MessageFromContext(ctx)
		fmt.Printf("%s: order %s, total %d\n", m.Name, e.OrderID, e.Total)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	if err := b.Start(ctx); err != nil {
		log.Fatal(err)
	}
	if err := b.Publish(ctx, OrderPlaced{OrderID: "o-42", Total: 1999}); err != nil {
		log.Fatal(err)
	}
	// Shutdown drains: the handler has run when it returns.
	if err := b.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(errors.Is(b.Publish(ctx, OrderPlaced{OrderID: "o-43"}), bus.ErrClosed))
	// Output:
	// order_placed: order o-42, total 1999
	// true
}

func ExampleHandleDeadLetters() {
	b, err := bus.New(bus.Config{Retry: bus.RetryPolicy{MaxRetries: 2}})
	if err != nil {
		log.Fatal(err)
	}
	errUnknownOrder := errors.New("unknown order")
	err = bus.Handle(b, "ship-orders", func(ctx context.Context, e OrderPlaced) error {
		return bus.Permanent(errUnknownOrder) // not worth retrying
	})
	if err != nil {
		log.Fatal(err)
	}
	err = bus.HandleDeadLetters(b, "report-dead-letters", func(ctx context.Context, d bus.DeadLetter) error {
		fmt.Printf("%s gave up on %s after %d attempt(s): %s\n", d.Handler, d.Message.Name, d.Attempts, d.Reason)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	if err := b.Start(ctx); err != nil {
		log.Fatal(err)
	}
	if err := b.Publish(ctx, OrderPlaced{OrderID: "o-7"}); err != nil {
		log.Fatal(err)
	}
	if err := b.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// ship-orders gave up on order_placed after 1 attempt(s): unknown order
}
