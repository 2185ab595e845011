package busnats_test

import (
	"errors"
	"fmt"

	"github.com/hookbus/hookbus/bus/busnats"
)

func ExampleConfig() {
	var cfg busnats.Config
	// Event names pick the streams and subjects, handler names the durable
	// consumers and their queue groups.
	fmt.Println(cfg.StreamName("meeting_status_changed"), cfg.Subject("meeting_status_changed"))
	fmt.Println(cfg.DurableName("ship-orders"))
	// Names that NATS does not allow are made valid, with a hash to keep
	// them apart.
	fmt.Println(cfg.StreamName("hookbus.dead_letter"))
	fmt.Println(cfg.DurableName("hookbus.webhooks.meeting_status_changed"))

	err := busnats.Config{Prefix: "my.app", Subscribers: -1}.Validate()
	fmt.Println(errors.Is(err, busnats.ErrInvalidConfig))
	fmt.Println(err)
	// Output:
	// hookbus_meeting_status_changed hookbus.meeting_status_changed
	// ship-orders
	// hookbus_hookbus_dead_letter_72cf3221
	// hookbus_webhooks_meeting_status_changed_e840aa01
	// true
	// busnats: invalid config: Prefix "my.app": only ASCII letters, digits, '-' and '_' allowed
	// busnats: invalid config: Subscribers must not be negative, got -1
}
