package webhooks_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/webhookstest"
)

func ExampleService() {
	ctx := context.Background()

	// A receiver on loopback that verifies signatures with a known secret.
	rec, err := webhookstest.NewRecorderServer(webhookstest.Secret)
	if err != nil {
		panic(err)
	}
	defer rec.Close()

	b, err := bus.New(bus.Config{})
	if err != nil {
		panic(err)
	}
	hooks, err := webhooks.New(b, webhooks.Config{Sender: webhooks.SenderConfig{
		AllowHTTP:      true, // the recorder serves plain http
		AllowAddresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}})
	if err != nil {
		panic(err)
	}
	_, err = hooks.Create(ctx, webhooks.Webhook{
		Name:      "CRM sync",
		URL:       rec.URL(),
		EventType: webhooks.MeetingStatusChangedEvent,
		Secret:    webhookstest.Secret,
	})
	if err != nil {
		panic(err)
	}
	if err := hooks.Start(ctx); err != nil {
		panic(err)
	}

	err = hooks.Publish(ctx, webhooks.MeetingStatusChanged{MeetingID: "m-42", Status: webhooks.MeetingSummaryDone})
	if err != nil {
		panic(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := rec.WaitForContext(waitCtx, 1)
	if err != nil {
		panic(err)
	}
	fmt.Println(got[0].Header.Get("X-Webhook-Event"), string(got[0].Body))

	if err := hooks.Shutdown(ctx); err != nil {
		panic(err)
	}
	recs, _ := hooks.Log().Deliveries(ctx, webhooks.DeliveryQuery{})
	fmt.Println(recs[0].Outcome, recs[0].Attempts)
	// Output:
	// meeting_status_changed {"meetingId":"m-42","status":"meeting_summary_done"}
	// delivered 1
}
