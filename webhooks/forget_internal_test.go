package webhooks

import (
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
