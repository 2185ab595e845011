package webhookstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// TestDeliveryLog checks that a webhooks.DeliveryLog behaves as the interface
// documents: the round trip of every field of records and attempts, the
// order of attempts, ErrConflict on a second outcome for a delivery, the
// first attempt of a number kept,
// ErrNotFound, refusal of invalid entries and queries, every filter of
// Deliveries alone and combined with its order and limit, isolation of the
// values returned, concurrent recording (run it with -race) and cancelled
// contexts. A log that is also a webhooks.OutcomeRecorder has RecordOutcome
// checked against RecordAttempt followed by RecordDelivery.
//
// newLog must return a new, empty log each time it is called; it may
// register cleanup with t.Cleanup. One log receives at most 1,600 deliveries
// and 3,200 attempts, so a bounded log conforms if it keeps that many. The
// times the suite records are whole microseconds in UTC and durations whole
// microseconds, so a log backed by a database with microsecond precision
// conforms; times are compared with time.Time.Equal. A nil slice and an empty
// one are considered equal. The payload of delivered records is not checked:
// a log may drop it.
func TestDeliveryLog(t *testing.T, newLog func(t *testing.T) webhooks.DeliveryLog) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, l webhooks.DeliveryLog)
	}{
		{"RoundTrip", testLogRoundTrip},
		{"AttemptsOrdered", testLogAttemptsOrdered},
		{"DuplicateDelivery", testLogDuplicateDelivery},
		{"DuplicateAttempt", testLogDuplicateAttempt},
		{"NotFound", testLogNotFound},
		{"InvalidEntries", testLogInvalidEntries},
		{"Query", testLogQuery},
		{"InvalidQuery", testLogInvalidQuery},
		{"ReturnsCopies", testLogReturnsCopies},
		{"Concurrent", testLogConcurrent},
		{"CancelledContext", testLogCancelledContext},
		{"RecordOutcome", testLogRecordOutcome},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newLog(t))
		})
	}
}

// logTime returns a fixed instant plus the given minutes, in whole
// microseconds.
func logTime(minutes int) time.Time {
	return time.Date(2025, time.June, 2, 9, 30, 0, 654321000, time.UTC).Add(time.Duration(minutes) * time.Minute)
}

// logRecord returns a delivery record with every field but RedeliveryOf set,
// completed at logTime(minute).
func logRecord(id, webhookID, eventID string, o webhooks.Outcome, minute int) webhooks.DeliveryRecord {
	completed := logTime(minute)
	d := webhooks.DeliveryRecord{
		ID:               id,
		EventID:          eventID,
		EventType:        webhooks.MeetingStatusChangedEvent,
		WebhookID:        webhookID,
		WebhookCreatedAt: completed.Add(-time.Hour),
		Outcome:          o,
		Attempts:         4,
		StatusCode:       503,
		Error:            "webhooks: unexpected status: status 503",
		Payload:          []byte(`{"meetingId":"m-` + id + `","status":"meeting_summary_done"}`),
		OccurredAt:       completed.Add(-2 * time.Minute),
		CreatedAt:        completed.Add(-time.Minute),
		CompletedAt:      completed,
	}
	switch o {
	case webhooks.OutcomeDelivered:
		d.Attempts, d.StatusCode, d.Error = 1, 200, ""
	case webhooks.OutcomeRefused:
		d.Attempts, d.StatusCode, d.Error = 0, 0, "webhooks: payload too large"
	case webhooks.OutcomeSkipped:
		d.Attempts, d.StatusCode, d.Error = 0, 0, "webhook disabled"
	}
	return d
}

// logAttempt returns attempt n of the delivery, with every field set.
func logAttempt(deliveryID string, n int) webhooks.Attempt {
	return webhooks.Attempt{
		DeliveryID:   deliveryID,
		EventID:      "evt-" + deliveryID,
		WebhookID:    "wh-" + deliveryID,
		Number:       n,
		StartedAt:    logTime(n),
		Duration:     1500*time.Millisecond + time.Duration(n)*time.Microsecond,
		StatusCode:   500 + n,
		Error:        fmt.Sprintf("webhooks: unexpected status: status %d", 500+n),
		ResponseBody: []byte(fmt.Sprintf(`{"error":"attempt %d"}`, n)),
	}
}

func testLogRoundTrip(t *testing.T, l webhooks.DeliveryLog) {
	ctx := t.Context()
	outcomes := []webhooks.Outcome{
		webhooks.OutcomeDelivered, webhooks.OutcomeDeadLettered, webhooks.OutcomeRefused,
		webhooks.OutcomeSkipped, webhooks.OutcomeUndelivered,
	}
	for i, o := range outcomes {
		want := logRecord(fmt.Sprintf("dlv-%d", i), "wh-1", fmt.Sprintf("evt-%d", i), o, i)
		want.EventType = webhooks.EventTypes()[i%len(webhooks.EventTypes())]
		if i > 0 {
			want.RedeliveryOf = "dlv-0"
		}
		if i == 2 {
			want.WebhookCreatedAt = time.Time{} // not known: stays zero
		}
		mustRecordDelivery(t, l, want)

		got, err := l.Delivery(ctx, want.ID)
		if err != nil {
			t.Fatalf("Delivery(%q) = %v", want.ID, err)
		}
		assertRecordEqual(t, "Delivery "+want.ID, want, got)

		list, err := l.Deliveries(ctx, webhooks.DeliveryQuery{EventID: want.EventID})
		if err != nil {
			t.Fatalf("Deliveries(EventID %q) = %v", want.EventID, err)
		}
		if len(list) != 1 {
			t.Fatalf("Deliveries(EventID %q) returned %d records, want 1", want.EventID, len(list))
		}
		assertRecordEqual(t, "Deliveries "+want.ID, want, list[0])
	}

	// An attempt and a minimal one (no response: status 0, no body).
	full := logAttempt("dlv-1", 1)
	minimal := webhooks.Attempt{DeliveryID: "dlv-1", Number: 2, StartedAt: logTime(3), Error: "dial tcp: connection refused"}
	mustRecordAttempt(t, l, full)
	mustRecordAttempt(t, l, minimal)
	got := mustAttempts(t, l, "dlv-1")
	if len(got) != 2 {
		t.Fatalf("Attempts(dlv-1) returned %d attempts, want 2", len(got))
	}
	assertAttemptEqual(t, "Attempts(dlv-1)[0]", full, got[0])
	assertAttemptEqual(t, "Attempts(dlv-1)[1]", minimal, got[1])
}

func testLogAttemptsOrdered(t *testing.T, l webhooks.DeliveryLog) {
	// Out of order, interleaved with another delivery, before and after the
	// outcome.
	mustRecordAttempt(t, l, logAttempt("dlv-1", 2))
	mustRecordAttempt(t, l, logAttempt("dlv-2", 1))
	mustRecordAttempt(t, l, logAttempt("dlv-1", 3))
	mustRecordAttempt(t, l, logAttempt("dlv-1", 1))
	mustRecordDelivery(t, l, logRecord("dlv-1", "wh-1", "evt-1", webhooks.OutcomeDeadLettered, 0))
	mustRecordAttempt(t, l, logAttempt("dlv-1", 4))

	assertAttemptNumbers(t, "Attempts(dlv-1)", mustAttempts(t, l, "dlv-1"), 1, 2, 3, 4)
	assertAttemptNumbers(t, "Attempts(dlv-2), a delivery without outcome", mustAttempts(t, l, "dlv-2"), 1)
	assertAttemptNumbers(t, "Attempts(unknown)", mustAttempts(t, l, "unknown"))
}

func testLogDuplicateDelivery(t *testing.T, l webhooks.DeliveryLog) {
	ctx := t.Context()
	first := logRecord("dlv-1", "wh-1", "evt-1", webhooks.OutcomeDeadLettered, 0)
	mustRecordDelivery(t, l, first)

	second := logRecord("dlv-1", "wh-2", "evt-2", webhooks.OutcomeDelivered, 1)
	if err := l.RecordDelivery(ctx, second); !errors.Is(err, webhooks.ErrConflict) {
		t.Fatalf("RecordDelivery with a recorded id = %v, want ErrConflict", err)
	}
	got, err := l.Delivery(ctx, first.ID)
	if err != nil {
		t.Fatalf("Delivery(%q) = %v", first.ID, err)
	}
	assertRecordEqual(t, "Delivery after conflict", first, got)
	assertRecordIDs(t, "Deliveries after conflict", mustDeliveries(t, l, webhooks.DeliveryQuery{}), "dlv-1")
	for _, q := range []webhooks.DeliveryQuery{
		{WebhookID: second.WebhookID},
		{EventID: second.EventID},
		{Outcome: second.Outcome},
	} {
		assertRecordIDs(t, fmt.Sprintf("Deliveries(%+v) after conflict", q), mustDeliveries(t, l, q))
	}
}

func testLogDuplicateAttempt(t *testing.T, l webhooks.DeliveryLog) {
	ctx := t.Context()
	again := func(a webhooks.Attempt) webhooks.Attempt {
		a.StatusCode, a.Error, a.ResponseBody = 200, "", []byte("again")
		a.Duration += time.Millisecond
		return a
	}
	// Before and after the outcome.
	first := logAttempt("dlv-1", 1)
	mustRecordAttempt(t, l, first)
	mustRecordAttempt(t, l, again(first))
	mustRecordDelivery(t, l, logRecord("dlv-1", "wh-dlv-1", "evt-dlv-1", webhooks.OutcomeDeadLettered, 0))
	mustRecordAttempt(t, l, again(first))
	second := logAttempt("dlv-1", 2)
	mustRecordAttempt(t, l, second)
	mustRecordAttempt(t, l, again(second))
	got := mustAttempts(t, l, "dlv-1")
	assertAttemptNumbers(t, "Attempts(dlv-1) with numbers recorded twice", got, 1, 2)
	if len(got) == 2 {
		assertAttemptEqual(t, "attempt 1 recorded twice", first, got[0])
		assertAttemptEqual(t, "attempt 2 recorded twice", second, got[1])
	}

	// A delivery with one successful attempt, the shape a compact log may
	// keep in less room, then that attempt again.
	ok := logAttempt("dlv-2", 1)
	ok.StatusCode, ok.Error, ok.ResponseBody = 204, "", nil
	mustRecordDelivery(t, l, logRecord("dlv-2", "wh-dlv-2", "evt-dlv-2", webhooks.OutcomeDelivered, 1))
	mustRecordAttempt(t, l, ok)
	mustRecordAttempt(t, l, again(ok))
	got = mustAttempts(t, l, "dlv-2")
	assertAttemptNumbers(t, "Attempts(dlv-2) with its attempt recorded twice", got, 1)
	if len(got) == 1 {
		assertAttemptEqual(t, "attempt recorded twice", ok, got[0])
	}

	r, isRecorder := l.(webhooks.OutcomeRecorder)
	if !isRecorder {
		return
	}
	// RecordOutcome with a last attempt of a number already recorded.
	pending := logAttempt("dlv-3", 1)
	mustRecordAttempt(t, l, pending)
	d := logRecord("dlv-3", "wh-dlv-3", "evt-dlv-3", webhooks.OutcomeDelivered, 2)
	d.Attempts = 1
	if err := r.RecordOutcome(ctx, again(pending), d); err != nil {
		t.Fatalf("RecordOutcome with a last attempt of a recorded number = %v", err)
	}
	got = mustAttempts(t, l, "dlv-3")
	assertAttemptNumbers(t, "Attempts(dlv-3) after RecordOutcome", got, 1)
	if len(got) == 1 {
		assertAttemptEqual(t, "attempt recorded before RecordOutcome", pending, got[0])
	}
	if _, err := l.Delivery(ctx, "dlv-3"); err != nil {
		t.Errorf("Delivery(dlv-3) after RecordOutcome = %v", err)
	}
}

func testLogRecordOutcome(t *testing.T, l webhooks.DeliveryLog) {
	r, ok := l.(webhooks.OutcomeRecorder)
	if !ok {
		t.Skip("the log is not a webhooks.OutcomeRecorder")
	}
	ctx := t.Context()
	mustRecordAttempt(t, l, logAttempt("dlv-1", 1))
	mustRecordAttempt(t, l, logAttempt("dlv-1", 2))
	want := logRecord("dlv-1", "wh-dlv-1", "evt-dlv-1", webhooks.OutcomeDelivered, 5)
	want.Attempts = 3
	last := logAttempt("dlv-1", 3)
	last.StatusCode, last.Error = 204, ""
	if err := r.RecordOutcome(ctx, last, want); err != nil {
		t.Fatalf("RecordOutcome = %v", err)
	}
	got, err := l.Delivery(ctx, want.ID)
	if err != nil {
		t.Fatalf("Delivery(%q) = %v", want.ID, err)
	}
	assertRecordEqual(t, "Delivery after RecordOutcome", want, got)
	attempts := mustAttempts(t, l, want.ID)
	assertAttemptNumbers(t, "Attempts after RecordOutcome", attempts, 1, 2, 3)
	if len(attempts) == 3 {
		assertAttemptEqual(t, "last attempt", last, attempts[2])
	}

	// A second outcome for the delivery records neither part.
	again := logRecord("dlv-1", "wh-2", "evt-2", webhooks.OutcomeDeadLettered, 6)
	if err := r.RecordOutcome(ctx, logAttempt("dlv-1", 4), again); !errors.Is(err, webhooks.ErrConflict) {
		t.Errorf("RecordOutcome for a recorded delivery = %v, want ErrConflict", err)
	}
	assertAttemptNumbers(t, "Attempts after a conflicting RecordOutcome", mustAttempts(t, l, want.ID), 1, 2, 3)
	assertRecordIDs(t, "Deliveries after a conflicting RecordOutcome", mustDeliveries(t, l, webhooks.DeliveryQuery{}), "dlv-1")

	// An attempt of another delivery is refused, and nothing is recorded.
	other := logRecord("dlv-2", "wh-1", "evt-2", webhooks.OutcomeDelivered, 7)
	if err := r.RecordOutcome(ctx, logAttempt("dlv-3", 1), other); !errors.Is(err, webhooks.ErrInvalidLogEntry) {
		t.Errorf("RecordOutcome with an attempt of another delivery = %v, want ErrInvalidLogEntry", err)
	}
	if _, err := l.Delivery(ctx, "dlv-2"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Delivery(dlv-2) after a refused RecordOutcome = %v, want ErrNotFound", err)
	}
	assertAttemptNumbers(t, "Attempts of dlv-3 after a refused RecordOutcome", mustAttempts(t, l, "dlv-3"))
}

func testLogNotFound(t *testing.T, l webhooks.DeliveryLog) {
	ctx := t.Context()
	if _, err := l.Delivery(ctx, "missing"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Delivery(missing) on an empty log = %v, want ErrNotFound", err)
	}
	mustRecordDelivery(t, l, logRecord("dlv-1", "wh-1", "evt-1", webhooks.OutcomeDelivered, 0))
	mustRecordAttempt(t, l, logAttempt("dlv-2", 1)) // attempts alone make no delivery
	for _, id := range []string{"missing", "dlv-2", ""} {
		if _, err := l.Delivery(ctx, id); !errors.Is(err, webhooks.ErrNotFound) {
			t.Errorf("Delivery(%q) = %v, want ErrNotFound", id, err)
		}
	}
	// Ids no record can have (a NUL byte, invalid UTF-8: a database refuses
	// them as text) are not found either, rather than a storage error.
	for _, id := range []string{"dlv-\x00", "dlv-\xff"} {
		if _, err := l.Delivery(ctx, id); !errors.Is(err, webhooks.ErrNotFound) {
			t.Errorf("Delivery(%q) = %v, want ErrNotFound", id, err)
		}
		if got, err := l.Attempts(ctx, id); err != nil || len(got) != 0 {
			t.Errorf("Attempts(%q) = %v, %v; want none", id, got, err)
		}
		for _, q := range []webhooks.DeliveryQuery{{WebhookID: id}, {EventID: id}} {
			if got, err := l.Deliveries(ctx, q); err != nil || len(got) != 0 {
				t.Errorf("Deliveries(%+v) = %v, %v; want none", q, got, err)
			}
		}
	}
}

func testLogInvalidEntries(t *testing.T, l webhooks.DeliveryLog) {
	ctx := t.Context()
	records := []struct {
		name   string
		change func(d *webhooks.DeliveryRecord)
		want   []error
	}{
		{"no id", func(d *webhooks.DeliveryRecord) { d.ID = "" }, []error{webhooks.ErrInvalidLogEntry}},
		{"no outcome", func(d *webhooks.DeliveryRecord) { d.Outcome = "" },
			[]error{webhooks.ErrInvalidLogEntry, webhooks.ErrUnknownOutcome}},
		{"unknown outcome", func(d *webhooks.DeliveryRecord) { d.Outcome = "Delivered" },
			[]error{webhooks.ErrInvalidLogEntry, webhooks.ErrUnknownOutcome}},
	}
	for _, tc := range records {
		d := logRecord("dlv-1", "wh-1", "evt-1", webhooks.OutcomeDeadLettered, 0)
		tc.change(&d)
		err := l.RecordDelivery(ctx, d)
		for _, want := range tc.want {
			if !errors.Is(err, want) {
				t.Errorf("RecordDelivery with %s = %v, want an error matching %v", tc.name, err, want)
			}
		}
	}
	attempts := []struct {
		name   string
		change func(a *webhooks.Attempt)
	}{
		{"no delivery id", func(a *webhooks.Attempt) { a.DeliveryID = "" }},
		{"number 0", func(a *webhooks.Attempt) { a.Number = 0 }},
		{"negative number", func(a *webhooks.Attempt) { a.Number = -1 }},
	}
	for _, tc := range attempts {
		a := logAttempt("dlv-1", 1)
		tc.change(&a)
		if err := l.RecordAttempt(ctx, a); !errors.Is(err, webhooks.ErrInvalidLogEntry) {
			t.Errorf("RecordAttempt with %s = %v, want ErrInvalidLogEntry", tc.name, err)
		}
	}
	assertRecordIDs(t, "Deliveries after invalid entries", mustDeliveries(t, l, webhooks.DeliveryQuery{}))
	assertAttemptNumbers(t, "Attempts(dlv-1) after invalid entries", mustAttempts(t, l, "dlv-1"))
	assertAttemptNumbers(t, "Attempts(\"\") after invalid entries", mustAttempts(t, l, ""))

	// The valid values the cases start from are recorded.
	mustRecordDelivery(t, l, logRecord("dlv-1", "wh-1", "evt-1", webhooks.OutcomeDeadLettered, 0))
	mustRecordAttempt(t, l, logAttempt("dlv-1", 1))
}

// recordQueryFixtures records ten deliveries out of order. Ordered by
// completion their ids are dlv-01 to dlv-10; dlv-05 and dlv-06 complete at
// the same instant.
func recordQueryFixtures(t *testing.T, l webhooks.DeliveryLog) {
	t.Helper()
	d := webhooks.OutcomeDelivered
	dl := webhooks.OutcomeDeadLettered
	fixtures := []webhooks.DeliveryRecord{
		logRecord("dlv-07", "wh-c", "evt-3", webhooks.OutcomeUndelivered, 6),
		logRecord("dlv-02", "wh-b", "evt-1", dl, 2),
		logRecord("dlv-10", "wh-a", "evt-1", webhooks.OutcomeSkipped, 9),
		logRecord("dlv-06", "wh-a", "evt-2", d, 5),
		logRecord("dlv-01", "wh-a", "evt-1", d, 1),
		logRecord("dlv-09", "wh-b", "evt-3", d, 8),
		logRecord("dlv-05", "wh-b", "evt-2", webhooks.OutcomeSkipped, 5),
		logRecord("dlv-03", "wh-c", "evt-1", webhooks.OutcomeRefused, 3),
		logRecord("dlv-08", "wh-a", "evt-3", dl, 7),
		logRecord("dlv-04", "wh-a", "evt-2", dl, 4),
	}
	for _, f := range fixtures {
		mustRecordDelivery(t, l, f)
	}
}

func testLogQuery(t *testing.T, l webhooks.DeliveryLog) {
	recordQueryFixtures(t, l)
	dl := webhooks.OutcomeDeadLettered
	tests := []struct {
		name   string
		change func(q *webhooks.DeliveryQuery)
		want   []string
	}{
		{"zero", func(*webhooks.DeliveryQuery) {},
			[]string{"dlv-01", "dlv-02", "dlv-03", "dlv-04", "dlv-05", "dlv-06", "dlv-07", "dlv-08", "dlv-09", "dlv-10"}},
		{"webhook", func(q *webhooks.DeliveryQuery) { q.WebhookID = "wh-a" },
			[]string{"dlv-01", "dlv-04", "dlv-06", "dlv-08", "dlv-10"}},
		{"unknown webhook", func(q *webhooks.DeliveryQuery) { q.WebhookID = "wh-x" }, nil},
		{"event", func(q *webhooks.DeliveryQuery) { q.EventID = "evt-2" },
			[]string{"dlv-04", "dlv-05", "dlv-06"}},
		{"unknown event", func(q *webhooks.DeliveryQuery) { q.EventID = "evt-x" }, nil},
		{"outcome", func(q *webhooks.DeliveryQuery) { q.Outcome = dl },
			[]string{"dlv-02", "dlv-04", "dlv-08"}},
		{"outcome without deliveries", func(q *webhooks.DeliveryQuery) { q.EventID = "evt-3"; q.Outcome = webhooks.OutcomeRefused }, nil},
		{"one of outcomes", func(q *webhooks.DeliveryQuery) { q.Outcomes = []webhooks.Outcome{dl} },
			[]string{"dlv-02", "dlv-04", "dlv-08"}},
		{"outcomes", func(q *webhooks.DeliveryQuery) {
			q.Outcomes = []webhooks.Outcome{webhooks.OutcomeUndelivered, webhooks.OutcomeSkipped}
		}, []string{"dlv-05", "dlv-07", "dlv-10"}},
		{"outcomes repeated", func(q *webhooks.DeliveryQuery) {
			q.Outcomes = []webhooks.Outcome{webhooks.OutcomeRefused, webhooks.OutcomeRefused}
		}, []string{"dlv-03"}},
		{"since an instant of completion", func(q *webhooks.DeliveryQuery) { q.Since = logTime(5) },
			[]string{"dlv-05", "dlv-06", "dlv-07", "dlv-08", "dlv-09", "dlv-10"}},
		{"since in another zone", func(q *webhooks.DeliveryQuery) { q.Since = logTime(5).In(time.FixedZone("UTC+2", 2*3600)) },
			[]string{"dlv-05", "dlv-06", "dlv-07", "dlv-08", "dlv-09", "dlv-10"}},
		{"since just after", func(q *webhooks.DeliveryQuery) { q.Since = logTime(5).Add(time.Microsecond) },
			[]string{"dlv-07", "dlv-08", "dlv-09", "dlv-10"}},
		{"since after all", func(q *webhooks.DeliveryQuery) { q.Since = logTime(60) }, nil},
		{"limit", func(q *webhooks.DeliveryQuery) { q.Limit = 3 },
			[]string{"dlv-01", "dlv-02", "dlv-03"}},
		{"limit above the matches", func(q *webhooks.DeliveryQuery) { q.Limit = 11 },
			[]string{"dlv-01", "dlv-02", "dlv-03", "dlv-04", "dlv-05", "dlv-06", "dlv-07", "dlv-08", "dlv-09", "dlv-10"}},
		{"webhook and outcome", func(q *webhooks.DeliveryQuery) { q.WebhookID = "wh-a"; q.Outcome = dl },
			[]string{"dlv-04", "dlv-08"}},
		{"webhook and event", func(q *webhooks.DeliveryQuery) { q.WebhookID = "wh-a"; q.EventID = "evt-1" },
			[]string{"dlv-01", "dlv-10"}},
		{"webhook and event without deliveries", func(q *webhooks.DeliveryQuery) { q.WebhookID = "wh-c"; q.EventID = "evt-2" }, nil},
		{"webhook, event and outcome", func(q *webhooks.DeliveryQuery) {
			q.WebhookID, q.EventID, q.Outcome = "wh-b", "evt-1", dl
		}, []string{"dlv-02"}},
		{"event and outcomes", func(q *webhooks.DeliveryQuery) {
			q.EventID = "evt-3"
			q.Outcomes = []webhooks.Outcome{dl, webhooks.OutcomeDelivered}
		}, []string{"dlv-08", "dlv-09"}},
		{"outcomes, since and limit", func(q *webhooks.DeliveryQuery) {
			q.Outcomes = []webhooks.Outcome{dl, webhooks.OutcomeSkipped, webhooks.OutcomeUndelivered}
			q.Since = logTime(4)
			q.Limit = 3
		}, []string{"dlv-04", "dlv-05", "dlv-07"}},
		{"webhook, since and limit", func(q *webhooks.DeliveryQuery) {
			q.WebhookID, q.Since, q.Limit = "wh-a", logTime(5), 2
		}, []string{"dlv-06", "dlv-08"}},
		{"webhook, outcomes and limit", func(q *webhooks.DeliveryQuery) {
			q.WebhookID, q.Outcomes, q.Limit = "wh-a", []webhooks.Outcome{webhooks.OutcomeDelivered}, 1
		}, []string{"dlv-01"}},
	}
	for _, tc := range tests {
		q := webhooks.DeliveryQuery{}
		tc.change(&q)
		got := mustDeliveries(t, l, q)
		assertRecordIDs(t, "Deliveries, "+tc.name, got, tc.want...)
	}
}

func testLogInvalidQuery(t *testing.T, l webhooks.DeliveryLog) {
	ctx := t.Context()
	recordQueryFixtures(t, l)
	valid := func() webhooks.DeliveryQuery {
		return webhooks.DeliveryQuery{WebhookID: "wh-a", Outcome: webhooks.OutcomeDeadLettered, Limit: 5}
	}
	if _, err := l.Deliveries(ctx, valid()); err != nil {
		t.Fatalf("Deliveries with the valid query the cases start from = %v", err)
	}
	tests := []struct {
		name   string
		change func(q *webhooks.DeliveryQuery)
		want   []error
	}{
		{"Outcome and Outcomes", func(q *webhooks.DeliveryQuery) { q.Outcomes = []webhooks.Outcome{webhooks.OutcomeDelivered} },
			[]error{webhooks.ErrInvalidDeliveryQuery}},
		{"unknown Outcome", func(q *webhooks.DeliveryQuery) { q.Outcome = "lost" },
			[]error{webhooks.ErrInvalidDeliveryQuery, webhooks.ErrUnknownOutcome}},
		{"unknown in Outcomes", func(q *webhooks.DeliveryQuery) {
			q.Outcome = ""
			q.Outcomes = []webhooks.Outcome{webhooks.OutcomeDelivered, "lost"}
		}, []error{webhooks.ErrInvalidDeliveryQuery, webhooks.ErrUnknownOutcome}},
		{"negative Limit", func(q *webhooks.DeliveryQuery) { q.Limit = -1 },
			[]error{webhooks.ErrInvalidDeliveryQuery}},
	}
	for _, tc := range tests {
		q := valid()
		tc.change(&q)
		_, err := l.Deliveries(ctx, q)
		for _, want := range tc.want {
			if !errors.Is(err, want) {
				t.Errorf("Deliveries with %s = %v, want an error matching %v", tc.name, err, want)
			}
		}
	}
}

func testLogReturnsCopies(t *testing.T, l webhooks.DeliveryLog) {
	ctx := t.Context()
	want := logRecord("dlv-1", "wh-1", "evt-1", webhooks.OutcomeDeadLettered, 0)
	mustRecordDelivery(t, l, want)
	mustRecordDelivery(t, l, logRecord("dlv-2", "wh-1", "evt-1", webhooks.OutcomeDeadLettered, 1))
	wantAttempt := logAttempt("dlv-1", 1)
	mustRecordAttempt(t, l, wantAttempt)
	mustRecordAttempt(t, l, logAttempt("dlv-1", 2))

	list := mustDeliveries(t, l, webhooks.DeliveryQuery{WebhookID: "wh-1"})
	attempts := mustAttempts(t, l, "dlv-1")
	if len(list) != 2 || len(attempts) != 2 {
		t.Fatalf("Deliveries(wh-1) returned %d records, Attempts(dlv-1) %d attempts; want 2 and 2", len(list), len(attempts))
	}
	list[0].ID, list[0].Error, list[0].Outcome = "changed", "changed", webhooks.OutcomeDelivered
	list[1] = webhooks.DeliveryRecord{}
	attempts[0].Number, attempts[0].Error = 99, "changed"
	attempts[1] = webhooks.Attempt{}

	got, err := l.Delivery(ctx, want.ID)
	if err != nil {
		t.Fatalf("Delivery(%q) = %v", want.ID, err)
	}
	assertRecordEqual(t, "Delivery after mutating a returned list", want, got)
	assertRecordIDs(t, "Deliveries after mutating a returned list",
		mustDeliveries(t, l, webhooks.DeliveryQuery{WebhookID: "wh-1"}), "dlv-1", "dlv-2")
	again := mustAttempts(t, l, "dlv-1")
	assertAttemptNumbers(t, "Attempts after mutating a returned list", again, 1, 2)
	if len(again) > 0 {
		assertAttemptEqual(t, "Attempts after mutating a returned list", wantAttempt, again[0])
	}
}

// testLogConcurrent records from several goroutines while others read. Under
// -race it finds unsynchronised state; without, it still checks that no
// write is lost.
func testLogConcurrent(t *testing.T, l webhooks.DeliveryLog) {
	const (
		goroutines = 8
		deliveries = 200
	)
	ctx := t.Context()
	outcomes := []webhooks.Outcome{
		webhooks.OutcomeDelivered, webhooks.OutcomeDeadLettered, webhooks.OutcomeRefused,
		webhooks.OutcomeSkipped, webhooks.OutcomeUndelivered,
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			webhookID := fmt.Sprintf("wh-%d", g)
			for i := range deliveries {
				id := fmt.Sprintf("dlv-%d-%03d", g, i)
				for n := 1; n <= 2; n++ {
					if err := l.RecordAttempt(ctx, logAttempt(id, n)); err != nil {
						t.Errorf("RecordAttempt(%q, %d) = %v", id, n, err)
						return
					}
				}
				d := logRecord(id, webhookID, fmt.Sprintf("evt-%03d", i), outcomes[i%len(outcomes)], i)
				if err := l.RecordDelivery(ctx, d); err != nil {
					t.Errorf("RecordDelivery(%q) = %v", id, err)
					return
				}
				if i%25 == 0 {
					list, err := l.Deliveries(ctx, webhooks.DeliveryQuery{WebhookID: webhookID, Limit: 10})
					if err != nil {
						t.Errorf("Deliveries = %v", err)
						return
					}
					for j := range list {
						list[j].Error = "mutated by reader" // must not race with other readers
					}
					if _, err := l.Deliveries(ctx, webhooks.DeliveryQuery{Outcome: webhooks.OutcomeDeadLettered}); err != nil {
						t.Errorf("Deliveries = %v", err)
						return
					}
					if _, err := l.Attempts(ctx, fmt.Sprintf("dlv-%d-%03d", (g+1)%goroutines, i)); err != nil {
						t.Errorf("Attempts = %v", err)
						return
					}
					if _, err := l.Delivery(ctx, id); err != nil {
						t.Errorf("Delivery(%q) = %v", id, err)
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

	all := mustDeliveries(t, l, webhooks.DeliveryQuery{})
	if len(all) != goroutines*deliveries {
		t.Fatalf("Deliveries returned %d records after %d concurrent RecordDelivery calls", len(all), goroutines*deliveries)
	}
	for g := range goroutines {
		q := webhooks.DeliveryQuery{WebhookID: fmt.Sprintf("wh-%d", g)}
		if got := len(mustDeliveries(t, l, q)); got != deliveries {
			t.Errorf("Deliveries(WebhookID %s) returned %d records, want %d", q.WebhookID, got, deliveries)
		}
	}
	for _, i := range []int{0, 1, deliveries - 1} {
		q := webhooks.DeliveryQuery{EventID: fmt.Sprintf("evt-%03d", i)}
		if got := len(mustDeliveries(t, l, q)); got != goroutines {
			t.Errorf("Deliveries(EventID %s) returned %d records, want %d", q.EventID, got, goroutines)
		}
	}
	for _, o := range outcomes {
		if got := len(mustDeliveries(t, l, webhooks.DeliveryQuery{Outcome: o})); got != goroutines*deliveries/len(outcomes) {
			t.Errorf("Deliveries(Outcome %s) returned %d records, want %d", o, got, goroutines*deliveries/len(outcomes))
		}
	}
	for _, d := range all {
		if d.Error == "mutated by reader" {
			t.Errorf("delivery %q: a reader's mutation of a returned value reached the log", d.ID)
			break
		}
		got := mustAttempts(t, l, d.ID)
		if len(got) != 2 || got[0].Number != 1 || got[1].Number != 2 {
			assertAttemptNumbers(t, "Attempts("+d.ID+")", got, 1, 2)
			break
		}
	}
}

func testLogCancelledContext(t *testing.T, l webhooks.DeliveryLog) {
	existing := logRecord("dlv-1", "wh-1", "evt-1", webhooks.OutcomeDeadLettered, 0)
	mustRecordDelivery(t, l, existing)
	mustRecordAttempt(t, l, logAttempt("dlv-1", 1))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want an error matching context.Canceled", op, err)
		}
	}
	check("RecordAttempt", l.RecordAttempt(ctx, logAttempt("dlv-1", 2)))
	check("RecordAttempt", l.RecordAttempt(ctx, logAttempt("dlv-2", 1)))
	check("RecordDelivery", l.RecordDelivery(ctx, logRecord("dlv-2", "wh-1", "evt-1", webhooks.OutcomeDeadLettered, 1)))
	if r, ok := l.(webhooks.OutcomeRecorder); ok {
		check("RecordOutcome", r.RecordOutcome(ctx, logAttempt("dlv-2", 1), logRecord("dlv-2", "wh-1", "evt-1", webhooks.OutcomeDeadLettered, 1)))
	}
	_, err := l.Delivery(ctx, existing.ID)
	check("Delivery", err)
	_, err = l.Deliveries(ctx, webhooks.DeliveryQuery{})
	check("Deliveries", err)
	_, err = l.Attempts(ctx, existing.ID)
	check("Attempts", err)

	// Nothing changed.
	assertRecordIDs(t, "Deliveries after cancelled operations", mustDeliveries(t, l, webhooks.DeliveryQuery{}), "dlv-1")
	assertAttemptNumbers(t, "Attempts(dlv-1) after cancelled operations", mustAttempts(t, l, "dlv-1"), 1)
	assertAttemptNumbers(t, "Attempts(dlv-2) after cancelled operations", mustAttempts(t, l, "dlv-2"))
}

func mustRecordDelivery(t *testing.T, l webhooks.DeliveryLog, d webhooks.DeliveryRecord) {
	t.Helper()
	if err := l.RecordDelivery(t.Context(), d); err != nil {
		t.Fatalf("RecordDelivery(%q) = %v", d.ID, err)
	}
}

func mustRecordAttempt(t *testing.T, l webhooks.DeliveryLog, a webhooks.Attempt) {
	t.Helper()
	if err := l.RecordAttempt(t.Context(), a); err != nil {
		t.Fatalf("RecordAttempt(%q, %d) = %v", a.DeliveryID, a.Number, err)
	}
}

func mustDeliveries(t *testing.T, l webhooks.DeliveryLog, q webhooks.DeliveryQuery) []webhooks.DeliveryRecord {
	t.Helper()
	list, err := l.Deliveries(t.Context(), q)
	if err != nil {
		t.Fatalf("Deliveries(%+v) = %v", q, err)
	}
	return list
}

func mustAttempts(t *testing.T, l webhooks.DeliveryLog, deliveryID string) []webhooks.Attempt {
	t.Helper()
	list, err := l.Attempts(t.Context(), deliveryID)
	if err != nil {
		t.Fatalf("Attempts(%q) = %v", deliveryID, err)
	}
	return list
}

func assertRecordIDs(t *testing.T, what string, list []webhooks.DeliveryRecord, want ...string) {
	t.Helper()
	assertKeys(t, what, "ids", list, func(d webhooks.DeliveryRecord) string { return d.ID }, want...)
}

func assertAttemptNumbers(t *testing.T, what string, list []webhooks.Attempt, want ...int) {
	t.Helper()
	assertKeys(t, what, "numbers", list, func(a webhooks.Attempt) int { return a.Number }, want...)
}

// assertRecordEqual reports every field of got that differs from want. The
// payload of a delivered record is not compared.
func assertRecordEqual(t *testing.T, what string, want, got webhooks.DeliveryRecord) {
	t.Helper()
	var diffs []string
	diff := func(field string, equal bool, wantV, gotV any) {
		if !equal {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", field, gotV, wantV))
		}
	}
	diff("ID", got.ID == want.ID, want.ID, got.ID)
	diff("EventID", got.EventID == want.EventID, want.EventID, got.EventID)
	diff("EventType", got.EventType == want.EventType, want.EventType, got.EventType)
	diff("WebhookID", got.WebhookID == want.WebhookID, want.WebhookID, got.WebhookID)
	diff("WebhookCreatedAt", got.WebhookCreatedAt.Equal(want.WebhookCreatedAt), want.WebhookCreatedAt, got.WebhookCreatedAt)
	diff("Outcome", got.Outcome == want.Outcome, want.Outcome, got.Outcome)
	diff("Attempts", got.Attempts == want.Attempts, want.Attempts, got.Attempts)
	diff("StatusCode", got.StatusCode == want.StatusCode, want.StatusCode, got.StatusCode)
	diff("Error", got.Error == want.Error, want.Error, got.Error)
	if want.Outcome != webhooks.OutcomeDelivered {
		diff("Payload", bytes.Equal(got.Payload, want.Payload), string(want.Payload), string(got.Payload))
	}
	diff("OccurredAt", got.OccurredAt.Equal(want.OccurredAt), want.OccurredAt, got.OccurredAt)
	diff("CreatedAt", got.CreatedAt.Equal(want.CreatedAt), want.CreatedAt, got.CreatedAt)
	diff("CompletedAt", got.CompletedAt.Equal(want.CompletedAt), want.CompletedAt, got.CompletedAt)
	diff("RedeliveryOf", got.RedeliveryOf == want.RedeliveryOf, want.RedeliveryOf, got.RedeliveryOf)
	for _, d := range diffs {
		t.Errorf("%s: %s", what, d)
	}
}

// assertAttemptEqual reports every field of got that differs from want.
func assertAttemptEqual(t *testing.T, what string, want, got webhooks.Attempt) {
	t.Helper()
	var diffs []string
	diff := func(field string, equal bool, wantV, gotV any) {
		if !equal {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", field, gotV, wantV))
		}
	}
	diff("DeliveryID", got.DeliveryID == want.DeliveryID, want.DeliveryID, got.DeliveryID)
	diff("EventID", got.EventID == want.EventID, want.EventID, got.EventID)
	diff("WebhookID", got.WebhookID == want.WebhookID, want.WebhookID, got.WebhookID)
	diff("Number", got.Number == want.Number, want.Number, got.Number)
	diff("StartedAt", got.StartedAt.Equal(want.StartedAt), want.StartedAt, got.StartedAt)
	diff("Duration", got.Duration == want.Duration, want.Duration, got.Duration)
	diff("StatusCode", got.StatusCode == want.StatusCode, want.StatusCode, got.StatusCode)
	diff("Error", got.Error == want.Error, want.Error, got.Error)
	diff("ResponseBody", bytes.Equal(got.ResponseBody, want.ResponseBody), string(want.ResponseBody), string(got.ResponseBody))
	for _, d := range diffs {
		t.Errorf("%s: %s", what, d)
	}
}
