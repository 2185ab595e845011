package webhooks_test

import (
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// A deleted webhook's queued delivery whose previous secret expires while
// it waits rebuilds its own (deleted) endpoint, never the one a webhook
// re-created under the same id now has: that one's events keep going to its
// own URL.
func TestQueuedDeliveryOfDeletedWebhookLeavesRecreatedOneAlone(t *testing.T) {
	clock := newStepClock()
	old, oldHits, release := heldServer(t)
	fresh, freshHits := engServer(t, statusHandler(204))
	s := engService(t, webhooks.Config{Now: clock.now, Workers: 1, MaxConcurrencyPerWebhook: 1, SecretGracePeriod: time.Hour})
	w, err := s.Create(t.Context(), webhooks.Webhook{ID: "wh_same", Name: "old", URL: old.URL, EventType: webhooks.MeetingStatusChangedEvent})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateSecret(t.Context(), w.ID, ""); err != nil {
		t.Fatal(err)
	}
	for range 2 { // one held by the receiver, one queued
		if err := s.Publish(t.Context(), engEvent); err != nil {
			t.Fatal(err)
		}
	}
	if !engEventually(func() bool { return len(oldHits.all()) > 0 }) {
		t.Fatal("the first request never arrived")
	}
	if err := s.Delete(t.Context(), w.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(t.Context(), webhooks.Webhook{ID: "wh_same", Name: "new", URL: fresh.URL, EventType: webhooks.MeetingStatusChangedEvent}); err != nil {
		t.Fatal(err)
	}
	clock.advance(2 * time.Hour) // the deleted webhook's previous secret has expired
	release()
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeSkipped}, 1)
	if err := s.Publish(t.Context(), engEvent); err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 2)
	if o, f := len(oldHits.all()), len(freshHits.all()); o != 1 || f != 1 {
		t.Fatalf("old URL got %d requests, new URL %d; want 1 each", o, f)
	}
}
