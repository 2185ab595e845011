package webhooks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Errors of a Store.
var (
	// ErrNotFound reports a webhook id the store does not hold.
	ErrNotFound = errors.New("webhooks: webhook not found")
	// ErrConflict reports a webhook id the store already holds.
	ErrConflict = errors.New("webhooks: webhook already exists")
	// ErrStale reports a webhook that another writer changed since it was
	// read (VersionedStore.UpdateVersion, Service.Update).
	ErrStale = errors.New("webhooks: webhook changed since it was read")
)

// Store persists webhooks.
//
// Implementations must be safe for concurrent use. Values passed in and
// returned are copies: a caller mutating a Webhook (including its Headers map
// or PreviousSecrets slice) after passing it in, or after getting it back,
// changes neither the store nor what other callers observe.
//
// A Store neither validates webhooks nor generates ids: the layer above it
// does both. Every method returns ctx.Err() (possibly wrapped) when ctx is
// done before the operation completes. Errors other than ErrNotFound,
// ErrConflict, ErrStale and context errors are failures of the backing
// storage.
//
// The package webhookstest provides a conformance suite for implementations.
type Store interface {
	// Create stores w under w.ID, which the caller sets. It fails with
	// ErrConflict if a webhook with that id exists.
	Create(ctx context.Context, w Webhook) error
	// Get returns the webhook with the given id, or ErrNotFound.
	Get(ctx context.Context, id string) (Webhook, error)
	// Update replaces the stored webhook with w.ID by w, every field
	// included. It fails with ErrNotFound if there is none.
	Update(ctx context.Context, w Webhook) error
	// Delete removes the webhook with the given id, or fails with
	// ErrNotFound.
	Delete(ctx context.Context, id string) error
	// List returns every webhook ordered by CreatedAt, then by ID.
	List(ctx context.Context) ([]Webhook, error)
	// ListEnabled returns the webhooks of event type t that are not
	// Disabled, in the order of List.
	ListEnabled(ctx context.Context, t EventType) ([]Webhook, error)
	// ListByEventType returns every webhook of event type t, disabled ones
	// included, in the order of List. The dispatcher calls it for every
	// published event (a disabled webhook's deliveries are recorded as
	// skipped), so implementations should make it cheap.
	ListByEventType(ctx context.Context, t EventType) ([]Webhook, error)
}

// VersionedStore is a Store that replaces a webhook only if it is still the
// version that was read. Replicas of a Service sharing one store then do not
// undo each other's changes (two rotations of a secret at once, a Disable
// and an Update): the Service reads the newer version and makes its change
// to it. MemoryStore and the PostgreSQL store are VersionedStores; with a
// Store that is not, the last write wins.
type VersionedStore interface {
	Store
	// UpdateVersion replaces the stored webhook with w.ID by w, as Update
	// does, if the stored one's CreatedAt and UpdatedAt are createdAt and
	// updatedAt. It fails with ErrNotFound if there is none and with
	// ErrStale if they differ.
	UpdateVersion(ctx context.Context, w Webhook, createdAt, updatedAt time.Time) error
}

// MemoryStore is a Store that keeps webhooks in memory, for a single
// process and for tests. Like a database column, it keeps the wall-clock part
// of CreatedAt, UpdatedAt and PreviousSecrets' ExpiresAt and drops monotonic
// clock readings.
//
// Reads take a shared lock and copy; writes keep an index of the webhooks of
// each event type, so ListByEventType costs one copy of its result.
// A MemoryStore is safe for concurrent use. Its zero value is not usable:
// create one with NewMemoryStore.
type MemoryStore struct {
	mu   sync.RWMutex
	byID map[string]Webhook
	// all holds every webhook and byType those of each event type, both
	// ordered by CreatedAt then ID. They share Headers maps and
	// PreviousSecrets slices with byID: stored values are never modified in
	// place, only replaced, and are cloned on the way out.
	all    []Webhook
	byType map[EventType][]Webhook
}

var _ VersionedStore = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		byID:   make(map[string]Webhook),
		byType: make(map[EventType][]Webhook),
	}
}

// Create implements Store.
func (s *MemoryStore) Create(ctx context.Context, w Webhook) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w = storedCopy(w)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[w.ID]; ok {
		return fmt.Errorf("%w: id %q", ErrConflict, w.ID)
	}
	s.insert(w)
	return nil
}

// Get implements Store.
func (s *MemoryStore) Get(ctx context.Context, id string) (Webhook, error) {
	if err := ctx.Err(); err != nil {
		return Webhook{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	w, ok := s.byID[id]
	if !ok {
		return Webhook{}, fmt.Errorf("%w: id %q", ErrNotFound, id)
	}
	return w.Clone(), nil
}

// Update implements Store.
func (s *MemoryStore) Update(ctx context.Context, w Webhook) error {
	return s.replace(ctx, w, func(Webhook) bool { return true })
}

// UpdateVersion implements VersionedStore.
func (s *MemoryStore) UpdateVersion(ctx context.Context, w Webhook, createdAt, updatedAt time.Time) error {
	return s.replace(ctx, w, func(old Webhook) bool {
		return old.CreatedAt.Equal(createdAt) && old.UpdatedAt.Equal(updatedAt)
	})
}

// replace replaces the stored webhook with w.ID by w if current says the
// stored one may be replaced, and fails with ErrStale if not.
func (s *MemoryStore) replace(ctx context.Context, w Webhook, current func(old Webhook) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w = storedCopy(w)
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byID[w.ID]
	if !ok {
		return fmt.Errorf("%w: id %q", ErrNotFound, w.ID)
	}
	if !current(old) {
		return fmt.Errorf("%w: id %q", ErrStale, w.ID)
	}
	s.remove(old)
	s.insert(w)
	return nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byID[id]
	if !ok {
		return fmt.Errorf("%w: id %q", ErrNotFound, id)
	}
	s.remove(old)
	return nil
}

// List implements Store.
func (s *MemoryStore) List(ctx context.Context) ([]Webhook, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return cloneAll(s.all), nil
}

// ListEnabled implements Store.
func (s *MemoryStore) ListEnabled(ctx context.Context, t EventType) ([]Webhook, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	list := s.byType[t]
	out := make([]Webhook, 0, len(list))
	for _, w := range list {
		if !w.Disabled {
			out = append(out, w.Clone())
		}
	}
	return out, nil
}

// ListByEventType implements Store.
func (s *MemoryStore) ListByEventType(ctx context.Context, t EventType) ([]Webhook, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return cloneAll(s.byType[t]), nil
}

// sharedByType returns the webhooks of type t as ListByEventType would, but
// without copying them: the slice is never modified, and the caller must not
// modify it or the webhooks' maps and slices either. The delivery engine
// reads it once per event.
func (s *MemoryStore) sharedByType(t EventType) []Webhook {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byType[t]
}

// insert adds w, which is not stored yet, to every index. The caller holds
// the write lock.
func (s *MemoryStore) insert(w Webhook) {
	s.byID[w.ID] = w
	s.all = insertOrdered(s.all, w)
	s.byType[w.EventType] = insertOrdered(s.byType[w.EventType], w)
}

// remove deletes w, the stored value, from every index. The caller holds the
// write lock.
func (s *MemoryStore) remove(w Webhook) {
	delete(s.byID, w.ID)
	s.all = removeOrdered(s.all, w)
	if list := removeOrdered(s.byType[w.EventType], w); len(list) == 0 {
		delete(s.byType, w.EventType)
	} else {
		s.byType[w.EventType] = list
	}
}

// storedCopy returns the value to keep for w: a deep copy without monotonic
// clock readings.
func storedCopy(w Webhook) Webhook {
	w = w.Clone()
	w.CreatedAt = w.CreatedAt.Round(0)
	w.UpdatedAt = w.UpdatedAt.Round(0)
	for i := range w.PreviousSecrets {
		w.PreviousSecrets[i].ExpiresAt = w.PreviousSecrets[i].ExpiresAt.Round(0)
	}
	return w
}

// compareOrder orders webhooks by CreatedAt, then ID: the order of List.
func compareOrder(a, b Webhook) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// insertOrdered and removeOrdered return a new slice and never write to
// list: a list handed out by sharedByType stays as it was.
func insertOrdered(list []Webhook, w Webhook) []Webhook {
	i, _ := slices.BinarySearchFunc(list, w, compareOrder)
	return slices.Insert(slices.Clip(list), i, w)
}

func removeOrdered(list []Webhook, w Webhook) []Webhook {
	i, found := slices.BinarySearchFunc(list, w, compareOrder)
	if !found {
		return list
	}
	return slices.Concat(list[:i], list[i+1:])
}

func cloneAll(list []Webhook) []Webhook {
	out := make([]Webhook, len(list))
	for i, w := range list {
		out[i] = w.Clone()
	}
	return out
}
