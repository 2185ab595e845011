package postgres_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/webhookstest"
)

// replica starts a service on the shared store with its own clock.
func replica(t *testing.T, store webhooks.Store, now func() time.Time) *webhooks.Service {
	t.Helper()
	b, err := bus.New(bus.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := webhooks.New(b, webhooks.Config{Store: store, Now: now, Sender: webhooks.SenderConfig{
		AllowHTTP: true, AllowAddresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

// An update made on one replica reaches the deliveries of another, even
// when the updating replica's clock is behind: versions differ in what the
// store keeps, whole microseconds.
func TestReplicaSeesUpdateFromReplicaWithSlowClock(t *testing.T) {
	t.Parallel()
	store := newStore(t, testDB(t))
	ctx := t.Context()
	old, updated := webhookstest.NewRecorder(t, webhookstest.Secret), webhookstest.NewRecorder(t, webhookstest.Secret)
	a := replica(t, store, time.Now)
	b := replica(t, store, func() time.Time { return time.Now().Add(-time.Hour) })
	w, err := a.Create(ctx, webhooks.Webhook{Name: "crm", URL: old.URL(), EventType: webhooks.MeetingStatusChangedEvent, Secret: webhookstest.Secret})
	if err != nil {
		t.Fatal(err)
	}
	ev := webhooks.MeetingStatusChanged{MeetingID: "m-1", Status: webhooks.MeetingSummaryDone}
	if err := a.Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	old.WaitFor(t, 1)
	w.URL, w.Secret = updated.URL(), ""
	if _, err := b.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	updated.WaitFor(t, 1)
	if n := len(old.Requests()); n != 1 {
		t.Errorf("the old URL got %d requests, want only the one before the update", n)
	}
}

// A disable reason the database cannot keep as text (a NUL byte) still
// disables the webhook.
func TestStoreKeepsUnstorableDisabledReason(t *testing.T) {
	t.Parallel()
	s := newStore(t, testDB(t))
	w := fixtureWebhook("wh-1")
	if err := s.Create(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	w.Disabled, w.DisabledReason = true, "operator\x00note \xff"
	if err := s.Update(t.Context(), w); err != nil {
		t.Fatalf("Update = %v", err)
	}
	got, err := s.Get(t.Context(), w.ID)
	if err != nil || !got.Disabled || got.DisabledReason != "operator\uFFFDnote \uFFFD" {
		t.Errorf("Get = disabled %v, reason %q, %v", got.Disabled, got.DisabledReason, err)
	}
}
