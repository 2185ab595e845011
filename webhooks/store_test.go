package webhooks_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// The full Store contract is checked by webhookstest.TestStore, run on
// MemoryStore in package webhookstest. These tests cover what is specific to
// MemoryStore.

func TestMemoryStoreDropsMonotonicClock(t *testing.T) {
	s := webhooks.NewMemoryStore()
	now := time.Now() // carries a monotonic reading
	w := validWebhook()
	w.CreatedAt, w.UpdatedAt, w.PreviousSecrets[0].ExpiresAt = now, now, now
	if err := s.Create(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(t.Context(), w.ID)
	if err != nil {
		t.Fatal(err)
	}
	wall := now.Round(0)
	if got.CreatedAt != wall || got.UpdatedAt != wall || got.PreviousSecrets[0].ExpiresAt != wall {
		t.Errorf("stored times keep their monotonic reading: %v, %v, %v", got.CreatedAt, got.UpdatedAt, got.PreviousSecrets[0].ExpiresAt)
	}
}

func TestMemoryStoreDeadline(t *testing.T) {
	s := webhooks.NewMemoryStore()
	ctx, cancel := context.WithDeadline(t.Context(), time.Unix(0, 0))
	defer cancel()
	if _, err := s.ListEnabled(ctx, webhooks.MeetingStatusChangedEvent); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ListEnabled after the deadline = %v, want DeadlineExceeded", err)
	}
}

func TestMemoryStoreZeroValueIDs(t *testing.T) {
	// The store treats ids as opaque keys, the empty one included.
	s := webhooks.NewMemoryStore()
	w := validWebhook()
	w.ID = ""
	if err := s.Create(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(t.Context(), w); !errors.Is(err, webhooks.ErrConflict) {
		t.Errorf("second Create = %v, want ErrConflict", err)
	}
}

// TestMemoryStoreIndexes applies a random sequence of writes, with a fixed
// seed, to a MemoryStore and to a plain map, and checks after each one that
// List and ListEnabled agree with the map.
func TestMemoryStoreIndexes(t *testing.T) {
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	s := webhooks.NewMemoryStore()
	model := map[string]webhooks.Webhook{}
	types := webhooks.EventTypes()
	base := time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)

	random := func(id string) webhooks.Webhook {
		w := validWebhook()
		w.ID = id
		w.EventType = types[rng.IntN(len(types))]
		w.Disabled = rng.IntN(4) == 0
		w.CreatedAt = base.Add(time.Duration(rng.IntN(20)) * time.Second) // many ties
		return w
	}
	for step := range 600 {
		id := fmt.Sprintf("wh-%02d", rng.IntN(40))
		_, exists := model[id]
		var err error
		switch op := rng.IntN(3); {
		case op == 0 && !exists:
			w := random(id)
			err = s.Create(ctx, w)
			model[id] = w
		case op == 0 || op == 1:
			w := random(id)
			err = s.Update(ctx, w)
			if exists {
				model[id] = w
			} else if errors.Is(err, webhooks.ErrNotFound) {
				err = nil
			}
		default:
			err = s.Delete(ctx, id)
			if exists {
				delete(model, id)
			} else if errors.Is(err, webhooks.ErrNotFound) {
				err = nil
			}
		}
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}

		want := slices.SortedFunc(func(yield func(webhooks.Webhook) bool) {
			for _, w := range model {
				if !yield(w) {
					return
				}
			}
		}, func(a, b webhooks.Webhook) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			if a.ID < b.ID {
				return -1
			}
			return 1
		})
		list, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ids(list), ids(want); !slices.Equal(got, want) {
			t.Fatalf("step %d: List = %q, want %q", step, got, want)
		}
		for _, et := range types {
			enabled, err := s.ListEnabled(ctx, et)
			if err != nil {
				t.Fatal(err)
			}
			wantEnabled := slices.DeleteFunc(slices.Clone(want), func(w webhooks.Webhook) bool {
				return w.Disabled || w.EventType != et
			})
			if got, want := ids(enabled), ids(wantEnabled); !slices.Equal(got, want) {
				t.Fatalf("step %d: ListEnabled(%s) = %q, want %q", step, et, got, want)
			}
		}
	}
}

func BenchmarkMemoryStoreListEnabled(b *testing.B) {
	s := webhooks.NewMemoryStore()
	types := webhooks.EventTypes()
	for i := range 300 {
		w := validWebhook()
		w.ID = fmt.Sprintf("wh-%03d", i)
		w.EventType = types[i%len(types)]
		if err := s.Create(b.Context(), w); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.ListEnabled(b.Context(), webhooks.MeetingStatusChangedEvent); err != nil {
			b.Fatal(err)
		}
	}
}

func ids(list []webhooks.Webhook) []string {
	out := make([]string, len(list))
	for i, w := range list {
		out[i] = w.ID
	}
	return out
}
