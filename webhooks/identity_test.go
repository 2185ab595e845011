package webhooks_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/signals"
	"github.com/hookbus/hookbus/webhooks"
)

// getStore is a MemoryStore whose Get can fail, is counted, and, once
// armed, holds what it read until released.
type getStore struct {
	*webhooks.MemoryStore
	gets    atomic.Int64
	fail    atomic.Int64 // fail this many Gets
	armed   atomic.Bool
	got     chan struct{}
	proceed chan struct{}
	onGet   func()
}

func newGetStore() *getStore {
	return &getStore{MemoryStore: webhooks.NewMemoryStore(), got: make(chan struct{}), proceed: make(chan struct{})}
}

func (g *getStore) Get(ctx context.Context, id string) (webhooks.Webhook, error) {
	g.gets.Add(1)
	if g.onGet != nil {
		g.onGet()
	}
	if g.fail.Add(-1) >= 0 {
		return webhooks.Webhook{}, errors.New("store: connection reset")
	}
	w, err := g.MemoryStore.Get(ctx, id)
	if g.armed.CompareAndSwap(true, false) {
		g.got <- struct{}{}
		<-g.proceed
	}
	return w, err
}

// recreate creates a webhook, deletes it and creates another under its id
// through s, which then settles reads of the id with the store.
func recreate(t *testing.T, s *webhooks.Service, url string) {
	createSame(t, s, "old", url, webhooks.MeetingStatusChangedEvent)
	if err := s.Delete(t.Context(), "wh_same"); err != nil {
		t.Fatal(err)
	}
	createSame(t, s, "new", url, webhooks.MeetingStatusChangedEvent)
}

// A store error while the engine settles which webhook is current leaves
// the delivery undelivered, which can be redelivered, not refused.
func TestStoreErrorWhileSettlingWebhookLeavesEventRedeliverable(t *testing.T) {
	store := newGetStore()
	s := engService(t, webhooks.Config{Store: store})
	srv, hits := engServer(t, statusHandler(204))
	recreate(t, s, srv.URL)
	store.fail.Store(1)
	publish(t, s, 1)
	recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: "wh_same"}, 1)
	if recs[0].Outcome != webhooks.OutcomeUndelivered {
		t.Fatalf("outcome %s (%s), want undelivered", recs[0].Outcome, recs[0].Error)
	}
	if _, err := s.Redeliver(t.Context(), recs[0].ID); err != nil {
		t.Fatalf("Redeliver = %v", err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: "wh_same", Outcome: webhooks.OutcomeDelivered}, 1)
	if n := len(hits.all()); n != 1 {
		t.Errorf("the receiver got %d requests, want 1", n)
	}
}

// The publisher's context ends while the engine settles which webhook is
// current (in-process bus): undelivered, not refused.
func TestCancelledPublishWhileSettlingWebhookIsUndelivered(t *testing.T) {
	store := newGetStore()
	s := engService(t, webhooks.Config{Store: store})
	srv, _ := engServer(t, statusHandler(204))
	recreate(t, s, srv.URL)
	ctx, cancel := context.WithCancel(t.Context())
	store.onGet = cancel
	_ = s.Publish(ctx, engEvent) // the dispatch runs inside it, and records what happened
	store.onGet = nil
	recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: "wh_same"}, 1)
	if recs[0].Outcome != webhooks.OutcomeUndelivered {
		t.Fatalf("outcome %s (%s), want undelivered", recs[0].Outcome, recs[0].Error)
	}
}

// On a broker, the same store error makes the bus retry the event, which
// is then delivered.
func TestStoreErrorWhileSettlingWebhookIsRetriedOnBroker(t *testing.T) {
	pubsub := engBroker{gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, nil)}
	b, err := bus.New(bus.Config{Publisher: pubsub, Subscriber: pubsub,
		Retry: bus.RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	store := newGetStore()
	s, err := webhooks.New(b, webhooks.Config{Store: store, Sender: webhooks.SenderConfig{AllowHTTP: true, AllowAddresses: engLoopback, MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	srv, hits := engServer(t, statusHandler(204))
	recreate(t, s, srv.URL)
	store.fail.Store(1)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Publish(ctx, engEvent); err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: "wh_same", Outcome: webhooks.OutcomeUndelivered}, 1)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: "wh_same", Outcome: webhooks.OutcomeDelivered}, 1)
	if n := len(hits.all()); n != 1 {
		t.Fatalf("the receiver got %d requests, want 1: the bus retried the event", n)
	}
}

// The engine reads B from the store to settle a read, then B is deleted
// before it applies what it read: B's event is not sent, and no endpoint
// stays for the deleted webhook.
func TestSettlingRacingDeleteSendsNothing(t *testing.T) {
	store := newGetStore()
	s := engService(t, webhooks.Config{Store: store})
	srv, hits := engServer(t, statusHandler(204))
	recreate(t, s, srv.URL)
	store.armed.Store(true)
	published := make(chan error, 1)
	go func() { published <- s.Publish(t.Context(), engEvent) }()
	<-store.got
	if err := s.Delete(t.Context(), "wh_same"); err != nil {
		t.Fatal(err)
	}
	close(store.proceed)
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	if recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: "wh_same"}, 1); recs[0].Outcome != webhooks.OutcomeSkipped {
		t.Errorf("outcome %s, want skipped", recs[0].Outcome)
	}
	time.Sleep(50 * time.Millisecond)
	if len(hits.all()) != 0 || webhooks.EndpointCount(s) != 0 {
		t.Fatal("listed before the delete, sent after it; endpoint of the deleted webhook kept")
	}
}

// A settling that read A before A was deleted and B created under its id,
// applied after B got events, does not put A back: nothing goes to A's URL.
func TestLateSettlingNeverBringsDeletedWebhookBack(t *testing.T) {
	store := newGetStore()
	s := engService(t, webhooks.Config{Store: store, Workers: 1, MaxConcurrencyPerWebhook: 1})
	oldSrv, oldHits := engServer(t, statusHandler(204))
	fresh, freshHits, release := heldServer(t)
	recreate(t, s, oldSrv.URL) // A = "new" at oldSrv; deleted[id] set
	store.armed.Store(true)
	p1 := make(chan error, 1)
	go func() { p1 <- s.Publish(t.Context(), engEvent) }() // lists A, Get(A) held
	<-store.got
	if err := s.Delete(t.Context(), "wh_same"); err != nil {
		t.Fatal(err)
	}
	createSame(t, s, "B", fresh.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, s, 2) // B: one in flight (held), one queued
	if !engEventually(func() bool { return len(freshHits.all()) > 0 }) {
		t.Fatal("B's first request never arrived")
	}
	close(store.proceed)
	if err := <-p1; err != nil {
		t.Fatal(err)
	}
	release()
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: "wh_same"}, 3)
	time.Sleep(50 * time.Millisecond)
	if len(oldHits.all()) != 0 {
		t.Fatal("events sent to the deleted webhook's URL after the delete")
	}
}

// A settling that found no webhook, applied after B was created under the
// id and got events, does not take B's endpoint out: only the late read's
// delivery is skipped.
func TestLateNotFoundNeverForgetsLiveWebhook(t *testing.T) {
	gs := newGetStore()
	lg := &gatedStore{MemoryStore: gs.MemoryStore, listed: make(chan struct{}), proceed: make(chan struct{})}
	both := &listGetStore{gatedStore: lg, g: gs}
	s := engService(t, webhooks.Config{Store: both, Workers: 1, MaxConcurrencyPerWebhook: 1})
	oldSrv, oldHits := engServer(t, statusHandler(204))
	fresh, freshHits, release := heldServer(t)
	createSame(t, s, "A", oldSrv.URL, webhooks.MeetingStatusChangedEvent)
	lg.armed.Store(true)
	p1 := make(chan error, 1)
	go func() { p1 <- s.Publish(t.Context(), engEvent) }()
	<-lg.listed
	if err := s.Delete(t.Context(), "wh_same"); err != nil {
		t.Fatal(err)
	}
	gs.armed.Store(true)
	close(lg.proceed)
	<-gs.got // P1's arbitrate read NotFound, held
	createSame(t, s, "B", fresh.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, s, 2)
	if !engEventually(func() bool { return len(freshHits.all()) > 0 }) {
		t.Fatal("B's first request never arrived")
	}
	close(gs.proceed)
	if err := <-p1; err != nil {
		t.Fatal(err)
	}
	release()
	recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: "wh_same"}, 3)
	time.Sleep(50 * time.Millisecond)
	skipped := 0
	for _, r := range recs {
		if r.Outcome == webhooks.OutcomeSkipped {
			skipped++
		}
	}
	if skipped != 1 || len(freshHits.all()) != 2 || len(oldHits.all()) != 0 {
		t.Fatalf("%d skipped (want 1, the late read's), B's URL %d requests (want 2), A's %d (want 0)", skipped, len(freshHits.all()), len(oldHits.all()))
	}
}

// listGetStore is a gatedStore whose Get is a getStore's.
type listGetStore struct {
	*gatedStore
	g *getStore
}

func (l *listGetStore) Get(ctx context.Context, id string) (webhooks.Webhook, error) {
	return l.g.Get(ctx, id)
}

// Replica b deletes A and creates B (of another event type) under its id;
// replica a, with A's events queued, then sees B: A's queued event is
// skipped, never sent to B.
func TestQueuedEventOfReplacedWebhookNeverReachesNewOne(t *testing.T) {
	store := webhooks.NewMemoryStore()
	a := engService(t, webhooks.Config{Store: store, Workers: 1, MaxConcurrencyPerWebhook: 1})
	b := engService(t, webhooks.Config{Store: store})
	oldSrv, oldHits, release := heldServer(t)
	fresh, freshHits := engServer(t, statusHandler(204))
	createSame(t, a, "A", oldSrv.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, a, 2)
	if !engEventually(func() bool { return len(oldHits.all()) > 0 }) {
		t.Fatal("first request never arrived")
	}
	if err := b.Delete(t.Context(), "wh_same"); err != nil {
		t.Fatal(err)
	}
	createSame(t, b, "B", fresh.URL, webhooks.CommercialSignalDetectedEvent)
	if _, err := a.Redeliver(t.Context(), "nonexistent"); err == nil {
		t.Fatal("?")
	}
	// a learns of B: a dispatch of B's type lists it.
	if err := a.Publish(t.Context(), webhooks.CommercialSignalDetected{Code: signals.BuyingIntent, Category: signals.Positive, ActivityType: signals.ActivityCall, ActivityID: "a-1", ChangeType: signals.ChangeNew}); err != nil {
	}
	release()
	engWait(t, a, webhooks.DeliveryQuery{WebhookID: "wh_same"}, 3)
	time.Sleep(50 * time.Millisecond)
	for _, h := range freshHits.all() {
		if et := h.header.Get("X-Webhook-Event"); et != string(webhooks.CommercialSignalDetectedEvent) {
			t.Errorf("B (%s) received a %q event: A's queued event", webhooks.CommercialSignalDetectedEvent, et)
		}
	}
}

// A steady stream of events for an unchanged webhook never reads the
// store's webhook.
func TestUnchangedWebhookNeverReadsStore(t *testing.T) {
	store := newGetStore()
	s := engService(t, webhooks.Config{Store: store})
	srv, _ := engServer(t, statusHandler(204))
	engCreate(t, s, "h", srv.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, s, 200)
	engWait(t, s, webhooks.DeliveryQuery{Outcome: webhooks.OutcomeDelivered}, 200)
	if n := store.gets.Load(); n != 0 {
		t.Fatalf("%d store Gets", n)
	}
}

// Concurrent events settle an unchanged webhook's identity at once, after
// the id was deleted and reused through this Service: every one of them is
// delivered, none overtakes the others for good.
func TestConcurrentSettlingOfUnchangedWebhookDelivers(t *testing.T) {
	store := newGetStore()
	s := engService(t, webhooks.Config{Store: store})
	srv, _ := engServer(t, statusHandler(204))
	recreate(t, s, srv.URL)
	store.onGet = func() { time.Sleep(20 * time.Millisecond) }
	const n = 10
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := s.Publish(t.Context(), engEvent); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, r := range engWait(t, s, webhooks.DeliveryQuery{WebhookID: "wh_same"}, n) {
		if r.Outcome != webhooks.OutcomeDelivered {
			t.Errorf("outcome %s: %s", r.Outcome, r.Error)
		}
	}
}
