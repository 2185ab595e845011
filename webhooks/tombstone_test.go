package webhooks_test

import (
	"context"
	"net/http"
	"net/http/httptest"
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
	clock := newStepClock()
	old, oldHits, release := heldServer(t)
	fresh, freshHits := engServer(t, statusHandler(204))
	s := engService(t, webhooks.Config{Now: clock.now, Workers: 1, MaxConcurrencyPerWebhook: 1, SecretGracePeriod: time.Hour})
	w := createSame(t, s, "old", old.URL, webhooks.MeetingStatusChangedEvent)
	if _, err := s.RotateSecret(t.Context(), w.ID, ""); err != nil {
		t.Fatal(err)
	}
	publish(t, s, 2) // one held by the receiver, one queued
	if !engEventually(func() bool { return len(oldHits.all()) > 0 }) {
		t.Fatal("the first request never arrived")
	}
	if err := s.Delete(t.Context(), w.ID); err != nil {
		t.Fatal(err)
	}
	createSame(t, s, "new", fresh.URL, webhooks.MeetingStatusChangedEvent)
	clock.advance(2 * time.Hour) // the deleted webhook's previous secret has expired
	release()
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeSkipped}, 1)
	publish(t, s, 1)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 2)
	if o, f := len(oldHits.all()), len(freshHits.all()); o != 1 || f != 1 {
		t.Fatalf("old URL got %d requests, new URL %d; want 1 each", o, f)
	}
}

// createGatedStore holds a Create, once armed, after the webhook is stored.
type createGatedStore struct {
	*webhooks.MemoryStore
	armed   atomic.Bool
	created chan struct{}
	proceed chan struct{}
}

func (g *createGatedStore) Create(ctx context.Context, w webhooks.Webhook) error {
	err := g.MemoryStore.Create(ctx, w)
	if g.armed.CompareAndSwap(true, false) {
		g.created <- struct{}{}
		<-g.proceed
	}
	return err
}

// A Publish during the re-creation of a deleted webhook's id, once the new
// webhook is stored, delivers to it.
func TestEventDuringRecreateIsDelivered(t *testing.T) {
	store := &createGatedStore{MemoryStore: webhooks.NewMemoryStore(), created: make(chan struct{}), proceed: make(chan struct{})}
	s := engService(t, webhooks.Config{Store: store})
	srv, hits := engServer(t, statusHandler(204))
	w := createSame(t, s, "old", srv.URL, webhooks.MeetingStatusChangedEvent)
	if err := s.Delete(t.Context(), w.ID); err != nil {
		t.Fatal(err)
	}
	store.armed.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := s.Create(t.Context(), webhooks.Webhook{ID: "wh_same", Name: "new", URL: srv.URL, EventType: webhooks.MeetingStatusChangedEvent})
		done <- err
	}()
	<-store.created // the new webhook is in the store
	publish(t, s, 1)
	close(store.proceed)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, 1)
	time.Sleep(50 * time.Millisecond)
	if recs[0].Outcome != webhooks.OutcomeDelivered {
		t.Fatalf("event published after the new (enabled) webhook was stored: outcome %s (%s), %d requests", recs[0].Outcome, recs[0].Error, len(hits.all()))
	}
}

// Two services share a store, as replicas do: one deletes a webhook, the
// other creates it again under its id. The first delivers the new webhook's
// events.
func TestRecreatedOnAnotherReplicaIsDelivered(t *testing.T) {
	store := webhooks.NewMemoryStore()
	a := engService(t, webhooks.Config{Store: store})
	b := engService(t, webhooks.Config{Store: store})
	srv, hits := engServer(t, statusHandler(204))
	createSame(t, a, "old", srv.URL, webhooks.MeetingStatusChangedEvent)
	if err := a.Delete(t.Context(), "wh_same"); err != nil {
		t.Fatal(err)
	}
	createSame(t, b, "new", srv.URL, webhooks.MeetingStatusChangedEvent)
	publishDelivered(t, a, hits, 3)
}

// A dispatch that listed a deleted webhook whose UpdatedAt is later than the
// CreatedAt of the one created again under its id (the clock stands still)
// skips its delivery and leaves the new webhook's target alone: nothing goes
// to the deleted webhook's URL.
func TestStaleListingAfterRecreateLeavesNewTarget(t *testing.T) {
	clock := newStepClock()
	store := newGated()
	s := engService(t, webhooks.Config{Store: store, Now: clock.now})
	old, oldHits := engServer(t, statusHandler(204))
	fresh, freshHits := engServer(t, statusHandler(204))
	w := createSame(t, s, "old", old.URL, webhooks.MeetingStatusChangedEvent)
	w.Name = "old, renamed"
	if _, err := s.Update(t.Context(), w); err != nil { // UpdatedAt = T+1µs
		t.Fatal(err)
	}
	store.armed.Store(true)
	published := make(chan error, 1)
	go func() { published <- s.Publish(t.Context(), engEvent) }()
	<-store.listed
	if err := s.Delete(t.Context(), w.ID); err != nil {
		t.Fatal(err)
	}
	createSame(t, s, "new", fresh.URL, webhooks.MeetingStatusChangedEvent)
	close(store.proceed)
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Second)
	publish(t, s, 3) // events published after the re-create, listing the new webhook
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeSkipped}, 1)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 3)
	if o, f := len(oldHits.all()), len(freshHits.all()); o != 0 || f != 3 {
		t.Fatalf("deleted webhook's URL got %d requests, new URL %d; want 0 and 3", o, f)
	}
}

// A 410 from the URL the webhook still points at, spelt differently since an
// Update made while the request was in flight, disables it.
func TestGoneAfterURLRespelledDisables(t *testing.T) {
	s := engService(t, webhooks.Config{Sender: webhooks.SenderConfig{MaxRetries: -1}})
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
		w.WriteHeader(http.StatusGone)
	}))
	defer srv.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	w, err := s.Create(t.Context(), webhooks.Webhook{ID: "wh_g", Name: "g", URL: srv.URL + "/hook", EventType: webhooks.MeetingStatusChangedEvent})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, s, 1)
	<-started
	w.URL = srv.URL + "/hook?" // same request URL on the wire
	if _, err := s.Update(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	close(release)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDeadLettered}, 1)
	time.Sleep(50 * time.Millisecond)
	got, _ := s.Get(t.Context(), w.ID)
	if !got.Disabled {
		t.Fatalf("410 Gone from %s (webhook now %s) did not disable it", srv.URL+"/hook", got.URL)
	}
}

// Replica A's clock is 5 ms ahead of replica B's. A creates and deletes a
// webhook; B, within those 5 ms, creates one again under its id, with an
// earlier CreatedAt. A delivers the new webhook's events.
func TestRecreatedOnReplicaWithSlowerClockIsDelivered(t *testing.T) {
	clock := newStepClock()
	ahead := func() time.Time { return clock.now().Add(5 * time.Millisecond) }
	store := webhooks.NewMemoryStore()
	a := engService(t, webhooks.Config{Store: store, Now: ahead})
	b := engService(t, webhooks.Config{Store: store, Now: clock.now})
	srv, hits := engServer(t, statusHandler(204))
	createSame(t, a, "old", srv.URL, webhooks.MeetingStatusChangedEvent)
	clock.advance(time.Millisecond)
	if err := a.Delete(t.Context(), "wh_same"); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Millisecond)
	w := createSame(t, b, "new", srv.URL, webhooks.MeetingStatusChangedEvent)
	clock.advance(time.Hour)
	w.Name = "new, renamed"
	if _, err := b.Update(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	publishDelivered(t, a, hits, 3)
}

// Replica C delivered to the old webhook, so it has an endpoint for it. A
// (clock 5 ms ahead) created and deleted it; B created it again, with a new
// URL and an earlier CreatedAt. C sends the new webhook's events to the new
// URL.
func TestRecreatedOnReplicaWithSlowerClockGetsItsTarget(t *testing.T) {
	clock := newStepClock()
	ahead := func() time.Time { return clock.now().Add(5 * time.Millisecond) }
	store := webhooks.NewMemoryStore()
	a := engService(t, webhooks.Config{Store: store, Now: ahead})
	b := engService(t, webhooks.Config{Store: store, Now: clock.now})
	c := engService(t, webhooks.Config{Store: store, Now: clock.now})
	old, oldHits := engServer(t, statusHandler(204))
	fresh, freshHits := engServer(t, statusHandler(204))
	createSame(t, a, "old", old.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, c, 1)
	engWait(t, c, webhooks.DeliveryQuery{WebhookID: "wh_same", Outcome: webhooks.OutcomeDelivered}, 1)
	clock.advance(time.Millisecond)
	if err := a.Delete(t.Context(), "wh_same"); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Millisecond)
	w := createSame(t, b, "new", fresh.URL, webhooks.MeetingStatusChangedEvent)
	clock.advance(time.Hour)
	w.Name = "new, renamed"
	if _, err := b.Update(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	publish(t, c, 3)
	engWait(t, c, webhooks.DeliveryQuery{WebhookID: "wh_same", Outcome: webhooks.OutcomeDelivered}, 4)
	if o, f := len(oldHits.all()), len(freshHits.all()); o != 1 || f != 3 {
		t.Fatalf("deleted webhook's URL got %d requests (want 1), new webhook's %d (want 3)", o, f)
	}
}

// Replica C holds a dispatch that listed a webhook while another replica
// deletes it and creates another under its id, which C then delivers to.
// The held dispatch, released last, neither brings the deleted webhook's
// target back nor sends its event to the other webhook: it is skipped.
func TestLateReadOfReplacedWebhookLeavesNewTarget(t *testing.T) {
	store := newGated()
	a := engService(t, webhooks.Config{Store: store})
	c := engService(t, webhooks.Config{Store: store})
	old, oldHits := engServer(t, statusHandler(204))
	fresh, freshHits := engServer(t, statusHandler(204))
	createSame(t, a, "old", old.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, c, 1)
	engWait(t, c, webhooks.DeliveryQuery{WebhookID: "wh_same", Outcome: webhooks.OutcomeDelivered}, 1)
	store.armed.Store(true)
	held := make(chan error, 1)
	go func() { held <- c.Publish(t.Context(), engEvent) }()
	<-store.listed // C's dispatch has listed the old webhook
	if err := a.Delete(t.Context(), "wh_same"); err != nil {
		t.Fatal(err)
	}
	createSame(t, a, "new", fresh.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, c, 1)
	engWait(t, c, webhooks.DeliveryQuery{WebhookID: "wh_same", Outcome: webhooks.OutcomeDelivered}, 2)
	close(store.proceed)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	publish(t, c, 2)
	engWait(t, c, webhooks.DeliveryQuery{WebhookID: "wh_same", Outcome: webhooks.OutcomeSkipped}, 1) // the late read's event
	engWait(t, c, webhooks.DeliveryQuery{WebhookID: "wh_same", Outcome: webhooks.OutcomeDelivered}, 4)
	if o, f := len(oldHits.all()), len(freshHits.all()); o != 1 || f != 3 {
		t.Fatalf("deleted webhook's URL got %d requests (want 1), new webhook's %d (want 3)", o, f)
	}
}

// Three generations on one Service: a dispatch that listed A before its
// delete, released after B was created, listed, deleted and C created and
// listed. The deleted webhook A must get nothing; C's events go to C.
func TestStaleListingThreeWebhooksBack(t *testing.T) {
	store := newGated()
	s := engService(t, webhooks.Config{Store: store})
	a, aHits := engServer(t, statusHandler(204))
	b, bHits := engServer(t, statusHandler(204))
	c, cHits := engServer(t, statusHandler(204))
	c2, c2Hits := engServer(t, statusHandler(204))
	const id = "wh_same"
	if _, err := s.Create(t.Context(), webhooks.Webhook{ID: id, Name: "A", URL: a.URL, EventType: webhooks.MeetingStatusChangedEvent}); err != nil {
		t.Fatal(err)
	}
	store.armed.Store(true)
	held := make(chan error, 1)
	go func() { held <- s.Publish(t.Context(), engEvent) }()
	<-store.listed // lists A
	if err := s.Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(t.Context(), webhooks.Webhook{ID: id, Name: "B", URL: b.URL, EventType: webhooks.MeetingStatusChangedEvent}); err != nil {
		t.Fatal(err)
	}
	publish(t, s, 1)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: id, Outcome: webhooks.OutcomeDelivered}, 1)
	if err := s.Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	wc, err := s.Create(t.Context(), webhooks.Webhook{ID: id, Name: "C", URL: c.URL, EventType: webhooks.MeetingStatusChangedEvent})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, s, 1)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: id, Outcome: webhooks.OutcomeDelivered}, 2)
	close(store.proceed) // the listing of A, from before its delete
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: id}, 3)
	publish(t, s, 2)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: id}, 5)
	// An explicit Update of C to another URL.
	wc.URL = c2.URL
	if _, err := s.Update(t.Context(), wc); err != nil {
		t.Fatal(err)
	}
	publish(t, s, 1)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: id}, 6)
	time.Sleep(50 * time.Millisecond)
	if a, b, c := len(aHits.all()), len(bHits.all()), len(cHits.all()); a != 0 || b != 1 || c != 3 {
		t.Errorf("requests: deleted webhook A's URL %d, B's %d, C's %d; want 0, 1, 3", a, b, c)
	}
	if n := len(c2Hits.all()); n != 1 {
		t.Errorf("C's updated URL got %d requests, want 1", n)
	}
}

// Replica C has no endpoint yet: its dispatch lists A, A is deleted and B
// created on replica A; C then dispatches an event listing B; the held
// dispatch is released. B's later events must go to B's URL.
func TestReplicaSeesNewWebhookThenLateReadOfDeleted(t *testing.T) {
	store := newGated()
	ra := engService(t, webhooks.Config{Store: store})
	rc := engService(t, webhooks.Config{Store: store})
	old, oldHits := engServer(t, statusHandler(204))
	fresh, freshHits := engServer(t, statusHandler(204))
	createSame(t, ra, "old", old.URL, webhooks.MeetingStatusChangedEvent)
	store.armed.Store(true)
	held := make(chan error, 1)
	go func() { held <- rc.Publish(t.Context(), engEvent) }()
	<-store.listed
	if err := ra.Delete(t.Context(), "wh_same"); err != nil {
		t.Fatal(err)
	}
	createSame(t, ra, "new", fresh.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, rc, 1)
	engWait(t, rc, webhooks.DeliveryQuery{WebhookID: "wh_same", Outcome: webhooks.OutcomeDelivered}, 1)
	close(store.proceed)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	engWait(t, rc, webhooks.DeliveryQuery{WebhookID: "wh_same"}, 2)
	publish(t, rc, 3)
	engWait(t, rc, webhooks.DeliveryQuery{WebhookID: "wh_same"}, 5)
	time.Sleep(50 * time.Millisecond)
	o, f := len(oldHits.all()), len(freshHits.all())
	if f < 4 {
		t.Fatalf("3 events published after the re-created webhook was in effect: its URL got %d requests in all (want >= 4), the deleted webhook's %d", f, o)
	}
}

// On the Service that deleted A (of one type), a dispatch that listed A
// before the delete, released after B (another type) was created under the
// id and listed, skips A's event: B's receiver never gets it.
func TestLateReadOfDeletedWebhookNeverReachesAnotherType(t *testing.T) {
	store := newGated()
	s := engService(t, webhooks.Config{Store: store})
	old, oldHits := engServer(t, statusHandler(204))
	other, otherHits := engServer(t, statusHandler(204))
	createSame(t, s, "A", old.URL, webhooks.MeetingStatusChangedEvent)
	store.armed.Store(true)
	held := make(chan error, 1)
	go func() { held <- s.Publish(t.Context(), engEvent) }()
	<-store.listed
	if err := s.Delete(t.Context(), "wh_same"); err != nil {
		t.Fatal(err)
	}
	createSame(t, s, "B", other.URL, webhooks.CommercialSignalDetectedEvent)
	sig, err := webhooks.SampleEvent(webhooks.CommercialSignalDetectedEvent)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(t.Context(), sig); err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: "wh_same", Outcome: webhooks.OutcomeDelivered}, 1)
	close(store.proceed)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: "wh_same"}, 2)
	time.Sleep(50 * time.Millisecond)
	for _, r := range recs {
		if r.EventType == webhooks.MeetingStatusChangedEvent && r.Outcome != webhooks.OutcomeSkipped {
			t.Errorf("the deleted webhook's event, read late: %s, want skipped", r.Outcome)
		}
	}
	if n := len(oldHits.all()); n != 0 {
		t.Errorf("the deleted webhook's URL got %d requests", n)
	}
	for _, h := range otherHits.all() {
		if et := h.header.Get("X-Webhook-Event"); et != string(webhooks.CommercialSignalDetectedEvent) {
			t.Errorf("webhook B (%s) received a %q event, body %s", webhooks.CommercialSignalDetectedEvent, et, h.body)
		}
	}
}

// Replica A's clock is 10 ms ahead. A updates the webhook (UpdatedAt T+10ms).
// Replica C holds a dispatch that listed that version; C deletes it and
// creates another under the id (C's clock: CreatedAt ~T+1ms); C lists the
// new one; the held read is released: it is skipped, and nothing goes to
// the deleted webhook's URL.
func TestLateReadWithLaterUpdatedAtIsSkipped(t *testing.T) {
	clock := newStepClock()
	ahead := func() time.Time { return clock.now().Add(10 * time.Millisecond) }
	store := newGated()
	a := engService(t, webhooks.Config{Store: store, Now: ahead})
	c := engService(t, webhooks.Config{Store: store, Now: clock.now})
	old, oldHits := engServer(t, statusHandler(204))
	fresh, freshHits := engServer(t, statusHandler(204))
	w := createSame(t, c, "old", old.URL, webhooks.MeetingStatusChangedEvent)
	w.Name = "old, renamed on A"
	if _, err := a.Update(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	store.armed.Store(true)
	held := make(chan error, 1)
	go func() { held <- c.Publish(t.Context(), engEvent) }()
	<-store.listed
	clock.advance(time.Millisecond)
	if err := c.Delete(t.Context(), "wh_same"); err != nil {
		t.Fatal(err)
	}
	createSame(t, c, "new", fresh.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, c, 1)
	engWait(t, c, webhooks.DeliveryQuery{WebhookID: "wh_same", Outcome: webhooks.OutcomeDelivered}, 1)
	close(store.proceed)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	engWait(t, c, webhooks.DeliveryQuery{WebhookID: "wh_same"}, 2)
	publish(t, c, 3)
	recs := engWait(t, c, webhooks.DeliveryQuery{WebhookID: "wh_same"}, 5)
	time.Sleep(50 * time.Millisecond)
	skipped := 0
	for _, r := range recs {
		if r.Outcome == webhooks.OutcomeSkipped {
			skipped++
		}
	}
	if skipped != 1 {
		t.Errorf("%d deliveries skipped, want 1: the late read's", skipped)
	}
	if o, f := len(oldHits.all()), len(freshHits.all()); o != 0 || f != 4 {
		t.Fatalf("deleted webhook's URL got %d requests (want 0), new webhook's %d (want 4)", o, f)
	}
}

// The same on one Service whose clock stands still, the deleted webhook
// updated twice before its delete.
func TestLateReadWithFrozenClockIsSkipped(t *testing.T) {
	clock := newStepClock()
	store := newGated()
	s := engService(t, webhooks.Config{Store: store, Now: clock.now})
	old, oldHits := engServer(t, statusHandler(204))
	fresh, freshHits := engServer(t, statusHandler(204))
	w := createSame(t, s, "old", old.URL, webhooks.MeetingStatusChangedEvent)
	for i := range 2 {
		w.Name = "old " + string(rune('a'+i))
		var err error
		if w, err = s.Update(t.Context(), w); err != nil { // UpdatedAt T+1µs, T+2µs
			t.Fatal(err)
		}
	}
	store.armed.Store(true)
	held := make(chan error, 1)
	go func() { held <- s.Publish(t.Context(), engEvent) }()
	<-store.listed
	if err := s.Delete(t.Context(), "wh_same"); err != nil {
		t.Fatal(err)
	}
	createSame(t, s, "new", fresh.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, s, 1)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: "wh_same", Outcome: webhooks.OutcomeDelivered}, 1)
	close(store.proceed)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: "wh_same"}, 2)
	clock.advance(time.Second)
	publish(t, s, 3)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: "wh_same"}, 5)
	time.Sleep(50 * time.Millisecond)
	if o, f := len(oldHits.all()), len(freshHits.all()); o != 0 || f != 4 {
		t.Fatalf("deleted webhook's URL got %d requests (want 0), new webhook's %d (want 4)", o, f)
	}
}

// Replica B, its clock 10 ms ahead, has an endpoint for W1; A deletes W1
// and creates W2 under its id within those 10 ms, and nothing changes W2
// after: B delivers to W2.
func TestReplicaAheadDeliversRecreatedWebhook(t *testing.T) {
	clock := newStepClock()
	ahead := func() time.Time { return clock.now().Add(10 * time.Millisecond) }
	store := webhooks.NewMemoryStore()
	a := engService(t, webhooks.Config{Store: store, Now: clock.now})
	b := engService(t, webhooks.Config{Store: store, Now: ahead})
	srv, hits := engServer(t, statusHandler(204))
	createSame(t, b, "old", srv.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, b, 1)
	engWait(t, b, webhooks.DeliveryQuery{WebhookID: "wh_same", Outcome: webhooks.OutcomeDelivered}, 1)
	clock.advance(time.Millisecond)
	if err := a.Delete(t.Context(), "wh_same"); err != nil {
		t.Fatal(err)
	}
	createSame(t, a, "new", srv.URL, webhooks.MeetingStatusChangedEvent)
	clock.advance(time.Hour) // no further change
	publish(t, b, 3)
	recs := engWait(t, b, webhooks.DeliveryQuery{WebhookID: "wh_same"}, 4)
	for _, r := range recs[1:] {
		if r.Outcome != webhooks.OutcomeDelivered {
			t.Errorf("replica B, an hour later: delivery to the re-created webhook: %s (%s)", r.Outcome, r.Error)
		}
	}
	if n := len(hits.all()); n != 4 {
		t.Errorf("the receiver got %d requests, want 4", n)
	}
}

// A host writes a change straight to the store with a zero CreatedAt, and
// UpdatedAt later or zero too (the Store contract replaces every field):
// the engine takes the store's word, and the change reaches it.
func TestStoreWriteWithZeroTimesReachesEngine(t *testing.T) {
	for _, tc := range []struct {
		name      string
		updatedAt time.Time
		events    int
	}{
		{"zero CreatedAt", time.Now().Add(time.Hour), 1},
		{"zero CreatedAt and UpdatedAt", time.Time{}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := webhooks.NewMemoryStore()
			s := engService(t, webhooks.Config{Store: store})
			old, oldHits := engServer(t, statusHandler(204))
			fresh, freshHits := engServer(t, statusHandler(204))
			w := engCreate(t, s, "a", old.URL, webhooks.MeetingStatusChangedEvent)
			publish(t, s, 1)
			engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 1)
			w.URL, w.CreatedAt, w.UpdatedAt = fresh.URL, time.Time{}, tc.updatedAt
			if err := store.Update(t.Context(), w); err != nil {
				t.Fatal(err)
			}
			publish(t, s, tc.events)
			recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, 1+tc.events)
			time.Sleep(50 * time.Millisecond)
			for _, r := range recs[1:] {
				if r.Outcome != webhooks.OutcomeDelivered {
					t.Errorf("live enabled webhook: %s (%s)", r.Outcome, r.Error)
				}
			}
			if o, f := len(oldHits.all()), len(freshHits.all()); o != 1 || f != tc.events {
				t.Errorf("old URL %d requests (want 1), new URL %d (want %d)", o, f, tc.events)
			}
		})
	}
}

// createSame creates through s a webhook named name under the id
// "wh_same", which the tests delete and reuse, sending et events to url.
func createSame(t *testing.T, s *webhooks.Service, name, url string, et webhooks.EventType) webhooks.Webhook {
	t.Helper()
	w, err := s.Create(t.Context(), webhooks.Webhook{ID: "wh_same", Name: name, URL: url, EventType: et})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// publishDelivered publishes engEvent n times through s, the first events
// to "wh_same", and wants all of them delivered to its receiver, whose
// requests hits records.
func publishDelivered(t *testing.T, s *webhooks.Service, hits *engHits, n int) {
	t.Helper()
	publish(t, s, n)
	for _, r := range engWait(t, s, webhooks.DeliveryQuery{WebhookID: "wh_same"}, n) {
		if r.Outcome != webhooks.OutcomeDelivered {
			t.Errorf("delivery to the re-created (enabled) webhook: %s (%s)", r.Outcome, r.Error)
		}
	}
	if got := len(hits.all()); got != n {
		t.Errorf("the re-created webhook's receiver got %d requests, want %d", got, n)
	}
}

// publish publishes engEvent n times through s.
func publish(t *testing.T, s *webhooks.Service, n int) {
	t.Helper()
	for range n {
		if err := s.Publish(t.Context(), engEvent); err != nil {
			t.Fatal(err)
		}
	}
}
