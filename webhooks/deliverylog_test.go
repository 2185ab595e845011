package webhooks_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/webhookstest"
)

// The MemoryLog's conformance to the DeliveryLog contract is checked by
// webhookstest.TestDeliveryLog, run from the webhookstest package's tests;
// these tests cover what is particular to it: bounds, eviction, payloads and
// allocations.

func ExampleMemoryLog() {
	ctx := context.Background()
	dlog := webhooks.NewMemoryLog(1000)
	start := time.Date(2025, time.June, 2, 9, 30, 0, 0, time.UTC)
	payload := []byte(`{"meetingId":"m-42","status":"meeting_summary_done"}`)

	// The engine records every attempt, then the outcome.
	for n := 1; n <= 4; n++ {
		err := dlog.RecordAttempt(ctx, webhooks.Attempt{
			DeliveryID: "dlv_1", EventID: "evt_1", WebhookID: "wh_crm", Number: n,
			StartedAt: start.Add(time.Duration(n) * time.Second), Duration: 80 * time.Millisecond,
			StatusCode: 503, Error: "status 503",
		})
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	records := []webhooks.DeliveryRecord{{
		ID: "dlv_1", EventID: "evt_1", EventType: webhooks.MeetingStatusChangedEvent, WebhookID: "wh_crm",
		Outcome: webhooks.OutcomeDeadLettered, Attempts: 4, StatusCode: 503, Error: "status 503",
		Payload: payload, OccurredAt: start, CreatedAt: start, CompletedAt: start.Add(5 * time.Second),
	}, {
		ID: "dlv_2", EventID: "evt_1", EventType: webhooks.MeetingStatusChangedEvent, WebhookID: "wh_erp",
		Outcome: webhooks.OutcomeDelivered, Attempts: 1, StatusCode: 204,
		Payload: payload, OccurredAt: start, CreatedAt: start, CompletedAt: start.Add(time.Second),
	}}
	for _, d := range records {
		if err := dlog.RecordDelivery(ctx, d); err != nil {
			fmt.Println(err)
			return
		}
	}

	// Dead letters, with what is needed to redeliver them.
	dead, err := dlog.Deliveries(ctx, webhooks.DeliveryQuery{Outcome: webhooks.OutcomeDeadLettered})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range dead {
		attempts, err := dlog.Attempts(ctx, d.ID)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s to %s: %s after %d attempts (%s)\n", d.ID, d.WebhookID, d.Outcome, len(attempts), d.Error)
		fmt.Printf("payload: %s\n", d.Payload)
	}
	delivered, err := dlog.Delivery(ctx, "dlv_2")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %s, payload kept: %t\n", delivered.ID, delivered.Outcome, delivered.Payload != nil)
	// Output:
	// dlv_1 to wh_crm: dead_lettered after 4 attempts (status 503)
	// payload: {"meetingId":"m-42","status":"meeting_summary_done"}
	// dlv_2: delivered, payload kept: false
}

func TestOutcomeText(t *testing.T) {
	outcomes := []webhooks.Outcome{
		webhooks.OutcomeDelivered, webhooks.OutcomeDeadLettered, webhooks.OutcomeRefused,
		webhooks.OutcomeSkipped, webhooks.OutcomeUndelivered,
	}
	for _, o := range outcomes {
		if !o.Valid() {
			t.Errorf("%q.Valid() = false", o)
		}
		text, err := o.MarshalText()
		if err != nil || string(text) != o.String() || o.String() != string(o) {
			t.Errorf("%q.MarshalText() = %q, %v; String() = %q", o, text, err, o.String())
		}
		var back webhooks.Outcome
		if err := back.UnmarshalText(text); err != nil || back != o {
			t.Errorf("UnmarshalText(%q) = %q, %v", text, back, err)
		}
		if p, err := webhooks.ParseOutcome(string(o)); err != nil || p != o {
			t.Errorf("ParseOutcome(%q) = %q, %v", o, p, err)
		}
	}

	for _, bad := range []string{"", "Delivered", "delivered ", "dead-lettered", "failed"} {
		o := webhooks.Outcome(bad)
		if o.Valid() {
			t.Errorf("Outcome(%q).Valid() = true", bad)
		}
		if _, err := o.MarshalText(); !errors.Is(err, webhooks.ErrUnknownOutcome) {
			t.Errorf("Outcome(%q).MarshalText() error = %v, want ErrUnknownOutcome", bad, err)
		}
		if _, err := webhooks.ParseOutcome(bad); !errors.Is(err, webhooks.ErrUnknownOutcome) {
			t.Errorf("ParseOutcome(%q) error = %v, want ErrUnknownOutcome", bad, err)
		}
		got := webhooks.OutcomeSkipped
		if err := got.UnmarshalText([]byte(bad)); !errors.Is(err, webhooks.ErrUnknownOutcome) || got != webhooks.OutcomeSkipped {
			t.Errorf("UnmarshalText(%q) = %v, outcome %q; want ErrUnknownOutcome, outcome unchanged", bad, err, got)
		}
	}

	// As a JSON field, through the text methods.
	var v struct{ Outcome webhooks.Outcome }
	if err := json.Unmarshal([]byte(`{"Outcome":"dead_lettered"}`), &v); err != nil || v.Outcome != webhooks.OutcomeDeadLettered {
		t.Errorf("json.Unmarshal = %q, %v", v.Outcome, err)
	}
	if err := json.Unmarshal([]byte(`{"Outcome":"lost"}`), &v); !errors.Is(err, webhooks.ErrUnknownOutcome) {
		t.Errorf("json.Unmarshal of an unknown outcome = %v, want ErrUnknownOutcome", err)
	}
}

func TestMemoryLogEvictsOldest(t *testing.T) {
	ctx := t.Context()
	l := webhooks.NewMemoryLog(3)
	webhooksOf := []string{"wh-a", "wh-b", "wh-a", "wh-b", "wh-a"}
	for i, wh := range webhooksOf {
		id := "dlv-" + strconv.Itoa(i)
		dlogMustAttempt(t, l, webhooks.Attempt{DeliveryID: id, Number: 1})
		dlogMustRecord(t, l, dlogRecord(id, wh, "evt-"+strconv.Itoa(i%2), webhooks.OutcomeDeadLettered, i))
	}
	for _, id := range []string{"dlv-0", "dlv-1"} {
		if _, err := l.Delivery(ctx, id); !errors.Is(err, webhooks.ErrNotFound) {
			t.Errorf("Delivery(%s) after eviction = %v, want ErrNotFound", id, err)
		}
		if got := dlogAttempts(t, l, id); len(got) != 0 {
			t.Errorf("Attempts(%s) after eviction = %d attempts, want none", id, len(got))
		}
	}
	for _, id := range []string{"dlv-2", "dlv-3", "dlv-4"} {
		if _, err := l.Delivery(ctx, id); err != nil {
			t.Errorf("Delivery(%s) = %v", id, err)
		}
		if got := dlogAttempts(t, l, id); len(got) != 1 {
			t.Errorf("Attempts(%s) = %d attempts, want 1", id, len(got))
		}
	}
	tests := []struct {
		q    webhooks.DeliveryQuery
		want []string
	}{
		{webhooks.DeliveryQuery{}, []string{"dlv-2", "dlv-3", "dlv-4"}},
		{webhooks.DeliveryQuery{WebhookID: "wh-a"}, []string{"dlv-2", "dlv-4"}},
		{webhooks.DeliveryQuery{WebhookID: "wh-b"}, []string{"dlv-3"}},
		{webhooks.DeliveryQuery{EventID: "evt-0"}, []string{"dlv-2", "dlv-4"}},
		{webhooks.DeliveryQuery{EventID: "evt-1"}, []string{"dlv-3"}},
		{webhooks.DeliveryQuery{Outcome: webhooks.OutcomeDeadLettered}, []string{"dlv-2", "dlv-3", "dlv-4"}},
	}
	for _, tc := range tests {
		dlogAssertIDs(t, fmt.Sprintf("Deliveries(%+v)", tc.q), dlogDeliveries(t, l, tc.q), tc.want...)
	}

	// Evict the last delivery of wh-b and evt-1, then record for them again:
	// their indexes start afresh.
	dlogMustRecord(t, l, dlogRecord("dlv-5", "wh-a", "evt-0", webhooks.OutcomeDelivered, 5))
	dlogMustRecord(t, l, dlogRecord("dlv-6", "wh-c", "evt-2", webhooks.OutcomeSkipped, 6))
	dlogAssertIDs(t, "Deliveries(wh-b) once its deliveries are evicted", dlogDeliveries(t, l, webhooks.DeliveryQuery{WebhookID: "wh-b"}))
	dlogMustRecord(t, l, dlogRecord("dlv-7", "wh-b", "evt-1", webhooks.OutcomeDeadLettered, 7))
	dlogAssertIDs(t, "Deliveries(wh-b)", dlogDeliveries(t, l, webhooks.DeliveryQuery{WebhookID: "wh-b"}), "dlv-7")
	dlogAssertIDs(t, "Deliveries(evt-1)", dlogDeliveries(t, l, webhooks.DeliveryQuery{EventID: "evt-1"}), "dlv-7")
	dlogAssertIDs(t, "Deliveries(dead letters)",
		dlogDeliveries(t, l, webhooks.DeliveryQuery{Outcome: webhooks.OutcomeDeadLettered}), "dlv-7")
	dlogAssertIDs(t, "Deliveries()", dlogDeliveries(t, l, webhooks.DeliveryQuery{}), "dlv-5", "dlv-6", "dlv-7")
}

// TestMemoryLogMatchesModel records random deliveries into a small log and
// checks random queries and lookups against a model: a slice in recording
// order that forgets its oldest elements past the capacity. It finds indexes
// that go out of step with the deliveries through eviction and slot reuse.
// It runs with the log's own hash of delivery ids, and with hashes under
// which many ids collide, or all of them.
func TestMemoryLogMatchesModel(t *testing.T) {
	const capacity = 7
	for _, tc := range []struct {
		name string
		log  *webhooks.MemoryLog
	}{
		{"own hash", webhooks.NewMemoryLog(capacity)},
		{"colliding hash", webhooks.NewMemoryLogWithHash(capacity, func(id string) uint64 { return uint64(len(id) % 3) })},
		{"constant hash", webhooks.NewMemoryLogWithHash(capacity, func(string) uint64 { return 42 })},
	} {
		t.Run(tc.name, func(t *testing.T) { testMemoryLogMatchesModel(t, tc.log, capacity) })
	}
}

// TestMemoryLogConformsWithCollidingIDs runs the DeliveryLog conformance
// suite on a log under whose hash every delivery id collides.
func TestMemoryLogConformsWithCollidingIDs(t *testing.T) {
	webhookstest.TestDeliveryLog(t, func(*testing.T) webhooks.DeliveryLog {
		return webhooks.NewMemoryLogWithHash(0, func(string) uint64 { return 7 })
	})
}

func testMemoryLogMatchesModel(t *testing.T, l *webhooks.MemoryLog, capacity int) {
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	outcomes := []webhooks.Outcome{
		webhooks.OutcomeDelivered, webhooks.OutcomeDeadLettered, webhooks.OutcomeRefused,
		webhooks.OutcomeSkipped, webhooks.OutcomeUndelivered,
	}
	var model []webhooks.DeliveryRecord
	for i := range 3000 {
		d := dlogRecord("dlv-"+strconv.Itoa(i), "wh-"+strconv.Itoa(rng.IntN(4)), "evt-"+strconv.Itoa(rng.IntN(6)),
			outcomes[rng.IntN(len(outcomes))], rng.IntN(20))
		dlogMustRecord(t, l, d)
		model = append(model, d)
		if len(model) > capacity {
			model = model[1:]
		}
		if rng.IntN(10) == 0 { // a duplicate of a delivery kept or evicted
			dup := dlogRecord("dlv-"+strconv.Itoa(rng.IntN(i+1)), "wh-0", "evt-0", webhooks.OutcomeDelivered, 0)
			kept := slices.ContainsFunc(model, func(m webhooks.DeliveryRecord) bool { return m.ID == dup.ID })
			err := l.RecordDelivery(ctx, dup)
			if kept && !errors.Is(err, webhooks.ErrConflict) {
				t.Fatalf("RecordDelivery(%s), a kept delivery = %v, want ErrConflict", dup.ID, err)
			}
			if !kept && err != nil {
				t.Fatalf("RecordDelivery(%s), an evicted delivery = %v", dup.ID, err)
			}
			if !kept {
				model = append(model, dup)
				if len(model) > capacity {
					model = model[1:]
				}
			}
		}

		q := webhooks.DeliveryQuery{}
		if rng.IntN(2) == 0 {
			q.WebhookID = "wh-" + strconv.Itoa(rng.IntN(5))
		}
		if rng.IntN(3) == 0 {
			q.EventID = "evt-" + strconv.Itoa(rng.IntN(7))
		}
		switch rng.IntN(3) {
		case 0:
			q.Outcome = outcomes[rng.IntN(len(outcomes))]
		case 1:
			q.Outcomes = []webhooks.Outcome{outcomes[rng.IntN(len(outcomes))], outcomes[rng.IntN(len(outcomes))]}
		}
		if rng.IntN(3) == 0 {
			q.Since = dlogTime(rng.IntN(20))
		}
		if rng.IntN(3) == 0 {
			q.Limit = 1 + rng.IntN(4)
		}
		got := dlogDeliveries(t, l, q)
		want := dlogModelQuery(model, q)
		if !slices.Equal(dlogIDs(got), want) {
			t.Fatalf("after %d deliveries, Deliveries(%+v) = %q, want %q", i+1, q, dlogIDs(got), want)
		}

		id := "dlv-" + strconv.Itoa(rng.IntN(i+2))
		kept := slices.IndexFunc(model, func(m webhooks.DeliveryRecord) bool { return m.ID == id })
		d, err := l.Delivery(ctx, id)
		switch {
		case kept >= 0 && (err != nil || d.ID != id || d.EventID != model[kept].EventID):
			t.Fatalf("after %d deliveries, Delivery(%s) = %s of %s, %v; want the kept one, of %s", i+1, id, d.ID, d.EventID, err, model[kept].EventID)
		case kept < 0 && !errors.Is(err, webhooks.ErrNotFound):
			t.Fatalf("after %d deliveries, Delivery(%s) of an evicted or unknown delivery = %v, want ErrNotFound", i+1, id, err)
		}
	}
}

func TestMemoryLogBoundsPendingAttempts(t *testing.T) {
	ctx := t.Context()
	l := webhooks.NewMemoryLog(2) // at most 8 attempts of deliveries without an outcome
	for _, id := range []string{"dlv-1", "dlv-2", "dlv-3"} {
		for n := 1; n <= 3; n++ {
			if id == "dlv-3" && n == 3 {
				break
			}
			dlogMustAttempt(t, l, webhooks.Attempt{DeliveryID: id, Number: n})
		}
	}
	// 8 attempts: full. The next drops those of dlv-1, the oldest.
	dlogMustAttempt(t, l, webhooks.Attempt{DeliveryID: "dlv-4", Number: 1})
	for id, want := range map[string]int{"dlv-1": 0, "dlv-2": 3, "dlv-3": 2, "dlv-4": 1} {
		if got := dlogAttempts(t, l, id); len(got) != want {
			t.Errorf("Attempts(%s) = %d attempts, want %d", id, len(got), want)
		}
	}
	// The outcome of a delivery whose attempts were dropped is recorded
	// without them.
	dlogMustRecord(t, l, dlogRecord("dlv-1", "wh-1", "evt-1", webhooks.OutcomeDeadLettered, 0))
	if got := dlogAttempts(t, l, "dlv-1"); len(got) != 0 {
		t.Errorf("Attempts(dlv-1) after its attempts were dropped = %d attempts, want none", len(got))
	}

	// A single delivery with more attempts than the bound keeps its latest.
	l = webhooks.NewMemoryLog(1) // at most 4
	for n := 1; n <= 6; n++ {
		dlogMustAttempt(t, l, webhooks.Attempt{DeliveryID: "dlv-1", Number: n})
	}
	dlogAssertNumbers(t, "Attempts of a delivery over the bound", dlogAttempts(t, l, "dlv-1"), 3, 4, 5, 6)
	if err := l.RecordDelivery(ctx, dlogRecord("dlv-1", "wh-1", "evt-1", webhooks.OutcomeDeadLettered, 0)); err != nil {
		t.Fatal(err)
	}
	dlogAssertNumbers(t, "Attempts once recorded", dlogAttempts(t, l, "dlv-1"), 3, 4, 5, 6)
}

func TestMemoryLogBoundsKeptAttempts(t *testing.T) {
	ctx := t.Context()
	l := webhooks.NewMemoryLog(2) // at most 8 attempts among recorded deliveries
	record := func(id string, attempts int) {
		t.Helper()
		for n := 1; n <= attempts; n++ {
			dlogMustAttempt(t, l, webhooks.Attempt{DeliveryID: id, Number: n})
		}
		dlogMustRecord(t, l, dlogRecord(id, "wh-1", "evt-1", webhooks.OutcomeDeadLettered, 0))
	}
	record("dlv-1", 4)
	record("dlv-2", 4)
	dlogAssertIDs(t, "Deliveries with 8 attempts", dlogDeliveries(t, l, webhooks.DeliveryQuery{}), "dlv-1", "dlv-2")

	// An attempt after the outcome joins the others, over the bound: the
	// oldest delivery goes.
	dlogMustAttempt(t, l, webhooks.Attempt{DeliveryID: "dlv-2", Number: 5})
	dlogAssertIDs(t, "Deliveries after a late attempt", dlogDeliveries(t, l, webhooks.DeliveryQuery{}), "dlv-2")
	dlogAssertNumbers(t, "Attempts(dlv-2)", dlogAttempts(t, l, "dlv-2"), 1, 2, 3, 4, 5)

	// A delivery with many attempts evicts older ones though the capacity
	// is not reached.
	record("dlv-3", 6)
	dlogAssertIDs(t, "Deliveries after one with 6 attempts", dlogDeliveries(t, l, webhooks.DeliveryQuery{}), "dlv-3")
	if _, err := l.Delivery(ctx, "dlv-2"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Delivery(dlv-2) = %v, want ErrNotFound", err)
	}
	if got := dlogAttempts(t, l, "dlv-2"); len(got) != 0 {
		t.Errorf("Attempts(dlv-2) after eviction = %d attempts, want none", len(got))
	}
}

func TestMemoryLogPayloads(t *testing.T) {
	ctx := t.Context()
	l := webhooks.NewMemoryLog(0)
	payload := []byte(`{"meetingId":"m-42","status":"meeting_created"}`)
	for _, o := range []webhooks.Outcome{
		webhooks.OutcomeDelivered, webhooks.OutcomeDeadLettered, webhooks.OutcomeRefused,
		webhooks.OutcomeSkipped, webhooks.OutcomeUndelivered,
	} {
		d := dlogRecord("dlv-"+string(o), "wh-1", "evt-1", o, 0)
		d.Payload = payload
		dlogMustRecord(t, l, d)
		got, err := l.Delivery(ctx, d.ID)
		if err != nil {
			t.Fatalf("Delivery(%s) = %v", d.ID, err)
		}
		switch {
		case o == webhooks.OutcomeDelivered && got.Payload != nil:
			t.Errorf("a delivered record kept its payload %q, want nil", got.Payload)
		case o != webhooks.OutcomeDelivered && !bytes.Equal(got.Payload, payload):
			t.Errorf("a %s record has payload %q, want %q", o, got.Payload, payload)
		}
	}

	// A response body over the limit is truncated into a copy of its own.
	body := bytes.Repeat([]byte("x"), webhooks.MaxLoggedResponseBytes+100)
	dlogMustAttempt(t, l, webhooks.Attempt{DeliveryID: "dlv-long", Number: 1, ResponseBody: body})
	got := dlogAttempts(t, l, "dlv-long")
	if len(got) != 1 || len(got[0].ResponseBody) != webhooks.MaxLoggedResponseBytes {
		t.Fatalf("Attempts(dlv-long) = %d attempts, want 1 with a body of %d bytes", len(got), webhooks.MaxLoggedResponseBytes)
	}
	if cap(got[0].ResponseBody) >= len(body) {
		t.Errorf("the logged body has capacity %d: it shares the %d-byte original", cap(got[0].ResponseBody), len(body))
	}
}

func TestMemoryLogDefaultCapacity(t *testing.T) {
	for name, l := range map[string]*webhooks.MemoryLog{
		"NewMemoryLog(0)":  webhooks.NewMemoryLog(0),
		"NewMemoryLog(-1)": webhooks.NewMemoryLog(-1),
		"zero value":       new(webhooks.MemoryLog),
	} {
		for i := range webhooks.DefaultLogCapacity + 1 {
			dlogMustRecord(t, l, webhooks.DeliveryRecord{ID: "dlv-" + strconv.Itoa(i), Outcome: webhooks.OutcomeDelivered})
		}
		if got := len(dlogDeliveries(t, l, webhooks.DeliveryQuery{})); got != webhooks.DefaultLogCapacity {
			t.Errorf("%s keeps %d deliveries, want DefaultLogCapacity", name, got)
		}
		if _, err := l.Delivery(t.Context(), "dlv-0"); !errors.Is(err, webhooks.ErrNotFound) {
			t.Errorf("%s: Delivery(dlv-0) = %v, want ErrNotFound", name, err)
		}
	}
}

// TestMemoryLogMemoryIsBounded records many deliveries, each to a new
// webhook and of a new event, and many attempts of deliveries that never get
// an outcome: the heap must not grow with them, so no index keeps what the
// log forgot.
func TestMemoryLogMemoryIsBounded(t *testing.T) {
	const (
		capacity  = 10
		n         = 50_000 // a leaked index entry per delivery would be megabytes
		maxGrowth = 512 << 10
	)
	l := webhooks.NewMemoryLog(capacity)
	record := func(from, to int) {
		for i := from; i < to; i++ {
			id := strconv.Itoa(i)
			dlogMustAttempt(t, l, webhooks.Attempt{DeliveryID: "dlv-" + id, Number: 1})
			dlogMustAttempt(t, l, webhooks.Attempt{DeliveryID: "lost-" + id, Number: 1})
			dlogMustRecord(t, l, dlogRecord("dlv-"+id, "wh-"+id, "evt-"+id, webhooks.OutcomeDeadLettered, 0))
		}
	}
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	record(0, 100*capacity)
	before := heap()
	record(100*capacity, n)
	if after := heap(); after > before+maxGrowth {
		t.Errorf("heap grew from %d to %d bytes over %d deliveries into a log of capacity %d", before, after, n, capacity)
	}
	runtime.KeepAlive(l)
}

// TestMemoryLogAllocations pins the hot path. At steady state (the log full,
// its slots, boxes and attempt slices recycled) recording allocates nothing; the
// bound leaves room for the occasional growth of an index map.
func TestMemoryLogAllocations(t *testing.T) {
	const (
		capacity = 100
		runs     = 1000
		maxAvg   = 0.1 // allocations per call, averaged over the runs
	)
	ctx := context.Background()
	l := webhooks.NewMemoryLog(capacity)
	ids := make([]string, 10*capacity+8*runs) // dlogAllocsPerRun calls f 2*runs times
	for i := range ids {
		ids[i] = "dlv-" + strconv.Itoa(i)
	}
	next := 0
	cycle := func() {
		id := ids[next]
		next++
		for n := 1; n <= 2; n++ {
			_ = l.RecordAttempt(ctx, webhooks.Attempt{DeliveryID: id, EventID: id, WebhookID: "wh-1", Number: n, StatusCode: 503})
		}
		_ = l.RecordDelivery(ctx, webhooks.DeliveryRecord{ID: id, EventID: id, WebhookID: "wh-1", Outcome: webhooks.OutcomeDelivered, Attempts: 2})
	}
	for range 3 * capacity {
		cycle()
	}
	got := dlogAllocsPerRun(runs, cycle)
	t.Logf("cycle: %.3f allocations", got)
	if got > 3*maxAvg {
		t.Errorf("two RecordAttempt and a RecordDelivery allocate %.2f times on average, want at most %.2f", got, 3*maxAvg)
	}

	// The engine's path: a delivery with its only attempt, which a slot
	// holds without a box, whatever came before.
	now, body := time.Now(), []byte("ok")
	outcome := func() {
		id := ids[next]
		next++
		_ = l.RecordOutcome(ctx, webhooks.Attempt{DeliveryID: id, EventID: id, WebhookID: "wh-1", Number: 1, StartedAt: now, StatusCode: 200, ResponseBody: body},
			webhooks.DeliveryRecord{ID: id, EventID: id, WebhookID: "wh-1", Outcome: webhooks.OutcomeDelivered, Attempts: 1, StatusCode: 200, CompletedAt: now})
	}
	got = dlogAllocsPerRun(runs/2, outcome)
	t.Logf("RecordOutcome: %.3f allocations", got)
	if got > maxAvg {
		t.Errorf("RecordOutcome allocates %.2f times on average, want at most %.2f", got, maxAvg)
	}
	// Deliveries whose attempt does not fit in a slot beside them: boxed,
	// without making their strings again.
	long := bytes.Repeat([]byte("x"), 200)
	for _, tc := range []struct {
		name   string
		record func(id string)
	}{
		{"RecordOutcome", func(id string) {
			_ = l.RecordOutcome(ctx, webhooks.Attempt{DeliveryID: id, EventID: id, WebhookID: "wh-1", Number: 1, StatusCode: 200, ResponseBody: long},
				webhooks.DeliveryRecord{ID: id, EventID: id, WebhookID: "wh-1", Outcome: webhooks.OutcomeDelivered, Attempts: 1, StatusCode: 200})
		}},
		{"RecordAttempt then RecordDelivery", func(id string) {
			_ = l.RecordAttempt(ctx, webhooks.Attempt{DeliveryID: id, EventID: id, WebhookID: "wh-1", Number: 1, StatusCode: 200, ResponseBody: long})
			_ = l.RecordDelivery(ctx, webhooks.DeliveryRecord{ID: id, EventID: id, WebhookID: "wh-1", Outcome: webhooks.OutcomeDelivered, Attempts: 1, StatusCode: 200})
		}},
	} {
		got = dlogAllocsPerRun(runs/4, func() {
			tc.record(ids[next])
			next++
		})
		t.Logf("%s with a long response body: %.3f allocations", tc.name, got)
		if got > maxAvg {
			t.Errorf("%s with a long response body allocates %.2f times on average, want at most %.2f", tc.name, got, maxAvg)
		}
	}

	attempt := func() {
		_ = l.RecordAttempt(ctx, webhooks.Attempt{DeliveryID: ids[next], Number: 1})
		next++
	}
	for range 4 * capacity { // fills the pending attempts
		attempt()
	}
	got = dlogAllocsPerRun(runs, attempt)
	t.Logf("RecordAttempt: %.3f allocations", got)
	if got > maxAvg {
		t.Errorf("RecordAttempt allocates %.2f times on average, want at most %.2f", got, maxAvg)
	}
	got = dlogAllocsPerRun(runs, cycle) // consumes nothing pending: fresh ids
	t.Logf("cycle with attempts pending: %.3f allocations", got)
	if got > 3*maxAvg {
		t.Errorf("the cycle allocates %.2f times on average with attempts pending, want at most %.2f", got, 3*maxAvg)
	}
}

func BenchmarkMemoryLogRecord(b *testing.B) {
	ctx := context.Background()
	l := webhooks.NewMemoryLog(0)
	ids := make([]string, 1<<16) // reused long after their eviction
	for i := range ids {
		ids[i] = "dlv_" + strconv.Itoa(i)
	}
	body := []byte(`{"ok":true}`)
	now := time.Now()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		id := ids[i%len(ids)]
		i++
		for n := 1; n <= 2; n++ {
			if err := l.RecordAttempt(ctx, webhooks.Attempt{DeliveryID: id, EventID: id, WebhookID: "wh_1", Number: n,
				StartedAt: now, StatusCode: 200, ResponseBody: body}); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.RecordDelivery(ctx, webhooks.DeliveryRecord{ID: id, EventID: id, WebhookID: "wh_1",
			Outcome: webhooks.OutcomeDelivered, Attempts: 2, StatusCode: 200, CreatedAt: now, CompletedAt: now}); err != nil {
			b.Fatal(err)
		}
	}
}

// dlogAllocsPerRun is testing.AllocsPerRun without its rounding down to a
// whole number, so that a rare allocation is seen. It calls f 2*runs times,
// half of them to warm up.
func dlogAllocsPerRun(runs int, f func()) float64 {
	return testing.AllocsPerRun(1, func() {
		for range runs {
			f()
		}
	}) / float64(runs)
}

func dlogTime(minutes int) time.Time {
	return time.Date(2025, time.June, 2, 9, 30, 0, 0, time.UTC).Add(time.Duration(minutes) * time.Minute)
}

func dlogRecord(id, webhookID, eventID string, o webhooks.Outcome, minute int) webhooks.DeliveryRecord {
	return webhooks.DeliveryRecord{
		ID: id, EventID: eventID, EventType: webhooks.MeetingStatusChangedEvent, WebhookID: webhookID, Outcome: o,
		Payload: []byte(`{}`), OccurredAt: dlogTime(minute), CreatedAt: dlogTime(minute), CompletedAt: dlogTime(minute),
	}
}

// dlogModelQuery runs q on model, a slice of the deliveries kept.
func dlogModelQuery(model []webhooks.DeliveryRecord, q webhooks.DeliveryQuery) []string {
	var out []webhooks.DeliveryRecord
	for _, d := range model {
		if (q.WebhookID == "" || d.WebhookID == q.WebhookID) &&
			(q.EventID == "" || d.EventID == q.EventID) &&
			(q.Outcome == "" || d.Outcome == q.Outcome) &&
			(len(q.Outcomes) == 0 || slices.Contains(q.Outcomes, d.Outcome)) &&
			(q.Since.IsZero() || !d.CompletedAt.Before(q.Since)) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b webhooks.DeliveryRecord) int {
		return cmp.Or(a.CompletedAt.Compare(b.CompletedAt), cmp.Compare(a.ID, b.ID))
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return dlogIDs(out)
}

func dlogMustRecord(t *testing.T, l webhooks.DeliveryLog, d webhooks.DeliveryRecord) {
	t.Helper()
	if err := l.RecordDelivery(t.Context(), d); err != nil {
		t.Fatalf("RecordDelivery(%s) = %v", d.ID, err)
	}
}

func dlogMustAttempt(t *testing.T, l webhooks.DeliveryLog, a webhooks.Attempt) {
	t.Helper()
	if err := l.RecordAttempt(t.Context(), a); err != nil {
		t.Fatalf("RecordAttempt(%s, %d) = %v", a.DeliveryID, a.Number, err)
	}
}

func dlogDeliveries(t *testing.T, l webhooks.DeliveryLog, q webhooks.DeliveryQuery) []webhooks.DeliveryRecord {
	t.Helper()
	list, err := l.Deliveries(t.Context(), q)
	if err != nil {
		t.Fatalf("Deliveries(%+v) = %v", q, err)
	}
	return list
}

func dlogAttempts(t *testing.T, l webhooks.DeliveryLog, id string) []webhooks.Attempt {
	t.Helper()
	list, err := l.Attempts(t.Context(), id)
	if err != nil {
		t.Fatalf("Attempts(%s) = %v", id, err)
	}
	return list
}

func dlogIDs(list []webhooks.DeliveryRecord) []string {
	out := make([]string, len(list))
	for i, d := range list {
		out[i] = d.ID
	}
	return out
}

func dlogAssertIDs(t *testing.T, what string, list []webhooks.DeliveryRecord, want ...string) {
	t.Helper()
	if got := dlogIDs(list); !slices.Equal(got, want) {
		t.Errorf("%s: ids %q, want %q", what, got, want)
	}
}

func dlogAssertNumbers(t *testing.T, what string, list []webhooks.Attempt, want ...int) {
	t.Helper()
	got := make([]int, len(list))
	for i, a := range list {
		got[i] = a.Number
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: numbers %v, want %v", what, got, want)
	}
}

// BenchmarkMemoryLogRecordOutcome records deliveries as the engine does,
// each with its one attempt and fresh ids, next to 4 KB of short-lived
// garbage per delivery (what the rest of a delivery allocates), so that the
// time includes the garbage collector's work on the full log.
func BenchmarkMemoryLogRecordOutcome(b *testing.B) {
	ctx := context.Background()
	l := webhooks.NewMemoryLog(0)
	now := time.Now()
	var sink []byte
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		id, eventID := "dlv_"+strconv.Itoa(i), "evt_"+strconv.Itoa(i)
		sink = make([]byte, 4096)
		a := webhooks.Attempt{DeliveryID: id, EventID: eventID, WebhookID: "wh_1", Number: 1, StartedAt: now, StatusCode: 204}
		d := webhooks.DeliveryRecord{ID: id, EventID: eventID, EventType: webhooks.MeetingStatusChangedEvent, WebhookID: "wh_1",
			Outcome: webhooks.OutcomeDelivered, Attempts: 1, StatusCode: 204, OccurredAt: now, CreatedAt: now, CompletedAt: now}
		if err := l.RecordOutcome(ctx, a, d); err != nil {
			b.Fatal(err)
		}
	}
	_ = sink
}

// TestMemoryLogKeepsEveryShape records deliveries and attempts of every
// shape the log keeps apart (a delivery with its only attempt in a slot of
// its own, or one that does not fit there, or that gains attempts later)
// and checks that Delivery, Deliveries and Attempts give back exactly what
// was recorded, up to what the log documents: no Payload for a delivered
// record, no monotonic clock reading, response bodies cut at
// MaxLoggedResponseBytes.
func TestMemoryLogKeepsEveryShape(t *testing.T) {
	ctx := t.Context()
	paris := time.FixedZone("CET", 3600)
	times := []time.Time{
		time.Now(), // local, with a monotonic reading
		time.Date(2025, time.June, 2, 9, 30, 0, 123456789, time.UTC),
		time.Date(2025, time.June, 2, 9, 30, 0, 1, paris),
		{},
		time.Date(1900, time.January, 1, 0, 0, 0, 5, time.UTC),
		time.Date(3000, time.December, 31, 23, 59, 59, 999999999, time.UTC).In(time.Local),
	}
	bodies := [][]byte{nil, {}, []byte("ok"), bytes.Repeat([]byte("b"), 40), bytes.Repeat([]byte("c"), 300),
		bytes.Repeat([]byte("d"), webhooks.MaxLoggedResponseBytes+1)}
	longID := strings.Repeat("x", 200)
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func(n int) int { return rng.IntN(n) }
	outcomes := []webhooks.Outcome{webhooks.OutcomeDelivered, webhooks.OutcomeDeadLettered, webhooks.OutcomeSkipped}

	l := webhooks.NewMemoryLog(0)
	type kept struct {
		d        webhooks.DeliveryRecord
		attempts []webhooks.Attempt
	}
	var all []kept
	for i := range 600 {
		id := "dlv_" + strconv.Itoa(i)
		if pick(8) == 0 {
			id = longID + id
		}
		d := webhooks.DeliveryRecord{
			ID: id, EventID: []string{"", "evt_" + strconv.Itoa(i), longID}[pick(3)],
			EventType:  []webhooks.EventType{webhooks.MeetingStatusChangedEvent, "custom.type", ""}[pick(3)],
			WebhookID:  "wh_" + strconv.Itoa(pick(3)),
			Outcome:    outcomes[pick(len(outcomes))],
			Attempts:   pick(5),
			StatusCode: []int{0, 200, 503}[pick(3)],
			Payload:    [][]byte{nil, []byte(`{"a":1}`)}[pick(2)],
			OccurredAt: times[pick(len(times))], CreatedAt: times[pick(len(times))], CompletedAt: times[pick(len(times))],
			WebhookCreatedAt: times[pick(len(times))],
		}
		if pick(4) == 0 {
			d.Error = "webhooks: status 503"
		}
		if pick(4) == 0 {
			d.RedeliveryOf = "dlv_" + strconv.Itoa(pick(i+1))
		}
		attempt := func(n int) webhooks.Attempt {
			a := webhooks.Attempt{
				DeliveryID: id, EventID: d.EventID, WebhookID: d.WebhookID, Number: n,
				StartedAt: times[pick(len(times))], Duration: time.Duration(pick(1e9)),
				StatusCode: []int{0, 200, 204, 500}[pick(4)], ResponseBody: bodies[pick(len(bodies))],
			}
			switch pick(6) {
			case 0:
				a.Error = "connection reset"
			case 1:
				a.EventID = "other event"
			case 2:
				a.WebhookID = "other webhook"
			}
			return a
		}
		var attempts []webhooks.Attempt
		switch pick(4) {
		case 0: // the engine's way: the delivery with its last attempt
			a := attempt(1 + pick(4))
			attempts = append(attempts, a)
			if err := l.RecordOutcome(ctx, a, d); err != nil {
				t.Fatal(err)
			}
		case 1: // attempts first
			for range pick(3) {
				a := attempt(1 + pick(4))
				attempts = append(attempts, a)
				dlogMustAttempt(t, l, a)
			}
			dlogMustRecord(t, l, d)
		default: // the delivery first, attempts after it
			dlogMustRecord(t, l, d)
			for range pick(4) {
				a := attempt(1 + pick(4))
				attempts = append(attempts, a)
				dlogMustAttempt(t, l, a)
			}
		}
		all = append(all, kept{d: d, attempts: attempts})
	}

	for _, k := range all {
		want := k.d
		if want.Outcome == webhooks.OutcomeDelivered {
			want.Payload = nil
		}
		want.OccurredAt, want.CreatedAt, want.CompletedAt = want.OccurredAt.Round(0), want.CreatedAt.Round(0), want.CompletedAt.Round(0)
		want.WebhookCreatedAt = want.WebhookCreatedAt.Round(0)
		got, err := l.Delivery(ctx, want.ID)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("Delivery(%s) = %+v, %v; want %+v", want.ID, got, err, want)
		}
		list := dlogDeliveries(t, l, webhooks.DeliveryQuery{WebhookID: want.WebhookID, EventID: want.EventID, Outcome: want.Outcome})
		if i := slices.IndexFunc(list, func(d webhooks.DeliveryRecord) bool { return d.ID == want.ID }); i < 0 || !reflect.DeepEqual(list[i], want) {
			t.Fatalf("Deliveries lists %s as %+v (at %d); want %+v", want.ID, list, i, want)
		}

		wantAttempts := []webhooks.Attempt{}
		for _, a := range k.attempts {
			if slices.ContainsFunc(wantAttempts, func(w webhooks.Attempt) bool { return w.Number == a.Number }) {
				continue // the first attempt of a number stays
			}
			a.StartedAt = a.StartedAt.Round(0)
			if len(a.ResponseBody) > webhooks.MaxLoggedResponseBytes {
				a.ResponseBody = a.ResponseBody[:webhooks.MaxLoggedResponseBytes]
			}
			i := len(wantAttempts)
			for i > 0 && wantAttempts[i-1].Number > a.Number {
				i--
			}
			wantAttempts = slices.Insert(wantAttempts, i, a)
		}
		gotAttempts, err := l.Attempts(ctx, want.ID)
		if err != nil || !reflect.DeepEqual(gotAttempts, wantAttempts) {
			t.Fatalf("Attempts(%s) = %+v, %v; want %+v", want.ID, gotAttempts, err, wantAttempts)
		}
	}
}

// TestDeliveryQueryValidateNamesEveryProblem: a query wrong in several ways
// is told all of them at once, as Webhook.Validate does.
func TestDeliveryQueryValidateNamesEveryProblem(t *testing.T) {
	q := webhooks.DeliveryQuery{Outcome: "lost", Outcomes: []webhooks.Outcome{webhooks.OutcomeDelivered, "gone"}, Limit: -1}
	err := q.Validate()
	if !errors.Is(err, webhooks.ErrInvalidDeliveryQuery) || !errors.Is(err, webhooks.ErrUnknownOutcome) {
		t.Fatalf("Validate = %v, want ErrInvalidDeliveryQuery and ErrUnknownOutcome", err)
	}
	for _, want := range []string{"both Outcome and Outcomes", `"lost"`, `"gone"`, "negative limit -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %q, which does not say %s", err, want)
		}
	}
	q = webhooks.DeliveryQuery{Outcome: webhooks.OutcomeDelivered, Outcomes: []webhooks.Outcome{webhooks.OutcomeDelivered}}
	if err := q.Validate(); !errors.Is(err, webhooks.ErrInvalidDeliveryQuery) || errors.Is(err, webhooks.ErrUnknownOutcome) {
		t.Errorf("Validate with both set = %v, want ErrInvalidDeliveryQuery alone", err)
	}
	if err := (webhooks.DeliveryQuery{Outcomes: []webhooks.Outcome{webhooks.OutcomeSkipped}, Limit: 3}).Validate(); err != nil {
		t.Errorf("Validate of a valid query = %v", err)
	}
}
