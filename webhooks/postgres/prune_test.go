package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/postgres"
)

func TestPrune(t *testing.T) {
	t.Parallel()
	// A batch size of 2 makes Prune loop over several batches.
	l := newDeliveryLog(t, testDB(t), postgres.LogOptions{PruneBatchSize: 2})
	ctx := t.Context()
	// Deliveries dlv-00 to dlv-09 complete at minutes 0 to 9, each with two
	// attempts started before it completes.
	for i := range 10 {
		id := fmt.Sprintf("dlv-%02d", i)
		for n := 1; n <= 2; n++ {
			if err := l.RecordAttempt(ctx, attempt(id, n, i-3)); err != nil {
				t.Fatalf("RecordAttempt = %v", err)
			}
		}
		if err := l.RecordDelivery(ctx, record(id, i)); err != nil {
			t.Fatalf("RecordDelivery = %v", err)
		}
	}
	// Attempts without a recorded delivery: one old, one recent.
	for _, a := range []webhooks.Attempt{attempt("orphan-old", 1, 0), attempt("orphan-new", 1, 7)} {
		if err := l.RecordAttempt(ctx, a); err != nil {
			t.Fatalf("RecordAttempt = %v", err)
		}
	}

	cut := record("", 5).CompletedAt // deliveries dlv-00 to dlv-04 are older
	n, err := l.Prune(ctx, cut)
	if err != nil {
		t.Fatalf("Prune = %d, %v", n, err)
	}
	if n != 5 {
		t.Errorf("Prune deleted %d deliveries, want 5", n)
	}
	list, err := l.Deliveries(ctx, webhooks.DeliveryQuery{})
	if err != nil {
		t.Fatalf("Deliveries = %v", err)
	}
	var ids []string
	for _, d := range list {
		ids = append(ids, d.ID)
	}
	if want := []string{"dlv-05", "dlv-06", "dlv-07", "dlv-08", "dlv-09"}; !slices.Equal(ids, want) {
		t.Errorf("deliveries after Prune = %q, want %q", ids, want)
	}
	wantAttempts := map[string]int{
		"dlv-00": 0, "dlv-04": 0, "orphan-old": 0,
		// dlv-05 completed at the cut, although its attempts started before.
		"dlv-05": 2, "dlv-09": 2, "orphan-new": 1,
	}
	for id, want := range wantAttempts {
		got, err := l.Attempts(ctx, id)
		if err != nil {
			t.Fatalf("Attempts(%q) = %v", id, err)
		}
		if len(got) != want {
			t.Errorf("Attempts(%q) after Prune: %d, want %d", id, len(got), want)
		}
	}

	if n, err := l.Prune(ctx, cut); err != nil || n != 0 {
		t.Errorf("second Prune = %d, %v; want 0, nil", n, err)
	}
}

func TestPruneCancelledContext(t *testing.T) {
	t.Parallel()
	l := newDeliveryLog(t, testDB(t), postgres.LogOptions{})
	if err := l.RecordDelivery(t.Context(), record("dlv-1", 0)); err != nil {
		t.Fatalf("RecordDelivery = %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if n, err := l.Prune(ctx, time.Now()); !errors.Is(err, context.Canceled) || n != 0 {
		t.Errorf("Prune with a cancelled context = %d, %v; want 0 and context.Canceled", n, err)
	}
	if _, err := l.Delivery(t.Context(), "dlv-1"); err != nil {
		t.Errorf("Delivery after a cancelled Prune = %v", err)
	}
}
