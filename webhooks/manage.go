package webhooks

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"slices"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Create validates w and saves it. An empty ID is assigned; one given must
// be valid UTF-8 without control characters or spaces around it (a
// *FieldError wrapping ErrIDInvalid otherwise). An empty Secret
// is generated with crypto/rand; CreatedAt and UpdatedAt are set. It returns
// the saved webhook, secret included, so it can be shown to the customer.
// The ID of a deleted webhook may be used again: the new webhook gets the
// events dispatched from then on, while deliveries queued for the deleted
// one are still recorded as skipped.
func (s *Service) Create(ctx context.Context, w Webhook) (Webhook, error) {
	w = w.Clone()
	if w.ID == "" {
		w.ID = newID("wh_")
	} else if err := validateID(w.ID); err != nil {
		return Webhook{}, err
	}
	if w.Secret == "" {
		secret, err := GenerateSecret()
		if err != nil {
			return Webhook{}, err
		}
		w.Secret = secret
	}
	now := s.stamp()
	w.CreatedAt, w.UpdatedAt = now, now
	if err := w.Validate(s.validateOptions()); err != nil {
		return Webhook{}, err
	}
	if err := s.checkAddress(w.URL); err != nil {
		return Webhook{}, err
	}
	defer s.lockWebhook(w.ID)()
	s.mu.Lock()
	if deletedCreatedAt := s.deleted[w.ID]; !deletedCreatedAt.IsZero() && !w.CreatedAt.After(deletedCreatedAt.Truncate(stampPrecision)) {
		// Created again under a deleted webhook's id within the same
		// millisecond, or with a clock that stands still: CreatedAt tells
		// the two apart, to the millisecond, as copies compare it.
		w.CreatedAt = deletedCreatedAt.Truncate(stampPrecision).Add(stampPrecision)
		w.UpdatedAt = w.CreatedAt
	}
	s.mu.Unlock()
	if err := s.store.Create(ctx, w); err != nil {
		return Webhook{}, err
	}
	// A webhook created under the id of a deleted one is another webhook: a
	// dispatch that listed the deleted one gets a tombstone (see endpoint),
	// one that lists this one an endpoint of its own.
	return w, nil
}

// Get returns the webhook with the given id, or an error wrapping ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (Webhook, error) {
	return s.store.Get(ctx, id)
}

// List returns every webhook.
func (s *Service) List(ctx context.Context) ([]Webhook, error) { return s.store.List(ctx) }

// Update validates w and replaces the stored webhook of the same ID with
// it: name, URL, event type, headers, description, and Disabled with
// DisabledReason (so Update can enable or disable the webhook, as Enable and
// Disable do). CreatedAt is kept and UpdatedAt set.
//
// w is meant to be the webhook as read with Get, then edited. Its CreatedAt
// and UpdatedAt, when set, say which version it was read from, compared to
// the millisecond (the Service stamps changes in whole milliseconds, each a
// millisecond at least after the one before, so JSON, a JavaScript Date
// and a store keeping milliseconds all keep them whole; a form must carry
// them to the millisecond, or leave them zero): a webhook deleted since,
// whose ID another webhook took, is ErrNotFound; one changed since (by
// another Update, a rotation, Disable or Enable, or the engine disabling
// it, on any replica) is ErrStale, and nothing is saved: read it again and
// redo the edit. With a zero UpdatedAt, w replaces whatever is stored.
//
// Secrets: an empty Secret keeps the stored secrets as they are; the stored
// Secret keeps it, with those of the stored PreviousSecrets that w still
// lists (so Update can revoke a previous secret before its grace period
// ends, but not add one). One of the stored PreviousSecrets goes back to it
// when w carries the version's UpdatedAt; without one, w may be a copy read
// before a rotation, and Update fails with ErrStale. Any other Secret
// replaces the stored one at once, with w's PreviousSecrets (use
// RotateSecret to change it with a grace period).
// Deliveries already queued, or waiting to retry, use the new configuration
// from their next attempt on; those of an event type the webhook no longer
// takes are skipped.
func (s *Service) Update(ctx context.Context, w Webhook) (Webhook, error) {
	defer s.lockWebhook(w.ID)()
	w = w.Clone()
	var old Webhook
	saved, _, err := s.change(ctx, w.ID, func(cur Webhook) (Webhook, bool, error) {
		if !w.CreatedAt.IsZero() && !sameStamp(w.CreatedAt, cur.CreatedAt) {
			// Read before its webhook was deleted and another created
			// under the id: not an edit of that one.
			return Webhook{}, false, fmt.Errorf("%w: webhook %s was deleted since it was read (or the copy's CreatedAt lost its milliseconds)", ErrNotFound, w.ID)
		}
		if !w.UpdatedAt.IsZero() && !sameStamp(w.UpdatedAt, cur.UpdatedAt) {
			return Webhook{}, false, fmt.Errorf("%w: webhook %s was changed since it was read (version of %s, now %s)",
				ErrStale, w.ID, w.UpdatedAt.UTC().Format(time.RFC3339Nano), cur.UpdatedAt.UTC().Format(time.RFC3339Nano))
		}
		old = cur
		u := w.Clone()
		switch {
		case u.Secret == "":
			u.Secret, u.PreviousSecrets = cur.Secret, cur.PreviousSecrets
		case u.Secret == cur.Secret:
			u.PreviousSecrets = stillListed(cur.PreviousSecrets, w.PreviousSecrets)
		case slices.ContainsFunc(cur.PreviousSecrets, func(p PreviousSecret) bool { return p.Secret == u.Secret }):
			if w.UpdatedAt.IsZero() {
				return Webhook{}, false, fmt.Errorf("%w: webhook %s: its secret was rotated since; to go back to a previous secret, give the UpdatedAt of the version read", ErrStale, w.ID)
			}
			// Back to a previous secret, on purpose: w is the current
			// version.
			u.PreviousSecrets = slices.DeleteFunc(stillListed(cur.PreviousSecrets, w.PreviousSecrets),
				func(p PreviousSecret) bool { return p.Secret == u.Secret })
		}
		// Expired secrets sign nothing; dropped, they do not count against
		// MaxPreviousSecrets.
		u.PreviousSecrets = unexpired(u.PreviousSecrets, s.cfg.Now())
		u.CreatedAt, u.UpdatedAt = cur.CreatedAt, s.laterThan(cur.UpdatedAt)
		if err := u.Validate(s.validateOptions()); err != nil {
			return Webhook{}, false, err
		}
		if err := s.checkAddress(u.URL); err != nil {
			return Webhook{}, false, err
		}
		return u, true, nil
	})
	if err != nil {
		return Webhook{}, err
	}
	// Enabled again through Update, as through Enable: a new run of dead
	// letters starts.
	s.refresh(ctx, saved, old.Disabled && !saved.Disabled)
	return saved, nil
}

// stampPrecision is the precision of the times the Service stamps changes
// with, and compares copies' times to: whole milliseconds survive JSON,
// JavaScript dates and stores that keep no finer times.
const stampPrecision = time.Millisecond

// sameStamp reports whether a and b, a webhook's time as a caller holds it
// and as the store keeps it, are the same: equal, or equal to the
// millisecond when one of them is a whole millisecond (a stamp of this
// Service, or a time cut to the millisecond on its way). Two finer times
// (stamped in microseconds by an earlier version) must be equal.
func sameStamp(a, b time.Time) bool {
	if a.Equal(b) {
		return true
	}
	onGrid := func(t time.Time) bool { return t.Nanosecond()%int(stampPrecision) == 0 }
	return (onGrid(a) || onGrid(b)) && a.Truncate(stampPrecision).Equal(b.Truncate(stampPrecision))
}

// stillListed returns the secrets of stored whose Secret listed has too.
func stillListed(stored, listed []PreviousSecret) []PreviousSecret {
	var kept []PreviousSecret
	for _, p := range stored {
		if slices.ContainsFunc(listed, func(l PreviousSecret) bool { return l.Secret == p.Secret }) {
			kept = append(kept, p)
		}
	}
	return kept
}

// maxStaleTries bounds how many times change reads a webhook again after
// another replica changed it between its read and its write.
const maxStaleTries = 10

// change reads webhook id, makes its new version with fn and saves it. With
// a VersionedStore the save holds only if the webhook is still the version
// read; if another replica saved a newer one meanwhile, change reads it and
// calls fn again, so that neither change undoes the other. fn returns save
// false to keep the stored version, which change then returns with changed
// false. A webhook deleted and created again under its id meanwhile is
// another webhook: the change, meant for the deleted one, fails with
// ErrNotFound. The caller holds the webhook's lock.
func (s *Service) change(ctx context.Context, id string, fn func(cur Webhook) (w Webhook, save bool, err error)) (Webhook, bool, error) {
	var created time.Time
	for try := 1; ; try++ {
		cur, err := s.store.Get(ctx, id)
		if err != nil {
			return Webhook{}, false, err
		}
		if try == 1 {
			created = cur.CreatedAt
		} else if !cur.CreatedAt.Equal(created) {
			return Webhook{}, false, fmt.Errorf("%w: webhook %s was deleted meanwhile", ErrNotFound, id)
		}
		w, save, err := fn(cur)
		if err != nil || !save {
			return w, false, err
		}
		err = s.save(ctx, w, cur)
		if errors.Is(err, ErrStale) && try < maxStaleTries {
			continue
		}
		if err != nil {
			return Webhook{}, false, err
		}
		return w, true, nil
	}
}

// save replaces the stored webhook by w, made from prev: with a
// VersionedStore only if prev is still the stored version (ErrStale
// otherwise), with another Store whatever is stored.
func (s *Service) save(ctx context.Context, w, prev Webhook) error {
	if vs, ok := s.store.(VersionedStore); ok {
		return vs.UpdateVersion(ctx, w, prev.CreatedAt, prev.UpdatedAt)
	}
	return s.store.Update(ctx, w)
}

// Delete removes a webhook. Its queued deliveries, and those waiting to
// retry, are recorded as skipped.
func (s *Service) Delete(ctx context.Context, id string) error {
	defer s.lockWebhook(id)()
	w, err := s.store.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := s.store.Delete(ctx, id); err != nil {
		return err
	}
	s.forget(id, w.CreatedAt)
	return nil
}

// lockWebhook serialises changes to one webhook; call the returned func to
// unlock.
func (s *Service) lockWebhook(id string) func() {
	h := fnv.New32a()
	h.Write([]byte(id))
	mu := &s.webhookLocks[h.Sum32()%uint32(len(s.webhookLocks))]
	mu.Lock()
	return mu.Unlock
}

// Enable re-enables a disabled webhook and clears its failure count; an
// enabled webhook is returned as it is.
func (s *Service) Enable(ctx context.Context, id string) (Webhook, error) {
	w, _, err := s.setDisabled(ctx, id, false, "", nil)
	return w, err
}

// Disable stops deliveries to a webhook: its events, queued ones and those
// waiting to retry included, are recorded as skipped until it is enabled
// again.
func (s *Service) Disable(ctx context.Context, id, reason string) (Webhook, error) {
	w, _, err := s.setDisabled(ctx, id, true, reason, nil)
	return w, err
}

// RotateSecret replaces a webhook's secret with newSecret, or a generated one
// when newSecret is empty. The old secret stays valid for the configured
// grace period: until then every request carries both signatures, so
// receivers can switch at their own pace. With MaxPreviousSecrets previous
// secrets still valid, it refuses with an error wrapping ErrTooManySecrets
// and changes nothing.
func (s *Service) RotateSecret(ctx context.Context, id, newSecret string) (Webhook, error) {
	defer s.lockWebhook(id)()
	if newSecret == "" {
		var err error
		if newSecret, err = GenerateSecret(); err != nil {
			return Webhook{}, err
		}
	}
	if _, err := ParseSecret(newSecret); err != nil {
		return Webhook{}, err
	}
	w, _, err := s.change(ctx, id, func(w Webhook) (Webhook, bool, error) {
		now := s.cfg.Now()
		kept := unexpired(w.PreviousSecrets, now)
		if len(kept) >= MaxPreviousSecrets {
			// Dropping a secret before it expires would break a receiver
			// that still holds it; the caller decides (Update can drop it).
			return Webhook{}, false, fmt.Errorf("webhooks: rotate secret of webhook %s: %w: %d still valid, the first expires at %s",
				id, ErrTooManySecrets, len(kept), earliestExpiry(kept).Format(time.RFC3339))
		}
		w.PreviousSecrets = append(kept, PreviousSecret{Secret: w.Secret, ExpiresAt: now.Add(s.cfg.SecretGracePeriod)})
		w.Secret = newSecret
		w.UpdatedAt = s.laterThan(w.UpdatedAt)
		return w, true, nil
	})
	if err != nil {
		return Webhook{}, err
	}
	s.refresh(ctx, w, false)
	return w, nil
}

// SendTestEvent sends a sample event of the webhook's type to it, once and
// without retries, and returns the result, as a settings page's "Test"
// button wants. It works on disabled webhooks too. Its attempt is recorded in
// the log under a delivery id starting with "dlv_test_"; it counts neither as
// a delivery nor toward disabling the webhook. Shutdown waits for it as for
// a delivery in flight, and cancels it when its own context ends first.
func (s *Service) SendTestEvent(ctx context.Context, id string) (SendResult, error) {
	if s.closed.Load() {
		return SendResult{}, ErrClosed
	}
	ctx, end, err := s.sched.beginTest(ctx)
	if err != nil {
		return SendResult{}, err
	}
	defer end()
	w, err := s.store.Get(ctx, id)
	if err != nil {
		return SendResult{}, err
	}
	e, err := SampleEvent(w.EventType)
	if err != nil {
		return SendResult{}, err
	}
	body, err := encodeEvent(e)
	if err != nil {
		return SendResult{}, err
	}
	t, err := NewTarget(w, s.cfg.Now())
	if err != nil {
		return SendResult{}, err
	}
	return s.sender.Send(ctx, SendRequest{
		Target:     t,
		EventID:    newID("evt_test_"),
		DeliveryID: newID("dlv_test_"),
		Payload:    body,
		NoRetry:    true,
		OnAttempt: func(a Attempt) {
			if lerr := s.log.RecordAttempt(context.WithoutCancel(ctx), a); lerr != nil {
				s.logger.Error("webhooks: record attempt", "delivery", a.DeliveryID, "error", lerr)
			}
		},
	})
}

// Redeliver queues a new delivery of a dead-lettered, skipped or undelivered
// delivery, with the same event id and body, and returns the new delivery's
// id. The webhook must be enabled, and be the one the delivery was made
// for: a delivery whose record names another webhook's CreatedAt (one
// deleted since, whose id this one took) is refused with
// ErrNotRedeliverable, as is one of an event type the webhook no longer
// takes. A record without WebhookCreatedAt (recorded before logs kept it)
// is refused if it was made before the webhook was created; unless this
// Service saw a webhook under the id deleted or replaced, "before" then
// allows a minute for replicas' clocks.
func (s *Service) Redeliver(ctx context.Context, deliveryID string) (string, error) {
	rec, err := s.log.Delivery(ctx, deliveryID)
	if err != nil {
		return "", err
	}
	return s.redeliver(ctx, rec)
}

// replicaClockSkew is how far apart two replicas' clocks may be, for
// Redeliver's comparison of a delivery's CreatedAt with its webhook's, when
// its record does not say which webhook it was made for.
const replicaClockSkew = time.Minute

// leeway is the leeway Redeliver allows for clocks, comparing the CreatedAt
// of a delivery to webhook id with the webhook's: none when this Service
// has seen a webhook under the id deleted or replaced (in the last ten
// minutes), whose deliveries it must tell from the new one's; otherwise
// replicaClockSkew, as the two times may come from two replicas' clocks.
func (s *Service) leeway(id string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.generations[id] > 0 {
		return 0
	}
	return replicaClockSkew
}

// RedeliverFailed redelivers, once per event, every event of a webhook whose
// latest delivery completed at or after since ended dead-lettered, skipped
// or undelivered and that has not been delivered since, and returns the new
// delivery ids. Deliveries Redeliver would refuse with ErrNotRedeliverable
// are passed over. Events whose redelivery is still running have no outcome
// yet: calling it again before those finish sends them again. An unknown
// webhook is ErrNotFound, a disabled one ErrWebhookDisabled.
func (s *Service) RedeliverFailed(ctx context.Context, webhookID string, since time.Time) ([]string, error) {
	if w, err := s.store.Get(ctx, webhookID); err != nil {
		return nil, err
	} else if w.Disabled {
		return nil, fmt.Errorf("%w: %s", ErrWebhookDisabled, w.ID)
	}
	// The log is read a page at a time, keeping of each event only the id
	// and outcome of its latest delivery: a long outage's dead letters,
	// each with its body, are never all in memory at once.
	type latest struct {
		id        string
		outcome   Outcome
		delivered bool // some delivery of the event succeeded
	}
	last := make(map[string]latest)
	var events []string
	at, after := since, "" // the last record read: its CompletedAt and ID
	for limit := redeliverPage; ; {
		recs, err := s.log.Deliveries(ctx, DeliveryQuery{WebhookID: webhookID, Since: at, Limit: limit})
		if err != nil {
			return nil, err
		}
		fresh := 0
		for _, r := range recs { // ordered by completion: the last one per event wins
			if after != "" && r.CompletedAt.Equal(at) && r.ID <= after {
				continue // read with the previous page
			}
			fresh++
			at, after = r.CompletedAt, r.ID
			l, seen := last[r.EventID]
			if !seen {
				events = append(events, r.EventID)
			}
			last[r.EventID] = latest{r.ID, r.Outcome, l.delivered || r.Outcome == OutcomeDelivered}
		}
		if len(recs) < limit {
			break
		}
		if fresh == 0 {
			limit *= 2 // a page's worth completed at one instant: read past it
		}
	}
	var ids []string
	for _, e := range events {
		l := last[e]
		if l.delivered || !slices.Contains(redeliverable, l.outcome) {
			continue
		}
		rec, err := s.log.Delivery(ctx, l.id)
		if errors.Is(err, ErrNotFound) {
			continue // dropped from the log since (a MemoryLog at capacity)
		}
		if err != nil {
			return ids, err
		}
		id, err := s.redeliver(ctx, rec)
		if errors.Is(err, ErrNotRedeliverable) {
			continue // for a deleted webhook, or of a type the webhook no longer takes
		}
		if err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// redeliverPage is how many deliveries RedeliverFailed reads from the log
// at a time.
const redeliverPage = 500

var redeliverable = []Outcome{OutcomeDeadLettered, OutcomeSkipped, OutcomeUndelivered}

func (s *Service) redeliver(ctx context.Context, rec DeliveryRecord) (string, error) {
	if s.closed.Load() {
		return "", ErrClosed
	}
	if !slices.Contains(redeliverable, rec.Outcome) {
		return "", fmt.Errorf("%w: delivery %s is %s", ErrNotRedeliverable, rec.ID, rec.Outcome)
	}
	w, err := s.store.Get(ctx, rec.WebhookID)
	if err != nil {
		return "", err
	}
	if w.Disabled {
		return "", fmt.Errorf("%w: %s", ErrWebhookDisabled, w.ID)
	}
	switch made := rec.WebhookCreatedAt; {
	case !made.IsZero() && !sameStamp(made, w.CreatedAt):
		// Made for a webhook deleted since, whose id this one took: its
		// receiver never had the event.
		return "", fmt.Errorf("%w: delivery %s was made for another webhook under id %s (created %s)",
			ErrNotRedeliverable, rec.ID, w.ID, made.UTC().Format(time.RFC3339Nano))
	case made.IsZero() && !rec.CreatedAt.IsZero() && rec.CreatedAt.Add(s.leeway(w.ID)).Before(w.CreatedAt):
		return "", fmt.Errorf("%w: delivery %s was made before webhook %s was created", ErrNotRedeliverable, rec.ID, w.ID)
	}
	if w.EventType != rec.EventType {
		// The webhook was changed, or re-created under its id, for
		// another type since: its receiver no longer expects this event.
		return "", fmt.Errorf("%w: delivery %s is a %s event, webhook %s now takes %s", ErrNotRedeliverable, rec.ID, rec.EventType, w.ID, w.EventType)
	}
	ep, err := s.endpoint(ctx, &w, s.cfg.Now())
	if err != nil {
		return "", err
	}
	d := newDelivery(rec.EventID, rec.EventType, rec.Payload, rec.OccurredAt, s.cfg.Now(), trace.SpanContext{}, ep)
	d.redeliveryOf = rec.ID
	d.webhookCreatedAt = w.CreatedAt
	if err := s.enqueue(ctx, d); err != nil {
		return "", err
	}
	return d.id, nil
}

// setDisabled flips a webhook's Disabled flag; changed reports whether it
// was different before. The engine passes concerns, which says whether the
// stored webhook is the one its deliveries' answers were about (not one
// moved to another URL, or created under the id since): it only disables
// that webhook, and only if enabled, so that one disabled already, by hand
// say, keeps its reason.
func (s *Service) setDisabled(ctx context.Context, id string, disabled bool, reason string, concerns func(Webhook) bool) (Webhook, bool, error) {
	defer s.lockWebhook(id)()
	engine := concerns != nil
	w, changed, err := s.change(ctx, id, func(w Webhook) (Webhook, bool, error) {
		if engine && !concerns(w) {
			return w, false, nil
		}
		if w.Disabled == disabled && (!disabled || engine || w.DisabledReason == reason) {
			return w, false, nil
		}
		w.Disabled, w.DisabledReason = disabled, reason
		if !disabled {
			w.DisabledReason = ""
		}
		w.UpdatedAt = s.laterThan(w.UpdatedAt)
		return w, true, nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return Webhook{}, false, err
	case err != nil:
		return Webhook{}, false, fmt.Errorf("webhooks: save webhook %s: %w", id, err)
	case !changed:
		// Changed already, by another replica, say: this engine may not
		// know yet, and its queued deliveries must see the stored version.
		s.refresh(ctx, w, false)
		return w, false, nil
	}
	s.refresh(ctx, w, !disabled)
	return w, true, nil
}

// refresh brings the engine state of w up to date at once, so deliveries
// already queued see a disable, enable or new secret. Only Enable (enabled)
// clears the run of consecutive dead letters that DisableAfter counts: an
// update or a rotation of a failing webhook does not.
func (s *Service) refresh(ctx context.Context, w Webhook, enabled bool) {
	s.mu.Lock()
	ep := s.endpoints[w.ID]
	s.mu.Unlock()
	if ep == nil {
		return
	}
	if enabled {
		ep.failures.Store(0)
	}
	if !w.Disabled {
		ep.failing.Store(false)
	}
	if _, err := s.endpoint(ctx, &w, s.cfg.Now()); err != nil {
		s.logger.Error("webhooks: prepare webhook", "webhook", w.ID, "error", err)
	}
}

// laterThan returns now, or a millisecond after prev when the clock has not
// moved past prev's millisecond, so every change gets an UpdatedAt of its
// own to the millisecond: a store keeping milliseconds must not merge two
// versions into one, or another replica, which compares versions by
// UpdatedAt, would keep the older one, and a copy of the older one would
// pass for the newer (Update).
func (s *Service) laterThan(prev time.Time) time.Time {
	now, floor := s.stamp(), prev.Truncate(stampPrecision).Add(stampPrecision)
	if now.Before(floor) {
		return floor
	}
	return now
}

// stamp returns the time of a change to a webhook: now, in whole
// milliseconds (stampPrecision).
func (s *Service) stamp() time.Time { return s.cfg.Now().Truncate(stampPrecision) }

// checkAddress refuses a valid URL whose host the sender would refuse to
// dial, when that is known without resolving it (an IP address, localhost):
// a FieldError for URL wrapping ErrAddressBlocked, rather than a webhook
// whose every delivery is dead-lettered.
func (s *Service) checkAddress(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil // Validate has reported it
	}
	if err := s.sender.policy.CheckHost(u.Hostname()); err != nil {
		return &FieldError{Field: "URL", Err: fmt.Errorf("%w; SenderConfig.AllowAddresses or AllowHosts can allow it", err)}
	}
	return nil
}

func (s *Service) validateOptions() ValidateOptions {
	return ValidateOptions{AllowHTTP: s.cfg.Sender.AllowHTTP}
}

// earliestExpiry returns the first time one of ps expires; ps is not empty.
func earliestExpiry(ps []PreviousSecret) time.Time {
	first := ps[0].ExpiresAt
	for _, p := range ps[1:] {
		if p.ExpiresAt.Before(first) {
			first = p.ExpiresAt
		}
	}
	return first
}

// unexpired returns the secrets of ps that have not expired by now, in a
// new slice, or nil if none has.
func unexpired(ps []PreviousSecret, now time.Time) []PreviousSecret {
	var kept []PreviousSecret
	for _, p := range ps {
		if now.Before(p.ExpiresAt) {
			kept = append(kept, p)
		}
	}
	return kept
}
