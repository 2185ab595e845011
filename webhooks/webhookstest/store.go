package webhookstest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// Secret is the fixed signing secret of NewWebhook: a valid webhooks secret
// for tests, never for production.
const Secret = "whsec_d2ViaG9va3N0ZXN0IGZpeGVkIHNpZ25pbmcga2V5ISE="

// previousSecret is a second valid secret, for rotation fixtures.
const previousSecret = "whsec_d2ViaG9va3N0ZXN0IHByZXZpb3VzIHNpZ25pbmcga2V5"

// NewWebhook returns a webhook configuration for event type t posting to
// url, named after t and signed with Secret, without custom headers. Its ID
// and timestamps are zero: the service creating it fills them in.
//
// It passes Validate when t is an event type and url an absolute https URL,
// or an http one (such as an httptest.Server's) with AllowHTTP.
func NewWebhook(t webhooks.EventType, url string) webhooks.Webhook {
	return webhooks.Webhook{
		Name:      "test " + string(t) + " webhook",
		URL:       url,
		EventType: t,
		Secret:    Secret,
	}
}

// TestStore runs the conformance suite of webhooks.Store as subtests of t:
// create/get round trip of every field, conflicts, not-found errors, update,
// delete, the order of List, the filtering of ListEnabled and ListByEventType, isolation of the
// values passed in and returned, concurrent use (run it with -race) and
// cancelled contexts; for a webhooks.VersionedStore, UpdateVersion too.
//
// A host keeping webhooks in its own database runs it from a test:
//
//	func TestPostgresStore(t *testing.T) {
//		webhookstest.TestStore(t, func(t *testing.T) webhooks.Store {
//			return newEmptyPostgresStore(t)
//		})
//	}
//
// newStore must return a new, empty store each time it is called; it may
// register cleanup with t.Cleanup. The times the suite stores are whole
// microseconds in UTC, so a store backed by a database with microsecond
// precision conforms; they are compared with time.Time.Equal. A nil Headers
// map and an empty one are considered equal, as are a nil PreviousSecrets
// slice and an empty one.
func TestStore(t *testing.T, newStore func(t *testing.T) webhooks.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, s webhooks.Store)
	}{
		{"CreateGet", testCreateGet},
		{"CreateDuplicateID", testCreateDuplicateID},
		{"NotFound", testNotFound},
		{"Update", testUpdate},
		{"Delete", testDelete},
		{"ListOrder", testListOrder},
		{"ListEnabled", testListEnabled},
		{"ReturnsCopies", testReturnsCopies},
		{"Concurrent", testConcurrent},
		{"CancelledContext", testCancelledContext},
		{"UpdateVersion", testUpdateVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

// fixtureTime returns a fixed instant plus the given minutes, in whole
// microseconds.
func fixtureTime(minutes int) time.Time {
	return time.Date(2025, time.June, 2, 9, 30, 0, 123456000, time.UTC).Add(time.Duration(minutes) * time.Minute)
}

// fixture returns a webhook with every field set, created at
// fixtureTime(minute).
func fixture(id string, t webhooks.EventType, minute int) webhooks.Webhook {
	created := fixtureTime(minute)
	return webhooks.Webhook{
		ID:        id,
		Name:      "CRM sync " + id,
		URL:       "https://crm.example.com/hooks/" + id,
		EventType: t,
		Headers: map[string]string{
			"Authorization": "Bearer token-" + id,
			"X-Tenant":      "acme",
		},
		Description: "Pushes " + string(t) + " events to the CRM.",
		Secret:      Secret,
		PreviousSecrets: []webhooks.PreviousSecret{
			{Secret: previousSecret, ExpiresAt: created.Add(24 * time.Hour)},
		},
		CreatedAt: created,
		UpdatedAt: created.Add(time.Second),
	}
}

func testCreateGet(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	want := fixture("wh-1", webhooks.CommercialSignalDetectedEvent, 0)
	want.Disabled = true
	want.DisabledReason = "endpoint returned 410 Gone"
	mustCreate(t, s, want)

	got, err := s.Get(ctx, want.ID)
	if err != nil {
		t.Fatalf("Get(%q) = %v", want.ID, err)
	}
	assertEqual(t, "Get", want, got)

	minimal := webhooks.Webhook{ID: "wh-2", Name: "minimal", URL: "https://example.com", EventType: webhooks.MeetingStatusChangedEvent}
	mustCreate(t, s, minimal)
	got, err = s.Get(ctx, minimal.ID)
	if err != nil {
		t.Fatalf("Get(%q) = %v", minimal.ID, err)
	}
	assertEqual(t, "Get minimal", minimal, got)
}

func testCreateDuplicateID(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	first := fixture("wh-1", webhooks.MeetingStatusChangedEvent, 0)
	mustCreate(t, s, first)

	second := fixture("wh-1", webhooks.MeetingNoteStatusChangedEvent, 5)
	second.Name = "other"
	if err := s.Create(ctx, second); !errors.Is(err, webhooks.ErrConflict) {
		t.Fatalf("Create with an existing id = %v, want ErrConflict", err)
	}
	got, err := s.Get(ctx, first.ID)
	if err != nil {
		t.Fatalf("Get(%q) = %v", first.ID, err)
	}
	assertEqual(t, "Get after conflict", first, got)
	assertIDs(t, "List after conflict", mustList(t, s), "wh-1")
}

func testNotFound(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	mustCreate(t, s, fixture("wh-1", webhooks.MeetingStatusChangedEvent, 0))

	if _, err := s.Get(ctx, "missing"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
	if err := s.Update(ctx, fixture("missing", webhooks.MeetingStatusChangedEvent, 1)); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Update(missing) = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "missing"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Delete(missing) = %v, want ErrNotFound", err)
	}
	// Ids no webhook can have (a NUL byte, invalid UTF-8: a database
	// refuses them as text) are not found either, rather than a storage
	// error: they often come straight from a request's path.
	for _, id := range []string{"wh-\x00", "wh-\xff"} {
		if _, err := s.Get(ctx, id); !errors.Is(err, webhooks.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
		if err := s.Update(ctx, fixture(id, webhooks.MeetingStatusChangedEvent, 1)); !errors.Is(err, webhooks.ErrNotFound) {
			t.Errorf("Update(%q) = %v, want ErrNotFound", id, err)
		}
		if err := s.Delete(ctx, id); !errors.Is(err, webhooks.ErrNotFound) {
			t.Errorf("Delete(%q) = %v, want ErrNotFound", id, err)
		}
	}
	assertIDs(t, "List after not-found operations", mustList(t, s), "wh-1")
}

func testUpdate(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	orig := fixture("wh-1", webhooks.MeetingStatusChangedEvent, 0)
	mustCreate(t, s, orig)
	other := fixture("wh-2", webhooks.MeetingStatusChangedEvent, 1)
	mustCreate(t, s, other)

	updated := orig.Clone()
	updated.Name = "renamed"
	updated.URL = "https://other.example.com/in"
	updated.EventType = webhooks.MeetingNoteStatusChangedEvent
	updated.Headers = map[string]string{"X-Api-Key": "k2"}
	updated.Description = ""
	updated.Secret = previousSecret
	updated.PreviousSecrets = []webhooks.PreviousSecret{
		{Secret: Secret, ExpiresAt: fixtureTime(48 * 60)},
		{Secret: previousSecret, ExpiresAt: fixtureTime(60)},
	}
	updated.Disabled = true
	updated.DisabledReason = "disabled by an operator"
	updated.CreatedAt = fixtureTime(10) // moves it after wh-2
	updated.UpdatedAt = fixtureTime(20)
	if err := s.Update(ctx, updated); err != nil {
		t.Fatalf("Update = %v", err)
	}
	got, err := s.Get(ctx, orig.ID)
	if err != nil {
		t.Fatalf("Get after Update = %v", err)
	}
	assertEqual(t, "Get after Update", updated, got)
	assertIDs(t, "List after Update", mustList(t, s), "wh-2", "wh-1")

	// Clearing optional fields must clear them in the store too.
	cleared := updated.Clone()
	cleared.Headers = nil
	cleared.PreviousSecrets = nil
	cleared.Disabled = false
	cleared.DisabledReason = ""
	if err := s.Update(ctx, cleared); err != nil {
		t.Fatalf("second Update = %v", err)
	}
	got, err = s.Get(ctx, orig.ID)
	if err != nil {
		t.Fatalf("Get after second Update = %v", err)
	}
	assertEqual(t, "Get after clearing fields", cleared, got)

	got, err = s.Get(ctx, other.ID)
	if err != nil {
		t.Fatalf("Get(%q) = %v", other.ID, err)
	}
	assertEqual(t, "untouched webhook", other, got)
}

// testUpdateVersion checks a VersionedStore's UpdateVersion: it replaces
// the webhook only while its CreatedAt and UpdatedAt are those given, and
// tells a stale version (ErrStale) from a missing webhook (ErrNotFound). A
// Store that is not a VersionedStore passes.
func testUpdateVersion(t *testing.T, s webhooks.Store) {
	vs, ok := s.(webhooks.VersionedStore)
	if !ok {
		return
	}
	ctx := t.Context()
	orig := fixture("wh-1", webhooks.MeetingStatusChangedEvent, 0)
	mustCreate(t, s, orig)

	next := orig.Clone()
	next.Name, next.UpdatedAt = "renamed", fixtureTime(5)
	if err := vs.UpdateVersion(ctx, next, orig.CreatedAt, orig.UpdatedAt); err != nil {
		t.Fatalf("UpdateVersion of the version stored = %v", err)
	}
	// A writer that read orig, before next was stored, is refused.
	late := orig.Clone()
	late.Disabled, late.DisabledReason, late.UpdatedAt = true, "late", fixtureTime(6)
	if err := vs.UpdateVersion(ctx, late, orig.CreatedAt, orig.UpdatedAt); !errors.Is(err, webhooks.ErrStale) {
		t.Errorf("UpdateVersion of a version replaced since = %v, want ErrStale", err)
	}
	// Same UpdatedAt, another CreatedAt: another webhook under the id.
	if err := vs.UpdateVersion(ctx, late, fixtureTime(1), next.UpdatedAt); !errors.Is(err, webhooks.ErrStale) {
		t.Errorf("UpdateVersion with another CreatedAt = %v, want ErrStale", err)
	}
	got, err := s.Get(ctx, orig.ID)
	if err != nil {
		t.Fatalf("Get = %v", err)
	}
	assertEqual(t, "Get after refused UpdateVersion calls", next, got)

	if err := vs.UpdateVersion(ctx, late, next.CreatedAt, next.UpdatedAt); err != nil {
		t.Fatalf("UpdateVersion of the version now stored = %v", err)
	}
	if got, err = s.Get(ctx, orig.ID); err != nil {
		t.Fatalf("Get = %v", err)
	}
	assertEqual(t, "Get after UpdateVersion", late, got)

	missing := fixture("wh-missing", webhooks.MeetingStatusChangedEvent, 2)
	if err := vs.UpdateVersion(ctx, missing, missing.CreatedAt, missing.UpdatedAt); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("UpdateVersion of a missing webhook = %v, want ErrNotFound", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := vs.UpdateVersion(cancelled, next, late.CreatedAt, late.UpdatedAt); !errors.Is(err, context.Canceled) {
		t.Errorf("UpdateVersion with a cancelled context = %v, want context.Canceled", err)
	}
	assertIDs(t, "List after UpdateVersion", mustList(t, s), "wh-1")
}

func testDelete(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	mustCreate(t, s, fixture("wh-1", webhooks.MeetingStatusChangedEvent, 0))
	keep := fixture("wh-2", webhooks.MeetingStatusChangedEvent, 1)
	mustCreate(t, s, keep)

	if err := s.Delete(ctx, "wh-1"); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	if _, err := s.Get(ctx, "wh-1"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "wh-1"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	if err := s.Update(ctx, fixture("wh-1", webhooks.MeetingStatusChangedEvent, 0)); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Update after Delete = %v, want ErrNotFound", err)
	}
	assertIDs(t, "List after Delete", mustList(t, s), "wh-2")
	enabled, err := s.ListEnabled(ctx, webhooks.MeetingStatusChangedEvent)
	if err != nil {
		t.Fatalf("ListEnabled = %v", err)
	}
	assertIDs(t, "ListEnabled after Delete", enabled, "wh-2")
	got, err := s.Get(ctx, keep.ID)
	if err != nil {
		t.Fatalf("Get(%q) = %v", keep.ID, err)
	}
	assertEqual(t, "remaining webhook", keep, got)

	// The id is free again.
	mustCreate(t, s, fixture("wh-1", webhooks.MeetingStatusChangedEvent, 2))
	assertIDs(t, "List after re-create", mustList(t, s), "wh-2", "wh-1")
}

func testListOrder(t *testing.T, s webhooks.Store) {
	if got := mustList(t, s); len(got) != 0 {
		t.Fatalf("List of an empty store returned %d webhooks", len(got))
	}
	// Created out of order; "b" and "a" share a CreatedAt, so ID decides.
	created := createAll(t, s,
		fixture("c", webhooks.MeetingStatusChangedEvent, 3),
		fixture("b", webhooks.MeetingNoteStatusChangedEvent, 1),
		fixture("z", webhooks.CommercialSignalDetectedEvent, 0),
		fixture("a", webhooks.MeetingStatusChangedEvent, 1),
		fixture("d", webhooks.MeetingStatusChangedEvent, 2),
	)
	list := mustList(t, s)
	assertIDs(t, "List", list, "z", "a", "b", "d", "c")
	for _, got := range list {
		assertEqual(t, "List element", created[got.ID], got)
	}
}

func testListEnabled(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	msc, mnsc, csd := webhooks.MeetingStatusChangedEvent, webhooks.MeetingNoteStatusChangedEvent, webhooks.CommercialSignalDetectedEvent
	disabled := fixture("m-disabled", msc, 1)
	disabled.Disabled = true
	disabled.DisabledReason = "too many failures"
	created := createAll(t, s,
		fixture("m-late", msc, 9),
		disabled,
		fixture("n-1", mnsc, 2),
		fixture("m-early", msc, 0),
		fixture("m-mid", msc, 4),
	)

	listEnabled := func(et webhooks.EventType) []webhooks.Webhook {
		t.Helper()
		got, err := s.ListEnabled(ctx, et)
		if err != nil {
			t.Fatalf("ListEnabled(%s) = %v", et, err)
		}
		return got
	}
	assertIDs(t, "ListEnabled(meeting_status_changed)", listEnabled(msc), "m-early", "m-mid", "m-late")
	assertIDs(t, "ListEnabled(meeting_note_status_changed)", listEnabled(mnsc), "n-1")
	assertIDs(t, "ListEnabled(commercial_signal_detected)", listEnabled(csd))
	assertIDs(t, "ListEnabled(unknown type)", listEnabled("no_such_event"))
	byType := func(et webhooks.EventType) []webhooks.Webhook {
		t.Helper()
		got, err := s.ListByEventType(ctx, et)
		if err != nil {
			t.Fatalf("ListByEventType(%s) = %v", et, err)
		}
		return got
	}
	assertIDs(t, "ListByEventType(meeting_status_changed)", byType(msc), "m-early", "m-disabled", "m-mid", "m-late")
	assertIDs(t, "ListByEventType(commercial_signal_detected)", byType(csd))
	for _, got := range byType(msc) {
		assertEqual(t, "ListByEventType element", created[got.ID], got)
	}
	for _, got := range listEnabled(msc) {
		assertEqual(t, "ListEnabled element", created[got.ID], got)
	}

	// Updates move webhooks between the lists.
	enable := disabled.Clone()
	enable.Disabled, enable.DisabledReason = false, ""
	if err := s.Update(ctx, enable); err != nil {
		t.Fatalf("Update = %v", err)
	}
	moved := fixture("m-mid", csd, 4)
	if err := s.Update(ctx, moved); err != nil {
		t.Fatalf("Update = %v", err)
	}
	disable := fixture("m-late", msc, 9)
	disable.Disabled = true
	if err := s.Update(ctx, disable); err != nil {
		t.Fatalf("Update = %v", err)
	}
	assertIDs(t, "ListEnabled(meeting_status_changed) after updates", listEnabled(msc), "m-early", "m-disabled")
	assertIDs(t, "ListEnabled(commercial_signal_detected) after updates", listEnabled(csd), "m-mid")
	assertIDs(t, "ListByEventType(meeting_status_changed) after updates", byType(msc), "m-early", "m-disabled", "m-late")
	assertIDs(t, "List after updates", mustList(t, s), "m-early", "m-disabled", "n-1", "m-mid", "m-late")
}

func testReturnsCopies(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	want := fixture("wh-1", webhooks.MeetingStatusChangedEvent, 0)
	in := want.Clone()
	mustCreate(t, s, in)

	// Mutating what was passed in.
	in.Headers["Authorization"] = "changed"
	in.Headers["X-Added"] = "added"
	in.PreviousSecrets[0].Secret = "changed"
	in.Name = "changed"
	get := func(step string) webhooks.Webhook {
		t.Helper()
		got, err := s.Get(ctx, want.ID)
		if err != nil {
			t.Fatalf("Get %s = %v", step, err)
		}
		return got
	}
	assertEqual(t, "after mutating the value passed to Create", want, get("after mutating input"))

	// Mutating what Get returned.
	got := get("before mutating output")
	got.Headers["Authorization"] = "changed"
	delete(got.Headers, "X-Tenant")
	got.PreviousSecrets[0].Secret = "changed"
	assertEqual(t, "after mutating a value returned by Get", want, get("after mutating Get result"))

	// Mutating what List, ListEnabled and ListByEventType returned.
	list := mustList(t, s)
	if len(list) != 1 {
		t.Fatalf("List returned %d webhooks, want 1", len(list))
	}
	list[0].Headers["Authorization"] = "changed"
	list[0].PreviousSecrets[0].Secret = "changed"
	assertEqual(t, "after mutating a value returned by List", want, get("after mutating List result"))
	for _, l := range []struct {
		name string
		list func(context.Context, webhooks.EventType) ([]webhooks.Webhook, error)
	}{{"ListEnabled", s.ListEnabled}, {"ListByEventType", s.ListByEventType}} {
		got, err := l.list(ctx, want.EventType)
		if err != nil || len(got) != 1 {
			t.Fatalf("%s = %d webhooks, %v; want 1", l.name, len(got), err)
		}
		got[0].Headers["Authorization"] = "changed"
		got[0].PreviousSecrets[0].Secret = "changed"
		assertEqual(t, "after mutating a value returned by "+l.name, want, get("after mutating "+l.name+" result"))
		got, err = l.list(ctx, want.EventType)
		if err != nil || len(got) != 1 {
			t.Fatalf("%s = %d webhooks, %v; want 1", l.name, len(got), err)
		}
		assertEqual(t, l.name+" after mutating its result", want, got[0])
	}

	// Mutating what was passed to Update.
	upd := want.Clone()
	upd.Name = "updated"
	if err := s.Update(ctx, upd); err != nil {
		t.Fatalf("Update = %v", err)
	}
	upd.Headers["Authorization"] = "changed"
	upd.PreviousSecrets[0].Secret = "changed"
	want.Name = "updated"
	assertEqual(t, "after mutating the value passed to Update", want, get("after mutating Update input"))
}

// testConcurrent runs writers and readers at once. Under -race it finds
// unsynchronised state; without, it still checks that no write is lost.
func testConcurrent(t *testing.T, s webhooks.Store) {
	const (
		goroutines = 8
		ops        = 50
	)
	ctx := t.Context()
	types := webhooks.EventTypes()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range ops {
				w := fixture(fmt.Sprintf("wh-%d-%02d", g, i), types[(g+i)%len(types)], g*ops+i)
				if err := s.Create(ctx, w); err != nil {
					t.Errorf("Create(%q) = %v", w.ID, err)
					return
				}
				got, err := s.Get(ctx, w.ID)
				if err != nil {
					t.Errorf("Get(%q) = %v", w.ID, err)
					return
				}
				got.Headers["X-Tenant"] = "mutated by reader" // must not race with other readers
				if i%3 == 0 {
					w.Disabled = true
					if err := s.Update(ctx, w); err != nil {
						t.Errorf("Update(%q) = %v", w.ID, err)
						return
					}
				}
				if i%5 == 0 {
					enabled, err := s.ListEnabled(ctx, w.EventType)
					if err != nil {
						t.Errorf("ListEnabled = %v", err)
						return
					}
					for j := range enabled {
						enabled[j].Headers["X-Tenant"] = "mutated by reader"
					}
				}
				if i%10 == 0 {
					if _, err := s.List(ctx); err != nil {
						t.Errorf("List = %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	list := mustList(t, s)
	if len(list) != goroutines*ops {
		t.Fatalf("List returned %d webhooks after %d concurrent creates", len(list), goroutines*ops)
	}
	wantEnabled := map[webhooks.EventType]int{}
	for g := range goroutines {
		for i := range ops {
			if i%3 != 0 {
				wantEnabled[types[(g+i)%len(types)]]++
			}
		}
	}
	for _, et := range types {
		enabled, err := s.ListEnabled(ctx, et)
		if err != nil {
			t.Fatalf("ListEnabled(%s) = %v", et, err)
		}
		if len(enabled) != wantEnabled[et] {
			t.Errorf("ListEnabled(%s) returned %d webhooks, want %d", et, len(enabled), wantEnabled[et])
		}
		for _, w := range enabled {
			if w.Headers["X-Tenant"] != "acme" {
				t.Errorf("webhook %q: a reader's mutation of a returned value reached the store", w.ID)
				break
			}
		}
	}
}

func testCancelledContext(t *testing.T, s webhooks.Store) {
	existing := fixture("wh-1", webhooks.MeetingStatusChangedEvent, 0)
	mustCreate(t, s, existing)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want an error matching context.Canceled", op, err)
		}
	}
	check("Create", s.Create(ctx, fixture("wh-2", webhooks.MeetingStatusChangedEvent, 1)))
	_, err := s.Get(ctx, existing.ID)
	check("Get", err)
	changed := existing.Clone()
	changed.Name = "changed"
	check("Update", s.Update(ctx, changed))
	check("Delete", s.Delete(ctx, existing.ID))
	_, err = s.List(ctx)
	check("List", err)
	_, err = s.ListEnabled(ctx, existing.EventType)
	check("ListEnabled", err)
	_, err = s.ListByEventType(ctx, existing.EventType)
	check("ListByEventType", err)

	// Nothing changed.
	got, err := s.Get(t.Context(), existing.ID)
	if err != nil {
		t.Fatalf("Get after cancelled operations = %v", err)
	}
	assertEqual(t, "Get after cancelled operations", existing, got)
	assertIDs(t, "List after cancelled operations", mustList(t, s), "wh-1")
}

func mustCreate(t *testing.T, s webhooks.Store, w webhooks.Webhook) {
	t.Helper()
	if err := s.Create(t.Context(), w); err != nil {
		t.Fatalf("Create(%q) = %v", w.ID, err)
	}
}

// createAll creates ws in order and returns them by id.
func createAll(t *testing.T, s webhooks.Store, ws ...webhooks.Webhook) map[string]webhooks.Webhook {
	t.Helper()
	byID := make(map[string]webhooks.Webhook, len(ws))
	for _, w := range ws {
		mustCreate(t, s, w)
		byID[w.ID] = w
	}
	return byID
}

func mustList(t *testing.T, s webhooks.Store) []webhooks.Webhook {
	t.Helper()
	list, err := s.List(t.Context())
	if err != nil {
		t.Fatalf("List = %v", err)
	}
	return list
}

func assertIDs(t *testing.T, what string, list []webhooks.Webhook, want ...string) {
	t.Helper()
	assertKeys(t, what, "ids", list, func(w webhooks.Webhook) string { return w.ID }, want...)
}

// assertKeys reports when the keys of list's elements, in order, are not
// want; kind names the keys in the message.
func assertKeys[T any, K comparable](t *testing.T, what, kind string, list []T, key func(T) K, want ...K) {
	t.Helper()
	got := make([]K, len(list))
	for i, x := range list {
		got[i] = key(x)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: %s %v, want %v", what, kind, got, want)
	}
}

// assertEqual reports every field of got that differs from want. Secrets
// and header values are compared but not printed.
func assertEqual(t *testing.T, what string, want, got webhooks.Webhook) {
	t.Helper()
	var diffs []string
	diff := func(field string, equal bool, wantV, gotV any) {
		if !equal {
			if wantV == nil {
				diffs = append(diffs, field+" differs")
			} else {
				diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", field, gotV, wantV))
			}
		}
	}
	diff("ID", got.ID == want.ID, want.ID, got.ID)
	diff("Name", got.Name == want.Name, want.Name, got.Name)
	diff("URL", got.URL == want.URL, want.URL, got.URL)
	diff("EventType", got.EventType == want.EventType, want.EventType, got.EventType)
	diff("Headers", maps.Equal(got.Headers, want.Headers), nil, nil)
	diff("Description", got.Description == want.Description, want.Description, got.Description)
	diff("Secret", got.Secret == want.Secret, nil, nil)
	if len(got.PreviousSecrets) != len(want.PreviousSecrets) {
		diff("len(PreviousSecrets)", false, len(want.PreviousSecrets), len(got.PreviousSecrets))
	} else {
		for i, p := range want.PreviousSecrets {
			g := got.PreviousSecrets[i]
			diff(fmt.Sprintf("PreviousSecrets[%d].Secret", i), g.Secret == p.Secret, nil, nil)
			diff(fmt.Sprintf("PreviousSecrets[%d].ExpiresAt", i), g.ExpiresAt.Equal(p.ExpiresAt), p.ExpiresAt, g.ExpiresAt)
		}
	}
	diff("Disabled", got.Disabled == want.Disabled, want.Disabled, got.Disabled)
	diff("DisabledReason", got.DisabledReason == want.DisabledReason, want.DisabledReason, got.DisabledReason)
	diff("CreatedAt", got.CreatedAt.Equal(want.CreatedAt), want.CreatedAt, got.CreatedAt)
	diff("UpdatedAt", got.UpdatedAt.Equal(want.UpdatedAt), want.UpdatedAt, got.UpdatedAt)
	for _, d := range diffs {
		t.Errorf("%s: webhook %q: %s", what, want.ID, d)
	}
}
