package webhooks_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// A deleted webhook's queued delivery whose previous secret expires while
// it waits rebuilds its own (deleted) endpoint, never the one a webhook
// re-created under the same id now has: that one's events keep going to its
// own URL.
func TestQueuedDeliveryOfDeletedWebhookLeavesRecreatedOneAlone(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	gate := make(chan struct{})
	var mu sync.Mutex
	var oldHits, newHits int
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		oldHits++
		first := oldHits == 1
		mu.Unlock()
		if first {
			<-gate
		}
		w.WriteHeader(204)
	}))
	defer old.Close()
	fresh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		newHits++
		mu.Unlock()
		w.WriteHeader(204)
	}))
	defer fresh.Close()
	s := engService(t, webhooks.Config{Now: clock, Workers: 1, MaxConcurrencyPerWebhook: 1, SecretGracePeriod: time.Hour})
	w, err := s.Create(t.Context(), webhooks.Webhook{ID: "wh_same", Name: "old", URL: old.URL, EventType: webhooks.MeetingStatusChangedEvent})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateSecret(t.Context(), w.ID, ""); err != nil { // UpdatedAt T+1µs
		t.Fatal(err)
	}
	for range 2 { // one in flight (held), one queued
		if err := s.Publish(t.Context(), engEvent); err != nil {
			t.Fatal(err)
		}
	}
	for {
		mu.Lock()
		n := oldHits
		mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Delete(t.Context(), w.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Create(t.Context(), webhooks.Webhook{ID: "wh_same", Name: "new", URL: fresh.URL, EventType: webhooks.MeetingStatusChangedEvent})
	if err != nil {
		t.Fatal(err)
	}
	now.Add(int64(2 * time.Hour)) // old previous secret expired
	close(gate)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeSkipped}, 1)
	if err := s.Publish(t.Context(), engEvent); err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 2)
	mu.Lock()
	defer mu.Unlock()
	if newHits != 1 {
		t.Fatalf("the re-created webhook's event went to the deleted webhook's URL (old hits %d, new hits %d)", oldHits, newHits)
	}
}
