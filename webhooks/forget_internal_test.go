package webhooks

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bus"
)

// A host that creates and deletes webhooks all day does not fill the
// Service's memory: the ids of deleted webhooks are forgotten once
// forgetDeletedAfter has passed, while the latest ones are kept.
func TestDeletedIDsAreForgotten(t *testing.T) {
	b, err := bus.New(bus.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}
	s, err := New(b, Config{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })
	const cycles = 2000
	var last string
	for range cycles {
		w, err := s.Create(t.Context(), Webhook{Name: "n", URL: "https://example.com/in", EventType: MeetingStatusChangedEvent})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(t.Context(), w.ID); err != nil {
			t.Fatal(err)
		}
		last = w.ID
		mu.Lock()
		clock = clock.Add(time.Minute)
		mu.Unlock()
	}
	s.mu.Lock()
	nd, ng, nl := len(s.deleted), len(s.generations), len(s.deletions)
	_, kept := s.deleted[last]
	s.mu.Unlock()
	if limit := int(forgetDeletedAfter/time.Minute) + 2; nd > limit || ng > limit || nl > limit {
		t.Errorf("after %d webhooks created and deleted a minute apart, %d deleted ids, %d generations and %d deletions kept; want at most %d", cycles, nd, ng, nl, limit)
	}
	if !kept {
		t.Error("the id deleted last was forgotten at once")
	}
}

// A queue's ring grows as deliveries queue up, keeps their order, holds at
// most the queue size, and is let go once empty after growing.
func TestQueueRingGrowsAndShrinks(t *testing.T) {
	const size = 100
	s := newScheduler(1, size, 1, nil) // no worker runs: it starts with enqueue
	var q queue
	next, out := 0, 0
	push := func(n int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for range n {
			s.push(&q, &delivery{id: strconv.Itoa(next)})
			next++
		}
	}
	pop := func(n int) {
		for range n {
			if d := q.pop(); d.id != strconv.Itoa(out) {
				t.Fatalf("popped %s, want %d", d.id, out)
			}
			out++
		}
	}
	push(5)
	pop(3)
	if len(q.items) != minRing {
		t.Errorf("ring of %d for 5 deliveries, want %d", len(q.items), minRing)
	}
	push(size - 2) // wraps around, then grows to the queue size
	if len(q.items) != size || q.n != size {
		t.Errorf("ring of %d holding %d, want %d full", len(q.items), q.n, size)
	}
	pop(size - 1)
	if q.items == nil {
		t.Error("ring let go while not empty")
	}
	pop(1)
	if q.items != nil {
		t.Errorf("empty ring of %d kept after growing", len(q.items))
	}
	push(3)
	pop(3)
	if len(q.items) != minRing {
		t.Errorf("ring of %d after a small batch, want %d kept", len(q.items), minRing)
	}
}
