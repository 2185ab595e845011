package webhooks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Span attribute keys of deliver spans.
const (
	attrWebhookID   = attribute.Key("hookbus.webhook.id")
	attrWebhookName = attribute.Key("hookbus.webhook.name")
	attrEventID     = attribute.Key("hookbus.event.id")
	attrEventType   = attribute.Key("hookbus.event.type")
	attrDeliveryID  = attribute.Key("hookbus.delivery.id")
	attrAttempts    = attribute.Key("hookbus.delivery.attempts")
	attrOutcome     = attribute.Key("hookbus.delivery.outcome")
	attrStatusCode  = attribute.Key("http.response.status_code")
)

// deliverSpanOptions never change; sharing them saves allocations per delivery.
var deliverSpanOptions = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}

// deliver runs one delivery on a scheduler worker: sign, POST with retries,
// record every attempt and the outcome. ctx is cancelled only when Shutdown
// gives up waiting.
func (s *Service) deliver(ctx context.Context, d *delivery) {
	t, err := s.currentTarget(ctx, d)
	if err != nil {
		s.finish(recordContext(ctx), d, OutcomeSkipped, 0, 0, err)
		return
	}
	d.sentTo = t
	if d.parent.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, d.parent)
	}
	ctx, span := s.tracer.Start(ctx, t.spanName, deliverSpanOptions...)
	defer span.End()
	run := &deliveryRun{s: s, d: d}
	run.sendState = sendState{
		Context: ctx,
		req: SendRequest{
			Target:     t,
			EventID:    d.eventID,
			EventType:  d.eventType,
			DeliveryID: d.id,
			Payload:    d.payload,
		},
		observer: run,
	}
	res, err := s.sender.send(&run.sendState)
	var (
		outcome  = OutcomeDelivered
		attempts = res.Attempts
		status   = res.StatusCode
	)
	if err != nil {
		var de *DeliveryError
		if errors.As(err, &de) {
			attempts, status = de.Attempts, de.StatusCode
		}
		switch {
		case ctx.Err() != nil:
			outcome = OutcomeUndelivered
		case errors.Is(err, ErrPayloadTooLarge), errors.Is(err, ErrHTTPSRequired), errors.Is(err, ErrInvalidEventID):
			outcome = OutcomeRefused
		case errors.Is(err, ErrWebhookDisabled):
			// Disabled, deleted or changed between two attempts.
			outcome = OutcomeSkipped
		default:
			outcome = OutcomeDeadLettered
		}
		span.RecordError(err)
		span.SetStatus(codes.Error, string(outcome))
	}
	if d.sentTo != t {
		// Sent to a newer version of the webhook (updated between two
		// attempts): the span describes that one.
		t = d.sentTo
		span.SetName(t.spanName)
	}
	if span.IsRecording() {
		// All attributes in one call: the SDK grows the span's attribute
		// slice on every call, copying what the earlier ones set.
		span.SetAttributes(
			attrWebhookID.String(t.webhook.ID),
			attrWebhookName.String(t.webhook.Name),
			attrEventID.String(d.eventID),
			attrEventType.String(string(d.eventType)),
			attrDeliveryID.String(d.id),
			attrAttempts.Int(attempts),
			attrOutcome.String(string(outcome)),
			attrStatusCode.Int(status),
		)
	}
	var last *Attempt
	if run.hasFinal {
		last = &run.final
	}
	s.finishAfter(recordContext(ctx), d, last, outcome, attempts, status, err)
}

// currentTarget returns the target d goes to now, its webhook's latest
// version as this engine knows it, or an error wrapping ErrWebhookDisabled
// when d is to be skipped: its webhook was disabled or deleted, replaced by
// another one under its id, or changed to another event type. It is asked
// before the first attempt and before every retry, so that a change that
// has returned (a new URL, secret or header, Delete, Disable) holds for the
// attempts made after it.
func (s *Service) currentTarget(ctx context.Context, d *delivery) (*Target, error) {
	s.recheck(ctx, d.ep)
	t := d.ep.target.Load()
	if !t.validUntil.IsZero() && !d.ep.deleted.Load() {
		// A previous secret signs only until its grace period ends: a
		// delivery queued before then gets a target without it. Its own
		// endpoint is rebuilt, not whatever the id now maps to.
		if now := s.cfg.Now(); !now.Before(t.validUntil) {
			w := t.webhook
			if d.ep.update(&w, now) == nil {
				t = d.ep.target.Load()
			}
		}
	}
	switch {
	case d.ep.deleted.Load():
		return nil, fmt.Errorf("%w: the webhook was deleted", ErrWebhookDisabled)
	case d.ep.disabled.Load():
		if t.webhook.Disabled && t.webhook.DisabledReason != "" {
			return nil, fmt.Errorf("%w: %s", ErrWebhookDisabled, t.webhook.DisabledReason)
		}
		return nil, ErrWebhookDisabled
	case !t.webhook.CreatedAt.Equal(d.webhookCreatedAt):
		// Queued for a webhook that another one under its id has replaced
		// (deleted and created again through another replica, say): not
		// for the other one's receiver.
		return nil, fmt.Errorf("%w: replaced by another webhook under its id", ErrWebhookDisabled)
	case t.webhook.EventType != d.eventType:
		// Its receiver no longer expects the event, as Redeliver says.
		return nil, fmt.Errorf("%w: the webhook now takes %s events, not %s", ErrWebhookDisabled, t.webhook.EventType, d.eventType)
	}
	return t, nil
}

// recheck reads ep's webhook from the store again if this Service last
// read it longer than RecheckAfter ago, and brings the engine to what the
// store says (see arbitrate): a webhook deleted, disabled or changed through
// another replica. One delivery of the webhook reads, the others go on with
// what the engine knows; so do all if the store fails.
func (s *Service) recheck(ctx context.Context, ep *endpoint) {
	if s.cfg.RecheckAfter < 0 || ep.deleted.Load() {
		return
	}
	now := s.cfg.Now()
	last := ep.read.Load()
	if now.UnixNano()-last < int64(s.cfg.RecheckAfter) || !ep.read.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	w := ep.target.Load().webhook
	if _, err := s.arbitrate(ctx, &w, now); err != nil {
		s.logger.Debug("webhooks: read webhook again", "webhook", w.ID, "error", err)
	}
}

// retarget implements retargeter: the delivery's current target, which
// its next attempt goes to, or why there is none.
func (r *deliveryRun) retarget() (*Target, error) {
	t, err := r.s.currentTarget(r.Context, r.d)
	if err == nil {
		r.d.sentTo = t
	}
	return t, err
}

// deliveryRun is one run of a delivery: the sender's state (whose context is
// the deliver span's) and what recording its attempts needs, in one
// allocation.
type deliveryRun struct {
	sendState
	s *Service
	d *delivery

	// final is a successful attempt, which ends the delivery: with a log that
	// is an OutcomeRecorder it is recorded with the outcome, in one step.
	final    Attempt
	hasFinal bool
}

// observeAttempt records an attempt and updates the webhook's health.
func (r *deliveryRun) observeAttempt(a Attempt) {
	s, ctx := r.s, r.Context
	failed := a.Error != ""
	if r.d.ep.failing.Swap(failed) != failed && failed {
		s.sched.recheck() // a dispatcher may be waiting on this webhook's full queue
	}
	s.meters.recordAttempt(ctx, a.StatusCode, a.Duration)
	if r.hasFinal {
		// A retry policy retried a success: that attempt was not the last.
		r.hasFinal = false
		if lerr := s.log.RecordAttempt(recordContext(ctx), r.final); lerr != nil {
			s.logger.Error("webhooks: record attempt", "delivery", r.final.DeliveryID, "error", lerr)
		}
	}
	if !failed && s.final != nil {
		r.final, r.hasFinal = a, true
		return
	}
	if lerr := s.log.RecordAttempt(recordContext(ctx), a); lerr != nil {
		s.logger.Error("webhooks: record attempt", "delivery", a.DeliveryID, "error", lerr)
	}
}

// recordContext returns ctx for writing records, detached from cancellation
// once a hard stop has cancelled it: what happened must still go on record.
func recordContext(ctx context.Context) context.Context {
	if ctx.Err() != nil {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// finish records d's outcome, updates the webhook's health and calls hooks.
func (s *Service) finish(ctx context.Context, d *delivery, o Outcome, attempts, status int, err error) {
	s.finishAfter(ctx, d, nil, o, attempts, status, err)
}

// finishAfter is finish for a delivery whose last attempt, when not nil, is
// still to be recorded: with the outcome, through s.final.
func (s *Service) finishAfter(ctx context.Context, d *delivery, last *Attempt, o Outcome, attempts, status int, err error) {
	rec := DeliveryRecord{
		ID:               d.id,
		EventID:          d.eventID,
		EventType:        d.eventType,
		WebhookID:        d.webhookID(),
		WebhookCreatedAt: d.webhookCreatedAt,
		Outcome:          o,
		Attempts:         attempts,
		StatusCode:       status,
		OccurredAt:       d.occurredAt,
		CreatedAt:        d.createdAt,
		CompletedAt:      s.cfg.Now(),
		RedeliveryOf:     d.redeliveryOf,
	}
	if o != OutcomeDelivered {
		rec.Payload = d.payload
		if err != nil {
			rec.Error = err.Error()
		}
	}
	lerr := s.recordOutcome(ctx, last, rec)
	if lerr != nil {
		s.logger.Error("webhooks: record delivery", "delivery", rec.ID, "error", lerr)
	}
	s.meters.recordOutcome(ctx, o)
	if d.done != nil {
		d.done(rec, lerr)
	}
	switch o {
	case OutcomeDelivered:
		d.ep.failures.Store(0)
	case OutcomeDeadLettered:
		s.deadLettered(ctx, d, rec, status, err)
	}
}

// recordRetries are the pauses before each new try of an outcome's write
// that failed: a dropped connection or a database failing over should not
// leave a delivery off the record, where nothing could redeliver it.
var recordRetries = [...]time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second}

// recordOutcome writes rec, with its last attempt if not nil, trying again
// after an error that may pass until ctx ends (Shutdown gives up). After a
// hard stop, when ctx no longer ends, it tries once. ErrConflict on a new
// try means an earlier one was written after all.
func (s *Service) recordOutcome(ctx context.Context, last *Attempt, rec DeliveryRecord) error {
	for try := 0; ; try++ {
		var err error
		if last != nil {
			err = s.final.RecordOutcome(ctx, *last, rec)
		} else {
			err = s.log.RecordDelivery(ctx, rec)
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrConflict) && try > 0:
			return nil
		case errors.Is(err, ErrConflict), errors.Is(err, ErrInvalidLogEntry),
			try == len(recordRetries), ctx.Done() == nil, ctx.Err() != nil:
			return err
		}
		s.logger.Warn("webhooks: record delivery, trying again", "delivery", rec.ID, "error", err, "after", recordRetries[try])
		t := time.NewTimer(recordRetries[try])
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// deadLettered reports a dead letter and disables a webhook that answered
// 410 Gone or failed DisableAfter times in a row.
func (s *Service) deadLettered(ctx context.Context, d *delivery, rec DeliveryRecord, status int, err error) {
	s.logger.Warn("webhooks: delivery dead-lettered", "delivery", rec.ID, "webhook", rec.WebhookID,
		"event", rec.EventID, "attempts", rec.Attempts, "status", status)
	if s.cfg.OnDeadLetter != nil {
		notify(s, "OnDeadLetter", s.cfg.OnDeadLetter, DeadLetterParams{Delivery: rec, Webhook: d.ep.target.Load().Webhook(), Err: err}, rec.WebhookID)
	}
	n := d.ep.failures.Add(1)
	if d.ep.deleted.Load() {
		// The webhook was deleted meanwhile: its answer says nothing of a
		// webhook created since under the same id.
		return
	}
	// Only the webhook the answers came from, as stored now: not one moved
	// to another URL while the delivery was in flight, or created under the
	// id since (through another replica, say, which this engine may not
	// know of yet).
	concerns := func(cur Webhook) bool {
		if !cur.CreatedAt.Equal(d.webhookCreatedAt) {
			return false
		}
		u, err := url.Parse(cur.URL)
		return err == nil && d.sentTo != nil && sameAddress(u, d.sentTo.url)
	}
	switch {
	case errors.Is(err, ErrGone):
		s.disableFor(ctx, rec.WebhookID, DisabledGone, err, concerns)
	case s.cfg.DisableAfter > 0 && int(n) >= s.cfg.DisableAfter:
		s.disableFor(ctx, rec.WebhookID, DisabledFailing, fmt.Errorf("%d consecutive dead letters: %w", n, err), concerns)
	}
}

// disableFor disables a webhook on the engine's initiative, if concerns
// says it is the one the answers were about, and reports it.
func (s *Service) disableFor(ctx context.Context, id, reason string, cause error, concerns func(Webhook) bool) {
	w, changed, err := s.setDisabled(ctx, id, true, reason, concerns)
	if err != nil {
		s.logger.Error("webhooks: disable webhook", "webhook", id, "error", err)
		return
	}
	if !changed {
		return
	}
	s.logger.Warn("webhooks: webhook disabled", "webhook", id, "reason", reason)
	s.meters.recordDisabled(ctx, reason)
	if s.cfg.OnDisabled != nil {
		notify(s, "OnDisabled", s.cfg.OnDisabled, DisabledParams{Webhook: w, Reason: reason, Err: cause}, id)
	}
}

// notify calls the host's hook named name with p. A panic in it is
// recovered and logged, with the webhook's id: a broken hook must not take
// the delivery worker, and with it the process and the deliveries queued in
// memory, down.
func notify[P any](s *Service, name string, hook func(P), p P, webhookID string) {
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("webhooks: "+name+" panicked", "webhook", webhookID, "panic", r)
		}
	}()
	hook(p)
}

func (d *delivery) webhookID() string { return d.ep.target.Load().webhook.ID }

// sameAddress reports whether requests to a and b go to the same resource:
// same scheme, host (in any case, the default port spelt or not), path and
// query.
func sameAddress(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(hostPort(a), hostPort(b)) &&
		cmp.Or(a.EscapedPath(), "/") == cmp.Or(b.EscapedPath(), "/") && a.RawQuery == b.RawQuery
}

// hostPort returns u's host with its port, the scheme's default if none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return u.Host + ":443"
	case "http":
		return u.Host + ":80"
	}
	return u.Host
}
