package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// A dead letter is redelivered only to the webhook it was made for, taking
// its event type: not to another webhook created later under the same id,
// whose receiver never had the event, nor to one changed to another type.
func TestRedeliverRefusesAnotherWebhookOrType(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replica bool // the change is made through another Service sharing the store and log
		change  func(s *webhooks.Service, w webhooks.Webhook, url string) error
	}{
		{"created again, same type", false, func(s *webhooks.Service, w webhooks.Webhook, url string) error {
			return recreateAt(s, w, url)
		}},
		{"created again through another replica", true, func(s *webhooks.Service, w webhooks.Webhook, url string) error {
			return recreateAt(s, w, url)
		}},
		{"created again, another type", false, func(s *webhooks.Service, w webhooks.Webhook, url string) error {
			w.EventType = webhooks.CommercialSignalDetectedEvent
			return recreateAt(s, w, url)
		}},
		{"updated to another type", false, func(s *webhooks.Service, w webhooks.Webhook, url string) error {
			w.URL, w.Secret, w.EventType = url, "", webhooks.CommercialSignalDetectedEvent
			_, err := s.Update(t.Context(), w)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, log := webhooks.NewMemoryStore(), webhooks.NewMemoryLog(0)
			s := engService(t, webhooks.Config{Store: store, Log: log, Sender: webhooks.SenderConfig{MaxRetries: -1}})
			changer := s
			if tc.replica {
				changer = engService(t, webhooks.Config{Store: store, Log: log})
			}
			bad, _ := engServer(t, statusHandler(500))
			other, hits := engServer(t, statusHandler(204))
			w, err := s.Create(t.Context(), webhooks.Webhook{ID: "wh_x", Name: "old customer", URL: bad.URL, EventType: webhooks.MeetingStatusChangedEvent})
			if err != nil {
				t.Fatal(err)
			}
			publish(t, s, 1)
			dead := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDeadLettered}, 1)
			if !dead[0].WebhookCreatedAt.Equal(w.CreatedAt) {
				t.Errorf("the dead letter's WebhookCreatedAt is %v, want its webhook's %v", dead[0].WebhookCreatedAt, w.CreatedAt)
			}
			if err := tc.change(changer, w, other.URL); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Redeliver(t.Context(), dead[0].ID); !errors.Is(err, webhooks.ErrNotRedeliverable) {
				t.Errorf("Redeliver = %v, want ErrNotRedeliverable", err)
			}
			ids, err := s.RedeliverFailed(t.Context(), "wh_x", time.Time{})
			if err != nil || len(ids) != 0 {
				t.Errorf("RedeliverFailed = %v, %v; want nothing redelivered", ids, err)
			}
			time.Sleep(50 * time.Millisecond)
			if n := len(hits.all()); n != 0 {
				t.Errorf("the webhook now under wh_x received %d request(s) for a dead letter not its own", n)
			}
		})
	}
}

// A record that does not say which webhook it was made for (recorded
// before logs kept WebhookCreatedAt) is judged by when it was made: before
// the webhook now under its id was created, it is refused, allowing a
// minute for replicas' clocks; after, it is redelivered.
func TestRedeliverOfARecordWithoutItsWebhook(t *testing.T) {
	log := webhooks.NewMemoryLog(0)
	s := engService(t, webhooks.Config{Log: log})
	srv, hits := engServer(t, statusHandler(204))
	w := engCreate(t, s, "current", srv.URL, webhooks.MeetingStatusChangedEvent)
	for _, tc := range []struct {
		id      string
		made    time.Time
		refused bool
	}{
		{"dlv_before", w.CreatedAt.Add(-2 * time.Minute), true},
		{"dlv_skew", w.CreatedAt.Add(-30 * time.Second), false},
		{"dlv_after", w.CreatedAt.Add(time.Second), false},
	} {
		rec := webhooks.DeliveryRecord{
			ID: tc.id, EventID: "evt_" + tc.id, EventType: webhooks.MeetingStatusChangedEvent, WebhookID: w.ID,
			Outcome: webhooks.OutcomeDeadLettered, Attempts: 4, StatusCode: 500, Error: "status 500",
			Payload: []byte(`{}`), OccurredAt: tc.made, CreatedAt: tc.made, CompletedAt: tc.made.Add(time.Minute),
		}
		if err := log.RecordDelivery(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
		_, err := s.Redeliver(t.Context(), tc.id)
		if refused := errors.Is(err, webhooks.ErrNotRedeliverable); refused != tc.refused || (err != nil && !refused) {
			t.Errorf("Redeliver(%s) = %v, refused %v; want refused %v", tc.id, err, refused, tc.refused)
		}
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 2)
	if n := len(hits.all()); n != 2 {
		t.Errorf("%d requests, want the two redeliveries", n)
	}
}

// pausingStore is a VersionedStore that, once armed, stops after its next
// Get until resumed: the change of the Service calling it then straddles
// another replica's.
type pausingStore struct {
	webhooks.VersionedStore
	armed  atomic.Bool
	gotten chan struct{}
	resume chan struct{}
}

func newPausingStore(s webhooks.VersionedStore) *pausingStore {
	return &pausingStore{VersionedStore: s, gotten: make(chan struct{}), resume: make(chan struct{})}
}

func (p *pausingStore) Get(ctx context.Context, id string) (webhooks.Webhook, error) {
	w, err := p.VersionedStore.Get(ctx, id)
	if p.armed.CompareAndSwap(true, false) {
		close(p.gotten)
		<-p.resume
	}
	return w, err
}

// straddle runs change on replica A, which reads the webhook, then waits
// while other runs on replica B, then goes on; it returns A's error.
func straddle(t *testing.T, paused *pausingStore, change func() error, other func()) error {
	t.Helper()
	paused.armed.Store(true)
	done := make(chan error, 1)
	go func() { done <- change() }()
	<-paused.gotten
	other()
	close(paused.resume)
	return <-done
}

// Replicas sharing a store do not undo each other's changes: a change made
// from a version another replica has replaced since is made again to the
// newer one.
func TestReplicasDoNotUndoEachOthersChanges(t *testing.T) {
	ctx := t.Context()
	setup := func(t *testing.T) (store *webhooks.MemoryStore, paused *pausingStore, a, b *webhooks.Service, w webhooks.Webhook) {
		store = webhooks.NewMemoryStore()
		paused = newPausingStore(store)
		a = engService(t, webhooks.Config{Store: paused})
		b = engService(t, webhooks.Config{Store: store})
		w = engCreate(t, b, "crm", "https://example.com/in", webhooks.MeetingStatusChangedEvent)
		return store, paused, a, b, w
	}

	t.Run("two rotations", func(t *testing.T) {
		store, paused, a, b, w := setup(t)
		var ra, rb webhooks.Webhook
		err := straddle(t, paused, func() (err error) {
			ra, err = a.RotateSecret(ctx, w.ID, "")
			return err
		}, func() {
			var err error
			if rb, err = b.RotateSecret(ctx, w.ID, ""); err != nil {
				t.Errorf("replica B's RotateSecret = %v", err)
			}
		})
		if err != nil {
			t.Fatalf("replica A's RotateSecret = %v", err)
		}
		got, _ := store.Get(ctx, w.ID)
		signing := []string{got.Secret}
		for _, p := range got.PreviousSecrets {
			signing = append(signing, p.Secret)
		}
		for _, s := range []string{w.Secret, ra.Secret, rb.Secret} {
			if !slices.Contains(signing, s) {
				t.Errorf("a secret a rotation returned or replaced signs nothing now: %d secrets stored", len(signing))
			}
		}
	})

	t.Run("disable during a rotation", func(t *testing.T) {
		store, paused, a, b, w := setup(t)
		err := straddle(t, paused, func() error {
			_, err := a.RotateSecret(ctx, w.ID, "")
			return err
		}, func() {
			if _, err := b.Disable(ctx, w.ID, "paused by the customer"); err != nil {
				t.Errorf("Disable = %v", err)
			}
		})
		if err != nil {
			t.Fatalf("RotateSecret = %v", err)
		}
		if got, _ := store.Get(ctx, w.ID); !got.Disabled || got.Secret == w.Secret {
			t.Errorf("disabled %v, secret rotated %v; want both changes kept", got.Disabled, got.Secret != w.Secret)
		}
	})

	t.Run("update during a delete and create", func(t *testing.T) {
		store, paused, a, b, w := setup(t)
		var created webhooks.Webhook
		renamed := w
		renamed.Name, renamed.Secret = "renamed", ""
		err := straddle(t, paused, func() error {
			_, err := a.Update(ctx, renamed)
			return err
		}, func() {
			if err := b.Delete(ctx, w.ID); err != nil {
				t.Fatal(err)
			}
			var err error
			created, err = b.Create(ctx, webhooks.Webhook{ID: w.ID, Name: "new", URL: "https://new.example.com/in", EventType: w.EventType})
			if err != nil {
				t.Fatal(err)
			}
		})
		if !errors.Is(err, webhooks.ErrNotFound) {
			t.Errorf("Update of the deleted webhook = %v, want ErrNotFound", err)
		}
		if got, _ := store.Get(ctx, w.ID); got.URL != created.URL || got.Secret != created.Secret || got.Name != "new" {
			t.Errorf("the webhook created under the id is now %q at %s; want it unchanged", got.Name, got.URL)
		}
	})
}

// A webhook deleted or disabled through another replica no longer gets the
// deliveries queued here: they are skipped, not sent, whether this replica
// learns of the change from the store before a delivery's next attempt,
// once RecheckAfter has passed, or, for a webhook disabled as Gone, from
// its own 410 (it finds the webhook disabled already).
func TestChangeThroughAnotherReplicaReachesQueuedDeliveries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int           // the receiver's answer
		recheck time.Duration // replica B's RecheckAfter
		change  func(a *webhooks.Service, id string) error
	}{
		{"deleted, read again", http.StatusNoContent, 50 * time.Millisecond, func(a *webhooks.Service, id string) error {
			return a.Delete(t.Context(), id)
		}},
		{"disabled, read again", http.StatusNoContent, 50 * time.Millisecond, func(a *webhooks.Service, id string) error {
			_, err := a.Disable(t.Context(), id, "paused by the customer")
			return err
		}},
		{"disabled as Gone, answered Gone", http.StatusGone, time.Hour, func(a *webhooks.Service, id string) error {
			_, err := a.Disable(t.Context(), id, webhooks.DisabledGone)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := webhooks.NewMemoryStore()
			a := engService(t, webhooks.Config{Store: store})
			b := engService(t, webhooks.Config{Store: store, Workers: 1, MaxConcurrencyPerWebhook: 1, RecheckAfter: tc.recheck,
				Sender: webhooks.SenderConfig{MaxRetries: -1}})
			release := make(chan struct{})
			srv, hits := engServer(t, func(w http.ResponseWriter, _ *http.Request, n int) {
				if n == 1 {
					<-release
				}
				w.WriteHeader(tc.status)
			})
			w := engCreate(t, a, "changed elsewhere", srv.URL, webhooks.MeetingStatusChangedEvent)
			publish(t, b, 5) // one in flight on B, four queued there
			for len(hits.all()) == 0 {
				time.Sleep(time.Millisecond)
			}
			if err := tc.change(a, w.ID); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // past a RecheckAfter of 50 ms
			close(release)
			engWait(t, b, webhooks.DeliveryQuery{WebhookID: w.ID}, 5)
			skipped, _ := b.Log().Deliveries(t.Context(), webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeSkipped})
			if n := len(hits.all()); n != 1 || len(skipped) != 4 {
				t.Errorf("replica B sent %d requests (want 1, in flight before) and skipped %d deliveries (want 4)", n, len(skipped))
			}
		})
	}
}

// Replica B's clock runs 2 s ahead of A's. B creates the webhook, A
// dead-letters its event: the dead letter is of this very webhook, and
// either replica redelivers it.
func TestRedeliverWithReplicasClocksApart(t *testing.T) {
	store := webhooks.NewMemoryStore()
	log := webhooks.NewMemoryLog(0)
	a := engService(t, webhooks.Config{Store: store, Log: log, Sender: webhooks.SenderConfig{MaxRetries: -1}})
	b := engService(t, webhooks.Config{Store: store, Log: log, Now: func() time.Time { return time.Now().Add(2 * time.Second) }})
	srv, _ := engServer(t, statusHandler(500))
	w := engCreate(t, b, "clocks apart", srv.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, a, 1)
	dead := engWait(t, a, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDeadLettered}, 1)
	for _, s := range []*webhooks.Service{a, b} {
		if _, err := s.Redeliver(t.Context(), dead[0].ID); err != nil {
			t.Errorf("Redeliver of a dead letter of the current webhook = %v", err)
		}
	}
}

// An answer to a delivery in flight when another replica moved the webhook
// to another URL, or deleted it and created another under its id, does not
// disable the webhook stored now: 410 Gone, or the dead letter that
// reaches DisableAfter, was about the old URL.
func TestOldURLsAnswerDoesNotDisableTheWebhookNow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		cfg    webhooks.Config
		change func(b *webhooks.Service, w webhooks.Webhook, url string) error
	}{
		{"gone, moved", http.StatusGone, webhooks.Config{}, func(b *webhooks.Service, w webhooks.Webhook, url string) error {
			w.URL, w.Secret = url, ""
			_, err := b.Update(t.Context(), w)
			return err
		}},
		{"gone, created again", http.StatusGone, webhooks.Config{}, recreateAt},
		{"failing, created again", 500, webhooks.Config{DisableAfter: 1}, recreateAt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := webhooks.NewMemoryStore()
			tc.cfg.Store, tc.cfg.Sender = store, webhooks.SenderConfig{MaxRetries: -1}
			a := engService(t, tc.cfg)
			b := engService(t, webhooks.Config{Store: store})
			release := make(chan struct{})
			old, hits := engServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				<-release
				w.WriteHeader(tc.status)
			})
			fresh, _ := engServer(t, statusHandler(204))
			w, err := a.Create(t.Context(), webhooks.Webhook{ID: "wh_x", Name: "old", URL: old.URL, EventType: webhooks.MeetingStatusChangedEvent})
			if err != nil {
				t.Fatal(err)
			}
			publish(t, a, 1)
			for len(hits.all()) == 0 {
				time.Sleep(time.Millisecond)
			}
			if err := tc.change(b, w, fresh.URL); err != nil {
				t.Fatal(err)
			}
			close(release)
			engWait(t, a, webhooks.DeliveryQuery{WebhookID: "wh_x"}, 1)
			time.Sleep(50 * time.Millisecond)
			if got, _ := store.Get(t.Context(), "wh_x"); got.Disabled || got.URL != fresh.URL {
				t.Errorf("the webhook now at %s is disabled %v (%q) for the old URL's answer", got.URL, got.Disabled, got.DisabledReason)
			}
		})
	}
}

// recreateAt deletes w through b and creates another webhook under its id,
// at url.
func recreateAt(b *webhooks.Service, w webhooks.Webhook, url string) error {
	if err := b.Delete(context.Background(), w.ID); err != nil {
		return err
	}
	_, err := b.Create(context.Background(), webhooks.Webhook{ID: w.ID, Name: "new customer", URL: url, EventType: w.EventType})
	return err
}

// An Update of a webhook read before it was deleted, whose id another
// webhook has taken since, fails with ErrNotFound and leaves the other one
// as it is.
func TestUpdateOfAWebhookDeletedSinceItWasRead(t *testing.T) {
	var offset atomic.Int64
	s := engService(t, webhooks.Config{Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }})
	w, err := s.Create(t.Context(), webhooks.Webhook{ID: "wh_x", Name: "old", URL: "https://old.example.com/in", EventType: webhooks.MeetingStatusChangedEvent})
	if err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(2 * time.Second))
	if err := recreateAt(s, w, "https://new.example.com/in"); err != nil {
		t.Fatal(err)
	}
	w.Name, w.Secret = "renamed", ""
	if _, err := s.Update(t.Context(), w); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Update = %v, want ErrNotFound", err)
	}
	if got, _ := s.Get(t.Context(), "wh_x"); got.Name != "new customer" || got.URL != "https://new.example.com/in" {
		t.Errorf("the webhook under wh_x is now %q at %s", got.Name, got.URL)
	}
	// The current webhook, its CreatedAt cut to the millisecond (as a
	// JavaScript Date gives it back), is updated.
	cur, err := s.Get(t.Context(), "wh_x")
	if err != nil {
		t.Fatal(err)
	}
	cur.Name, cur.Secret, cur.CreatedAt = "renamed", "", cur.CreatedAt.Truncate(time.Millisecond)
	if got, err := s.Update(t.Context(), cur); err != nil || got.Name != "renamed" {
		t.Errorf("Update with CreatedAt to the millisecond = %q, %v", got.Name, err)
	}
}

// An Update made from a copy read before another change (on this replica
// or another) fails with ErrStale and saves nothing: it would undo that
// change, a rotation's new secret above all. A copy whose times went
// through JSON, a form or a JavaScript Date is still the version read, and
// one without UpdatedAt replaces what is stored, keeping the secrets when
// it carries one the webhook has had.
func TestUpdateOfAStaleCopy(t *testing.T) {
	type setup struct {
		s, other *webhooks.Service // other shares s's store
		w        webhooks.Webhook  // as read, before the change
	}
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, x setup)
	}{
		{"rotated since", func(t *testing.T, x setup) {
			if _, err := x.s.RotateSecret(t.Context(), x.w.ID, ""); err != nil {
				t.Fatal(err)
			}
		}},
		{"rotated since through another replica", func(t *testing.T, x setup) {
			if _, err := x.other.RotateSecret(t.Context(), x.w.ID, ""); err != nil {
				t.Fatal(err)
			}
		}},
		{"disabled since", func(t *testing.T, x setup) {
			if _, err := x.s.Disable(t.Context(), x.w.ID, "paused by the customer"); err != nil {
				t.Fatal(err)
			}
		}},
		{"updated since through another replica", func(t *testing.T, x setup) {
			w := x.w
			w.Description = "edited elsewhere"
			if _, err := x.other.Update(t.Context(), w); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := webhooks.NewMemoryStore()
			x := setup{s: engService(t, webhooks.Config{Store: store}), other: engService(t, webhooks.Config{Store: store})}
			x.w = engCreate(t, x.s, "customer", "https://crm.example.com/in", webhooks.MeetingStatusChangedEvent)
			tc.change(t, x)
			before, err := store.Get(t.Context(), x.w.ID)
			if err != nil {
				t.Fatal(err)
			}
			stale := x.w
			stale.URL = "https://crm.example.com/moved"
			if _, err := x.s.Update(t.Context(), stale); !errors.Is(err, webhooks.ErrStale) {
				t.Errorf("Update of a stale copy = %v, want ErrStale", err)
			}
			if after, _ := store.Get(t.Context(), x.w.ID); !reflect.DeepEqual(after, before) {
				t.Errorf("the refused Update changed the webhook:\n%+v\nwas\n%+v", after, before)
			}
		})
	}

	t.Run("times cut", func(t *testing.T) {
		s := engService(t, webhooks.Config{})
		w := engCreate(t, s, "customer", "https://crm.example.com/in", webhooks.MeetingStatusChangedEvent)
		for _, cut := range []time.Duration{time.Millisecond, time.Microsecond} {
			cur, err := s.Get(t.Context(), w.ID)
			if err != nil {
				t.Fatal(err)
			}
			cur.CreatedAt, cur.UpdatedAt = cur.CreatedAt.Truncate(cut), cur.UpdatedAt.Truncate(cut)
			cur.Description = "cut to " + cut.String()
			if _, err := s.Update(t.Context(), cur); err != nil {
				t.Errorf("Update with times cut to %v = %v", cut, err)
			}
		}
		cur, err := s.Get(t.Context(), w.ID)
		if err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(cur)
		if err != nil {
			t.Fatal(err)
		}
		var back webhooks.Webhook
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatal(err)
		}
		back.Description = "through JSON"
		if _, err := s.Update(t.Context(), back); err != nil {
			t.Errorf("Update of a copy through JSON = %v", err)
		}
	})

	t.Run("without UpdatedAt", func(t *testing.T) {
		s := engService(t, webhooks.Config{})
		w := engCreate(t, s, "customer", "https://crm.example.com/in", webhooks.MeetingStatusChangedEvent)
		rotated, err := s.RotateSecret(t.Context(), w.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		// Built afresh, with the secret from before the rotation: stale.
		blind := webhooks.Webhook{ID: w.ID, Name: "customer", URL: "https://crm.example.com/moved",
			EventType: webhooks.MeetingStatusChangedEvent, Secret: w.Secret}
		if _, err := s.Update(t.Context(), blind); !errors.Is(err, webhooks.ErrStale) {
			t.Errorf("Update with a secret rotated away = %v, want ErrStale", err)
		}
		// Without a secret: the stored ones stay.
		blind.Secret = ""
		got, err := s.Update(t.Context(), blind)
		if err != nil {
			t.Fatalf("Update without UpdatedAt or secret = %v", err)
		}
		if got.URL != blind.URL || got.Secret != rotated.Secret || len(got.PreviousSecrets) != 1 || got.PreviousSecrets[0].Secret != w.Secret {
			t.Errorf("Update without a secret: URL %s, secret kept %v, previous secrets %+v (want the one before the rotation)",
				got.URL, got.Secret == rotated.Secret, got.PreviousSecrets)
		}
	})

	t.Run("previous secret revoked", func(t *testing.T) {
		s := engService(t, webhooks.Config{})
		w := engCreate(t, s, "customer", "https://crm.example.com/in", webhooks.MeetingStatusChangedEvent)
		for range 2 {
			if _, err := s.RotateSecret(t.Context(), w.ID, ""); err != nil {
				t.Fatal(err)
			}
		}
		cur, err := s.Get(t.Context(), w.ID)
		if err != nil {
			t.Fatal(err)
		}
		leaked := cur.PreviousSecrets[0].Secret
		cur.PreviousSecrets = cur.PreviousSecrets[1:]
		got, err := s.Update(t.Context(), cur)
		if err != nil || len(got.PreviousSecrets) != 1 || got.PreviousSecrets[0].Secret == leaked {
			t.Errorf("Update dropping a previous secret = %+v, %v; want the other one left", got.PreviousSecrets, err)
		}
	})

	t.Run("clock standing still", func(t *testing.T) {
		frozen := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		s := engService(t, webhooks.Config{Now: func() time.Time { return frozen }})
		old, err := s.Create(t.Context(), webhooks.Webhook{ID: "wh_x", Name: "old", URL: "https://old.example.com/in", EventType: webhooks.MeetingStatusChangedEvent})
		if err != nil {
			t.Fatal(err)
		}
		if err := recreateAt(s, old, "https://new.example.com/in"); err != nil {
			t.Fatal(err)
		}
		old.Name = "old renamed"
		if _, err := s.Update(t.Context(), old); !errors.Is(err, webhooks.ErrNotFound) {
			t.Errorf("Update of the deleted webhook's copy = %v, want ErrNotFound", err)
		}
		if got, _ := s.Get(t.Context(), "wh_x"); got.Name != "new customer" {
			t.Errorf("the webhook under wh_x is now %q", got.Name)
		}
	})

	t.Run("clock standing still, disabled since", func(t *testing.T) {
		frozen := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		s := engService(t, webhooks.Config{Now: func() time.Time { return frozen }})
		w, err := s.Create(t.Context(), webhooks.Webhook{ID: "wh_x", Name: "old", URL: "https://old.example.com/in", EventType: webhooks.MeetingStatusChangedEvent})
		if err != nil {
			t.Fatal(err)
		}
		if err := recreateAt(s, w, "https://new.example.com/in"); err != nil {
			t.Fatal(err)
		}
		cur, err := s.Get(t.Context(), "wh_x")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Disable(t.Context(), "wh_x", "paused"); err != nil {
			t.Fatal(err)
		}
		cur.Name = "renamed"
		if _, err := s.Update(t.Context(), cur); !errors.Is(err, webhooks.ErrStale) {
			t.Errorf("Update of a copy read before Disable = %v, want ErrStale", err)
		}
		if got, _ := s.Get(t.Context(), "wh_x"); !got.Disabled {
			t.Error("the stale copy enabled the webhook again")
		}
	})

	t.Run("back to a previous secret", func(t *testing.T) {
		s := engService(t, webhooks.Config{})
		w := engCreate(t, s, "customer", "https://crm.example.com/in", webhooks.MeetingStatusChangedEvent)
		if _, err := s.RotateSecret(t.Context(), w.ID, ""); err != nil {
			t.Fatal(err)
		}
		cur, err := s.Get(t.Context(), w.ID)
		if err != nil {
			t.Fatal(err)
		}
		cur.Secret = w.Secret
		got, err := s.Update(t.Context(), cur)
		if err != nil || got.Secret != w.Secret || len(got.PreviousSecrets) != 0 {
			t.Errorf("Update back to the previous secret = secret restored %v, previous %+v, %v", got.Secret == w.Secret, got.PreviousSecrets, err)
		}
	})

	t.Run("stamped in microseconds before", func(t *testing.T) {
		// Two versions an earlier version of the Service stamped a
		// microsecond apart, in one millisecond: a copy of the first is
		// still stale.
		store := webhooks.NewMemoryStore()
		base := time.Now().UTC().Truncate(time.Millisecond)
		v1 := storeWebhook(t, store, "legacy", "https://crm.example.com/in")
		v1.CreatedAt, v1.UpdatedAt = base.Add(100*time.Microsecond), base.Add(100*time.Microsecond)
		if err := store.Update(t.Context(), v1); err != nil {
			t.Fatal(err)
		}
		v2 := v1.Clone()
		v2.Description, v2.UpdatedAt = "changed", base.Add(101*time.Microsecond)
		if err := store.Update(t.Context(), v2); err != nil {
			t.Fatal(err)
		}
		s := engService(t, webhooks.Config{Store: store})
		if _, err := s.Update(t.Context(), v1); !errors.Is(err, webhooks.ErrStale) {
			t.Errorf("Update of the first = %v, want ErrStale", err)
		}
		if _, err := s.Update(t.Context(), v2); err != nil {
			t.Errorf("Update of the second = %v", err)
		}
	})

	t.Run("store keeping milliseconds", func(t *testing.T) {
		s := engService(t, webhooks.Config{Store: msStore{webhooks.NewMemoryStore()}})
		w := engCreate(t, s, "customer", "https://crm.example.com/in", webhooks.MeetingStatusChangedEvent)
		for i := range 3 {
			w.Description = fmt.Sprint("edit ", i)
			var err error
			if w, err = s.Update(t.Context(), w); err != nil {
				t.Fatalf("Update %d of the webhook Create or Update returned = %v", i, err)
			}
		}
		// Two changes in one millisecond are two versions there too.
		stale := w
		if _, err := s.Disable(t.Context(), w.ID, "paused"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(t.Context(), stale); !errors.Is(err, webhooks.ErrStale) {
			t.Errorf("Update of a copy read a moment before Disable = %v, want ErrStale", err)
		}
	})
}

// msStore is a Store that keeps times to the millisecond, as some
// databases do.
type msStore struct{ *webhooks.MemoryStore }

func (s msStore) Create(ctx context.Context, w webhooks.Webhook) error {
	w.CreatedAt, w.UpdatedAt = w.CreatedAt.Truncate(time.Millisecond), w.UpdatedAt.Truncate(time.Millisecond)
	return s.MemoryStore.Create(ctx, w)
}

func (s msStore) Update(ctx context.Context, w webhooks.Webhook) error {
	w.CreatedAt, w.UpdatedAt = w.CreatedAt.Truncate(time.Millisecond), w.UpdatedAt.Truncate(time.Millisecond)
	return s.MemoryStore.Update(ctx, w)
}

// A dispatch that listed the webhooks, then waited for room in a full
// queue for longer than the Service remembers deleted ids, does not deliver
// to a webhook deleted meanwhile: its read is older than the deletions
// forgotten, and the store is asked.
func TestReadOlderThanAForgottenDeleteIsCheckedAgain(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	s := engService(t, webhooks.Config{Now: now, RecheckAfter: -1, Workers: 4, MaxConcurrencyPerWebhook: 1, QueueSize: 1,
		Sender: webhooks.SenderConfig{Timeout: 30 * time.Second, MaxRetries: -1}})
	release := make(chan struct{})
	slow, _ := engServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	other, otherHits := engServer(t, statusHandler(200))
	engCreate(t, s, "a slow", slow.URL, webhooks.MeetingStatusChangedEvent)
	time.Sleep(2 * time.Millisecond) // listed after a
	b := engCreate(t, s, "b deleted", other.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, s, 2) // a: one in flight, one queued (full)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: b.ID}, 2)
	published := make(chan error, 1)
	go func() { published <- s.Publish(context.Background(), engEvent) }()
	time.Sleep(200 * time.Millisecond) // it has listed a and b, and waits for room in a's queue
	if err := s.Delete(t.Context(), b.ID); err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(11 * time.Minute))
	c := engCreate(t, s, "c", other.URL, webhooks.MeetingStatusChangedEvent)
	if err := s.Delete(t.Context(), c.ID); err != nil { // b's id is forgotten
		t.Fatal(err)
	}
	close(release)
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: b.ID}, 3)
	if n := len(otherHits.all()); n != 2 || recs[2].Outcome != webhooks.OutcomeSkipped {
		t.Errorf("the deleted webhook got %d requests (want the 2 before its delete), the late delivery ended %s (want skipped)", n, recs[2].Outcome)
	}
}
