package bustest

import (
	"context"
	"sync"
)

// Recorder collects the values a handler receives, so that a test can wait for
// them. Its Handle method has the shape bus.Handle, bus.HandleRaw and
// bus.HandleDeadLetters take. A Recorder is safe for concurrent use; make it
// with NewRecorder.
type Recorder[T any] struct {
	mu      sync.Mutex
	got     []T
	changed chan struct{} // closed and replaced at every Record
}

// NewRecorder returns an empty Recorder.
func NewRecorder[T any]() *Recorder[T] {
	return &Recorder[T]{changed: make(chan struct{})}
}

// Handle records v and returns nil.
func (r *Recorder[T]) Handle(_ context.Context, v T) error {
	r.Record(v)
	return nil
}

// Record appends v.
func (r *Recorder[T]) Record(v T) {
	r.mu.Lock()
	r.got = append(r.got, v)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Len returns how many values were recorded.
func (r *Recorder[T]) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// All returns a copy of the values recorded so far, in order.
func (r *Recorder[T]) All() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.got...)
}

// Wait waits until at least n values are recorded and returns them all. When
// ctx ends first it returns those recorded so far and ctx.Err().
func (r *Recorder[T]) Wait(ctx context.Context, n int) ([]T, error) {
	for {
		r.mu.Lock()
		if len(r.got) >= n {
			got := append([]T(nil), r.got...)
			r.mu.Unlock()
			return got, nil
		}
		changed := r.changed
		r.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return r.All(), ctx.Err()
		}
	}
}
