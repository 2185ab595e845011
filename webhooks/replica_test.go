package webhooks_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// Two replicas send to a receiver that answers 410 Gone and the other one
// disables the webhook first: replica B's own 410 finds it disabled already
// in the store, and B's queued deliveries are skipped, not sent.
func TestGoneAfterDisabledOnAnotherReplicaSkipsTheQueue(t *testing.T) {
	store := webhooks.NewMemoryStore()
	a := engService(t, webhooks.Config{Store: store})
	b := engService(t, webhooks.Config{Store: store, Workers: 1, MaxConcurrencyPerWebhook: 1,
		Sender: webhooks.SenderConfig{MaxRetries: -1}})
	release := make(chan struct{})
	srv, hits := engServer(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			<-release
		}
		w.WriteHeader(http.StatusGone)
	})
	w := engCreate(t, a, "gone", srv.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, b, 5) // one in flight on B, four queued there
	for len(hits.all()) == 0 {
		time.Sleep(time.Millisecond)
	}
	if _, err := a.Disable(t.Context(), w.ID, webhooks.DisabledGone); err != nil {
		t.Fatal(err)
	}
	close(release)
	engWait(t, b, webhooks.DeliveryQuery{WebhookID: w.ID}, 5)
	skipped, _ := b.Log().Deliveries(t.Context(), webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeSkipped})
	if n := len(hits.all()); n != 1 || len(skipped) != 4 {
		t.Errorf("after the webhook was disabled elsewhere, the Gone receiver got %d requests from replica B (want 1) and %d deliveries were skipped (want 4)", n, len(skipped))
	}
}

// A dead letter of a deleted webhook is not redelivered to another webhook
// created later under the same id: that receiver never had the event.
func TestRedeliverRefusesDeadLetterOfDeletedWebhook(t *testing.T) {
	s := engService(t, webhooks.Config{Sender: webhooks.SenderConfig{MaxRetries: -1}})
	bad, _ := engServer(t, statusHandler(500))
	other, hits := engServer(t, statusHandler(204))
	w, err := s.Create(t.Context(), webhooks.Webhook{ID: "wh_x", Name: "old customer", URL: bad.URL, EventType: webhooks.MeetingStatusChangedEvent})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, s, 1)
	dead := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDeadLettered}, 1)
	if err := s.Delete(t.Context(), w.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(t.Context(), webhooks.Webhook{ID: "wh_x", Name: "new customer", URL: other.URL, EventType: webhooks.MeetingStatusChangedEvent}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Redeliver(t.Context(), dead[0].ID); !errors.Is(err, webhooks.ErrNotRedeliverable) {
		t.Errorf("Redeliver of the deleted webhook's dead letter = %v, want ErrNotRedeliverable", err)
	}
	ids, err := s.RedeliverFailed(t.Context(), "wh_x", time.Time{})
	if err != nil || len(ids) != 0 {
		t.Errorf("RedeliverFailed = %v, %v; want nothing redelivered", ids, err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(hits.all()); n != 0 {
		t.Errorf("the webhook created under id wh_x received %d request(s) for an event dead-lettered before it existed", n)
	}
}
