package webhooks_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/signals"
	"github.com/hookbus/hookbus/webhooks"
)

// A previous secret expires while a delivery waits in the queue: the
// delivery is sent signed with the current secret only.
func TestExpiredPreviousSecretStopsSigningQueuedDeliveries(t *testing.T) {
	clock := newStepClock()
	srv, hits, release := heldServer(t)
	s := engService(t, webhooks.Config{Now: clock.now, Workers: 1, MaxConcurrencyPerWebhook: 1, SecretGracePeriod: time.Hour})
	w := engCreate(t, s, "rot", srv.URL, webhooks.MeetingStatusChangedEvent)
	if _, err := s.RotateSecret(t.Context(), w.ID, ""); err != nil {
		t.Fatal(err)
	}
	// The first delivery is held by the receiver, the second waits in the queue.
	publish(t, s, 2)
	if !engEventually(func() bool { return len(hits.all()) > 0 }) {
		t.Fatal("the first request never arrived")
	}
	clock.advance(2 * time.Hour) // the previous secret has expired
	release()
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 2)
	reqs := hits.all()
	if n := len(strings.Fields(reqs[0].header.Get("Webhook-Signature"))); n != 2 {
		t.Errorf("request sent in the grace period carries %d signatures, want 2", n)
	}
	if n := len(strings.Fields(reqs[1].header.Get("Webhook-Signature"))); n != 1 {
		t.Fatalf("request sent 1h after the previous secret expired carries %d signatures, want 1", n)
	}
}

// A 410 that arrives from a URL the webhook no longer has, because the
// webhook was deleted and re-created under its id, or updated to another
// URL, while the delivery was in flight, does not disable the webhook.
func TestGoneFromFormerURLLeavesWebhookEnabled(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, s *webhooks.Service, w webhooks.Webhook, newURL string)
	}{
		{"deleted and re-created", func(t *testing.T, s *webhooks.Service, w webhooks.Webhook, newURL string) {
			if err := s.Delete(t.Context(), w.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Create(t.Context(), webhooks.Webhook{ID: w.ID, Name: "new", URL: newURL, EventType: w.EventType}); err != nil {
				t.Fatal(err)
			}
		}},
		{"updated to another URL", func(t *testing.T, s *webhooks.Service, w webhooks.Webhook, newURL string) {
			w.URL = newURL
			if _, err := s.Update(t.Context(), w); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := engService(t, webhooks.Config{Sender: webhooks.SenderConfig{MaxRetries: -1}})
			started := make(chan struct{}, 1)
			release := make(chan struct{})
			old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				started <- struct{}{}
				<-release
				w.WriteHeader(http.StatusGone)
			}))
			defer old.Close()
			fresh, _ := engServer(t, statusHandler(204))
			w, err := s.Create(t.Context(), webhooks.Webhook{ID: "wh_same", Name: "old", URL: old.URL, EventType: webhooks.MeetingStatusChangedEvent})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Publish(t.Context(), engEvent); err != nil {
				t.Fatal(err)
			}
			<-started
			tc.change(t, s, w, fresh.URL)
			close(release)
			engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDeadLettered}, 1)
			time.Sleep(50 * time.Millisecond)
			got, err := s.Get(t.Context(), w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Disabled {
				t.Fatalf("disabled (%q) by the 410 of a delivery in flight to the former URL", got.DisabledReason)
			}
		})
	}
}

// TestDeletedWebhooksReleaseTheirEngineState creates, uses and deletes
// webhooks: the engine keeps no state for them (their queue, their
// secrets), only their ids, so a host that churns webhooks does not grow.
func TestDeletedWebhooksReleaseTheirEngineState(t *testing.T) {
	s := engService(t, webhooks.Config{})
	srv, _ := engServer(t, statusHandler(204))
	var ids []string
	for i := range 20 {
		ids = append(ids, engCreate(t, s, fmt.Sprintf("churn %d", i), srv.URL, webhooks.MeetingStatusChangedEvent).ID)
	}
	publish(t, s, 1)
	engWait(t, s, webhooks.DeliveryQuery{Outcome: webhooks.OutcomeDelivered}, len(ids))
	if n := webhooks.EndpointCount(s); n != len(ids) {
		t.Fatalf("%d endpoints for %d webhooks in use", n, len(ids))
	}
	for _, id := range ids {
		if err := s.Delete(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	if n := webhooks.EndpointCount(s); n != 0 {
		t.Errorf("%d endpoints kept after every webhook was deleted", n)
	}
}

// gatedStore is a MemoryStore whose ListByEventType, once armed, holds the
// list it read until released: a dispatch then works from a list older than
// the changes made meanwhile.
type gatedStore struct {
	*webhooks.MemoryStore
	armed   atomic.Bool
	listed  chan struct{}
	proceed chan struct{}
}

// newGated returns an unarmed gatedStore.
func newGated() *gatedStore {
	return &gatedStore{MemoryStore: webhooks.NewMemoryStore(), listed: make(chan struct{}), proceed: make(chan struct{})}
}

func (g *gatedStore) ListByEventType(ctx context.Context, t webhooks.EventType) ([]webhooks.Webhook, error) {
	ws, err := g.MemoryStore.ListByEventType(ctx, t)
	if g.armed.CompareAndSwap(true, false) {
		g.listed <- struct{}{}
		<-g.proceed
	}
	return ws, err
}

// TestDispatchListedBeforeDeleteSkips deletes a webhook between a dispatch's
// listing and its deliveries: the delivery is recorded as skipped, nothing
// is sent, and the engine keeps no state for the deleted webhook.
func TestDispatchListedBeforeDeleteSkips(t *testing.T) {
	store := newGated()
	s := engService(t, webhooks.Config{Store: store})
	srv, hits := engServer(t, statusHandler(204))
	w := engCreate(t, s, "deleted meanwhile", srv.URL, webhooks.MeetingStatusChangedEvent)
	store.armed.Store(true)
	published := make(chan error, 1)
	go func() { published <- s.Publish(t.Context(), engEvent) }()
	<-store.listed
	if err := s.Delete(t.Context(), w.ID); err != nil {
		t.Fatal(err)
	}
	close(store.proceed)
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeSkipped}, 1)
	if n := len(hits.all()); n != 0 {
		t.Errorf("the deleted webhook's receiver got %d requests", n)
	}
	if n := webhooks.EndpointCount(s); n != 0 {
		t.Errorf("%d endpoints kept for a deleted webhook", n)
	}
}

// RetryWaitMin above RetryWaitMax is refused, not silently raised.
func TestInvertedRetryWaitsAreRefused(t *testing.T) {
	b, _ := bus.New(bus.Config{})
	for _, sc := range []webhooks.SenderConfig{
		{RetryWaitMin: time.Minute, RetryWaitMax: time.Second},
		{RetryWaitMax: webhooks.DefaultRetryWaitMin / 2}, // below the default minimum
	} {
		if _, err := webhooks.New(b, webhooks.Config{Sender: sc}); !errors.Is(err, webhooks.ErrInvalidConfig) {
			t.Errorf("New(RetryWaitMin %v, RetryWaitMax %v) = %v, want ErrInvalidConfig", sc.RetryWaitMin, sc.RetryWaitMax, err)
		}
	}
}

// DisableAfter counts consecutive dead letters through updates and
// rotations of the webhook: only Enable starts the count again.
func TestRotationKeepsTheRunOfDeadLetters(t *testing.T) {
	var disabled atomic.Int32
	s := engService(t, webhooks.Config{DisableAfter: 3, Sender: webhooks.SenderConfig{MaxRetries: -1},
		OnDisabled: func(webhooks.DisabledParams) { disabled.Add(1) }})
	srv, _ := engServer(t, statusHandler(500))
	w := engCreate(t, s, "failing", srv.URL, webhooks.MeetingStatusChangedEvent)
	for i := range 3 {
		if err := s.Publish(t.Context(), engEvent); err != nil {
			t.Fatal(err)
		}
		engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDeadLettered}, i+1)
		if i < 2 {
			if _, err := s.RotateSecret(t.Context(), w.ID, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !engEventually(func() bool { return disabled.Load() == 1 }) {
		t.Fatal("3 consecutive dead letters with DisableAfter=3 and rotations between them, but the webhook was not disabled")
	}
	if got, err := s.Get(t.Context(), w.ID); err != nil || !got.Disabled {
		t.Errorf("Get = disabled %v, %v; want disabled", got.Disabled, err)
	}
}

// An ID given to Create is text every store can keep: not valid UTF-8, a
// control character or spaces around it are refused as a field error.
func TestCreateRefusesAnIDNotEveryStoreCanKeep(t *testing.T) {
	s := engService(t, webhooks.Config{})
	for _, id := range []string{"wh-\xff", "wh-\x00", "wh-\n1", " wh-1", "wh-1 "} {
		_, err := s.Create(t.Context(), webhooks.Webhook{ID: id, Name: "n", URL: "https://example.com/in", EventType: webhooks.MeetingStatusChangedEvent})
		var fe *webhooks.FieldError
		if !errors.Is(err, webhooks.ErrIDInvalid) || !errors.As(err, &fe) || fe.Field != "ID" {
			t.Errorf("Create(ID %q) = %v, want a FieldError for ID wrapping ErrIDInvalid", id, err)
		}
	}
	if _, err := s.Get(t.Context(), "wh-\xff"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Get of a refused id = %v, want ErrNotFound", err)
	}
	if _, err := s.Create(t.Context(), webhooks.Webhook{ID: "wh-élan_1", Name: "n", URL: "https://example.com/in", EventType: webhooks.MeetingStatusChangedEvent}); err != nil {
		t.Errorf("Create(ID %q) = %v", "wh-élan_1", err)
	}
}

// A webhook the engine disabled after a run of dead letters and enabled
// again through Update (Disabled false, as an edit form saves it) starts a
// new run, as after Enable: one more dead letter does not disable it.
func TestEnabledThroughUpdateStartsANewRun(t *testing.T) {
	s := engService(t, webhooks.Config{DisableAfter: 3, Sender: webhooks.SenderConfig{MaxRetries: -1}})
	srv, _ := engServer(t, statusHandler(500))
	w := engCreate(t, s, "flaky", srv.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, s, 3)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDeadLettered}, 3)
	if !engEventually(func() bool { g, _ := s.Get(t.Context(), w.ID); return g.Disabled }) {
		t.Fatal("not disabled after 3 dead letters")
	}
	cur, err := s.Get(t.Context(), w.ID)
	if err != nil {
		t.Fatal(err)
	}
	cur.Disabled, cur.DisabledReason, cur.Secret = false, "", ""
	if _, err := s.Update(t.Context(), cur); err != nil {
		t.Fatal(err)
	}
	publish(t, s, 1)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDeadLettered}, 4)
	time.Sleep(50 * time.Millisecond)
	if g, _ := s.Get(t.Context(), w.ID); g.Disabled {
		t.Errorf("enabled through Update, disabled again by one dead letter (%q)", g.DisabledReason)
	}
}

// A webhook disabled by hand while a delivery was in flight keeps the
// reason given: the delivery's dead letter neither disables it again for
// the engine's reason nor reports it disabled.
func TestDisabledByHandKeepsItsReason(t *testing.T) {
	var onDisabled atomic.Int32
	s := engService(t, webhooks.Config{DisableAfter: 1, OnDisabled: func(webhooks.DisabledParams) { onDisabled.Add(1) },
		Sender: webhooks.SenderConfig{MaxRetries: -1}})
	release := make(chan struct{})
	srv, hits := engServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		<-release
		w.WriteHeader(500)
	})
	w := engCreate(t, s, "by hand", srv.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, s, 1)
	for len(hits.all()) == 0 {
		time.Sleep(time.Millisecond)
	}
	if _, err := s.Disable(t.Context(), w.ID, "maintenance window"); err != nil {
		t.Fatal(err)
	}
	close(release)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, 1)
	time.Sleep(50 * time.Millisecond)
	g, _ := s.Get(t.Context(), w.ID)
	if g.DisabledReason != "maintenance window" || onDisabled.Load() != 0 {
		t.Errorf("reason %q, OnDisabled called %d times; want the reason given kept and no report", g.DisabledReason, onDisabled.Load())
	}
}

// Publish refuses a nil event, or a nil pointer to one, with an error.
func TestPublishRefusesANilEvent(t *testing.T) {
	s := engService(t, webhooks.Config{})
	for name, e := range map[string]webhooks.Event{
		"nil interface": nil,
		"nil pointer":   (*webhooks.MeetingStatusChanged)(nil),
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Publish(%s) panicked: %v", name, r)
				}
			}()
			if err := s.Publish(t.Context(), e); !errors.Is(err, webhooks.ErrInvalidPayload) || !errors.Is(err, bus.ErrInvalidEvent) {
				t.Errorf("Publish(%s) = %v, want ErrInvalidPayload and bus.ErrInvalidEvent", name, err)
			}
		}()
	}
}

// An invalid event is refused with the same errors whether it is published
// through the Service or on its bus.
func TestInvalidEventRefusedAlikeOnEitherPublish(t *testing.T) {
	s := engService(t, webhooks.Config{})
	e := webhooks.CommercialSignalDetected{Code: "not_a_code", Category: signals.Positive}
	for name, publish := range map[string]func() error{
		"Service.Publish": func() error { return s.Publish(t.Context(), e) },
		"Bus().Publish":   func() error { return s.Bus().Publish(t.Context(), e) },
	} {
		err := publish()
		for _, want := range []error{bus.ErrInvalidEvent, webhooks.ErrInvalidPayload, signals.ErrUnknownCode} {
			if !errors.Is(err, want) {
				t.Errorf("%s of an unknown signal code = %v, which does not match %v", name, err, want)
			}
		}
	}
}

// Events the bus had not dispatched when Shutdown's context ended (still in
// a translation) are reported as the service's ErrDrainIncomplete too.
func TestShutdownCutInTranslationIsDrainIncomplete(t *testing.T) {
	s := engUnstarted(t, webhooks.Config{Sender: webhooks.SenderConfig{AllowHTTP: true, AllowAddresses: engLoopback}})
	b := s.Bus()
	gate := make(chan struct{})
	defer close(gate)
	err := webhooks.Translate(s, "slow-translation", func(ctx context.Context, e engRecorded) ([]webhooks.Event, error) {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return []webhooks.Event{engEvent}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := b.Publish(t.Context(), engRecorded{MeetingID: "m-1"}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, webhooks.ErrDrainIncomplete) || !errors.Is(err, bus.ErrDrainIncomplete) {
		t.Errorf("Shutdown = %v, want an error matching webhooks.ErrDrainIncomplete and bus.ErrDrainIncomplete", err)
	}
}

// slowLog is a MemoryLog that takes 300 ms, as a busy database might, to
// write the delivery of an event whose body holds slow.
type slowLog struct {
	*webhooks.MemoryLog
	slow string
}

func (l slowLog) RecordDelivery(ctx context.Context, d webhooks.DeliveryRecord) error {
	if strings.Contains(string(d.Payload), l.slow) {
		time.Sleep(300 * time.Millisecond)
	}
	return l.MemoryLog.RecordDelivery(ctx, d)
}

// A Publish waiting for room in a full queue when Shutdown's drain gives up
// has its delivery on record, as undelivered, when Shutdown returns.
func TestShutdownWaitsForABlockedPublishsRecord(t *testing.T) {
	s := engUnstarted(t, webhooks.Config{Log: slowLog{webhooks.NewMemoryLog(0), "m-blocked"}, Workers: 1, MaxConcurrencyPerWebhook: 1, QueueSize: 1,
		Sender: webhooks.SenderConfig{AllowHTTP: true, AllowAddresses: engLoopback, Timeout: 5 * time.Second, MaxRetries: -1}})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	srv, _ := engServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	engCreate(t, s, "slow", srv.URL, webhooks.MeetingStatusChangedEvent)
	for _, id := range []string{"m-a", "m-b"} { // one in flight, one queued
		if err := s.Publish(t.Context(), webhooks.MeetingStatusChanged{MeetingID: id, Status: webhooks.MeetingCreated}); err != nil {
			t.Fatal(err)
		}
	}
	published := make(chan error, 1)
	go func() {
		published <- s.Publish(context.Background(), webhooks.MeetingStatusChanged{MeetingID: "m-blocked", Status: webhooks.MeetingCreated})
	}()
	time.Sleep(100 * time.Millisecond) // Publish waits for room
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, webhooks.ErrDrainIncomplete) {
		t.Errorf("Shutdown = %v, want ErrDrainIncomplete", err)
	}
	recs, _ := s.Log().Deliveries(context.Background(), webhooks.DeliveryQuery{})
	if len(recs) != 3 {
		t.Errorf("%d deliveries on record when Shutdown returned, want 3", len(recs))
	}
	if err := <-published; err == nil {
		t.Error("the blocked Publish returned nil")
	}
}

// RedeliverFailed reads the log a page at a time and still redelivers every
// dead letter once, those completed at one instant beyond a page included,
// and not an event delivered since.
func TestRedeliverFailedReadsTheLogInPages(t *testing.T) {
	log := webhooks.NewMemoryLog(0)
	s := engService(t, webhooks.Config{Log: log})
	srv, hits := engServer(t, statusHandler(204))
	w := engCreate(t, s, "recovered", srv.URL, webhooks.MeetingStatusChangedEvent)
	body, err := engEvent.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	created, completed := w.CreatedAt.Add(time.Second), w.CreatedAt.Add(time.Minute)
	const n = 1300 // more than two pages, all completed at one instant
	for i := range n {
		rec := webhooks.DeliveryRecord{ID: fmt.Sprintf("dlv-%04d", i), EventID: fmt.Sprintf("evt-%04d", i), EventType: w.EventType,
			WebhookID: w.ID, Outcome: webhooks.OutcomeDeadLettered, Attempts: 4, StatusCode: 500, Error: "status 500",
			Payload: body, OccurredAt: created, CreatedAt: created, CompletedAt: completed}
		if i%10 == 0 {
			rec.CompletedAt = completed.Add(time.Duration(i) * time.Millisecond) // some later, one by one
		}
		if err := log.RecordDelivery(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	// evt-0001 was delivered later: not redelivered.
	if err := log.RecordDelivery(t.Context(), webhooks.DeliveryRecord{ID: "dlv-later", EventID: "evt-0001", EventType: w.EventType,
		WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered, Attempts: 1, StatusCode: 204, OccurredAt: created, CreatedAt: created,
		CompletedAt: completed.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ids, err := s.RedeliverFailed(t.Context(), w.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != n-1 {
		t.Fatalf("RedeliverFailed queued %d redeliveries, want %d", len(ids), n-1)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, n)
	seen := make(map[string]int)
	for _, h := range hits.all() {
		seen[h.header.Get("webhook-id")]++
	}
	if len(seen) != n-1 || seen["evt-0001"] != 0 {
		t.Errorf("%d events redelivered (evt-0001 %d times), want %d, each once, evt-0001 not", len(seen), seen["evt-0001"], n-1)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s sent %d times", id, c)
		}
	}
}

// A bus handler's webhook event published while Shutdown drains the bus is
// taken and delivered, as the bus takes a handler's follow-up events then.
func TestPublishFromAHandlerDuringShutdown(t *testing.T) {
	s := engUnstarted(t, webhooks.Config{Sender: webhooks.SenderConfig{AllowHTTP: true, AllowAddresses: engLoopback}})
	b := s.Bus()
	gate := make(chan struct{})
	published := make(chan error, 1)
	err := bus.Handle(b, "host", func(ctx context.Context, e engRecorded) error {
		<-gate
		err := s.Publish(ctx, webhooks.MeetingStatusChanged{MeetingID: e.MeetingID, Status: webhooks.MeetingSummaryDone})
		published <- err
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv, hits := engServer(t, statusHandler(204))
	engCreate(t, s, "follow-up", srv.URL, webhooks.MeetingStatusChangedEvent)
	if err := b.Publish(t.Context(), engRecorded{MeetingID: "m-1"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	time.Sleep(50 * time.Millisecond) // Shutdown has begun, the bus drains
	close(gate)
	if err := <-published; err != nil {
		t.Errorf("Publish from a bus handler during the drain = %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if n := len(hits.all()); n != 1 {
		t.Errorf("%d requests, want the follow-up delivered", n)
	}
	if err := s.Publish(t.Context(), engEvent); !errors.Is(err, webhooks.ErrClosed) {
		t.Errorf("Publish after Shutdown = %v, want ErrClosed", err)
	}
}

// forgetfulLog is a MemoryLog that no longer has one delivery when asked
// for it alone, as a MemoryLog at capacity drops its oldest.
type forgetfulLog struct {
	*webhooks.MemoryLog
	gone string
}

func (l forgetfulLog) Delivery(ctx context.Context, id string) (webhooks.DeliveryRecord, error) {
	if id == l.gone {
		return webhooks.DeliveryRecord{}, fmt.Errorf("%w: %s", webhooks.ErrNotFound, id)
	}
	return l.MemoryLog.Delivery(ctx, id)
}

// A dead letter the log has dropped by the time RedeliverFailed reads its
// body is passed over; the others are redelivered.
func TestRedeliverFailedPassesOverADeadLetterDropped(t *testing.T) {
	mem := webhooks.NewMemoryLog(0)
	log := &forgetfulLog{MemoryLog: mem}
	s := engService(t, webhooks.Config{Log: log, DisableAfter: -1, Sender: webhooks.SenderConfig{MaxRetries: -1}})
	srv, _ := engServer(t, statusHandler(500))
	w := engCreate(t, s, "down", srv.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, s, 3)
	dead := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDeadLettered}, 3)
	log.gone = dead[1].ID
	ids, err := s.RedeliverFailed(t.Context(), w.ID, time.Time{})
	if err != nil || len(ids) != 2 {
		t.Errorf("RedeliverFailed = %d redeliveries, %v; want 2 and no error", len(ids), err)
	}
}
