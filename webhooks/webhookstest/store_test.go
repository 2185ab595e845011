package webhookstest_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/webhookstest"
)

func TestMemoryStore(t *testing.T) {
	webhookstest.TestStore(t, func(*testing.T) webhooks.Store {
		return webhooks.NewMemoryStore()
	})
}

type brokenStore struct {
	subtest string // the subtest of the suite that must fail
	store   func() webhooks.Store
}

// brokenStores returns stores that each break one rule of the Store
// contract, by name.
func brokenStores() map[string]brokenStore {
	return map[string]brokenStore{
		"unordered": {"ListOrder", func() webhooks.Store {
			return unorderedStore{webhooks.NewMemoryStore()}
		}},
		"lists-disabled": {"ListEnabled", func() webhooks.Store {
			return listsDisabledStore{webhooks.NewMemoryStore()}
		}},
		"overwrites": {"CreateDuplicateID", func() webhooks.Store {
			return overwritingStore{webhooks.NewMemoryStore()}
		}},
		"shares-values": {"ReturnsCopies", func() webhooks.Store {
			return &sharingStore{MemoryStore: webhooks.NewMemoryStore(), last: map[string]webhooks.Webhook{}}
		}},
		"ignores-context": {"CancelledContext", func() webhooks.Store {
			return contextIgnoringStore{webhooks.NewMemoryStore()}
		}},
	}
}

const brokenStoreEnv = "WEBHOOKSTEST_BROKEN_STORE"

// TestStoreDetectsBrokenStores runs the suite on each broken store in a
// child process (a failing suite fails its *testing.T) and checks that it
// fails, and in the expected subtest.
func TestStoreDetectsBrokenStores(t *testing.T) {
	subtests := map[string]string{}
	for name, b := range brokenStores() {
		subtests[name] = b.subtest
	}
	checkSuiteFails(t, brokenStoreEnv, "TestBrokenStoreChild", subtests)
}

// TestBrokenStoreChild runs the suite on the broken store named by the
// environment, in a child process of TestStoreDetectsBrokenStores; it is
// expected to fail there. Run directly, it does nothing.
func TestBrokenStoreChild(t *testing.T) {
	name := os.Getenv(brokenStoreEnv)
	if name == "" {
		return
	}
	broken, ok := brokenStores()[name]
	if !ok {
		t.Fatalf("unknown broken store %q", name)
	}
	webhookstest.TestStore(t, func(*testing.T) webhooks.Store { return broken.store() })
}

// unorderedStore lists in reverse order.
type unorderedStore struct{ *webhooks.MemoryStore }

func (s unorderedStore) List(ctx context.Context) ([]webhooks.Webhook, error) {
	list, err := s.MemoryStore.List(ctx)
	slices.Reverse(list)
	return list, err
}

// listsDisabledStore forgets to filter out disabled webhooks.
type listsDisabledStore struct{ *webhooks.MemoryStore }

func (s listsDisabledStore) ListEnabled(ctx context.Context, t webhooks.EventType) ([]webhooks.Webhook, error) {
	list, err := s.MemoryStore.List(ctx)
	return slices.DeleteFunc(list, func(w webhooks.Webhook) bool { return w.EventType != t }), err
}

// overwritingStore creates by overwriting an existing webhook.
type overwritingStore struct{ *webhooks.MemoryStore }

func (s overwritingStore) Create(ctx context.Context, w webhooks.Webhook) error {
	if err := s.MemoryStore.Update(ctx, w); err == nil {
		return nil
	}
	return s.MemoryStore.Create(ctx, w)
}

// sharingStore hands every caller of Get the same Headers map.
type sharingStore struct {
	*webhooks.MemoryStore
	mu   sync.Mutex
	last map[string]webhooks.Webhook
}

func (s *sharingStore) Get(ctx context.Context, id string) (webhooks.Webhook, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.last[id]; ok {
		return w, nil
	}
	w, err := s.MemoryStore.Get(ctx, id)
	if err == nil {
		s.last[id] = w
	}
	return w, err
}

// contextIgnoringStore drops the caller's context.
type contextIgnoringStore struct{ *webhooks.MemoryStore }

func (s contextIgnoringStore) Create(ctx context.Context, w webhooks.Webhook) error {
	return s.MemoryStore.Create(context.WithoutCancel(ctx), w)
}
