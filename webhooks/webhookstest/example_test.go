package webhookstest_test

import (
	"fmt"

	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/webhookstest"
)

func ExampleNewWebhook() {
	w := webhookstest.NewWebhook(webhooks.MeetingStatusChangedEvent, "https://receiver.example/hooks")
	fmt.Println(w.Name)
	fmt.Println(w.Secret == webhookstest.Secret)
	fmt.Println(w.Validate(webhooks.ValidateOptions{}))

	// An httptest.Server listens on plain http.
	local := webhookstest.NewWebhook(webhooks.CommercialSignalDetectedEvent, "http://127.0.0.1:8080/")
	fmt.Println(local.Validate(webhooks.ValidateOptions{AllowHTTP: true}))
	// Output:
	// test meeting_status_changed webhook
	// true
	// <nil>
	// <nil>
}
