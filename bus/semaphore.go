package bus

import (
	"container/list"
	"context"
	"fmt"
	"sync"
)

// semaphore is a weighted counting semaphore with FIFO waiters, fail-fast
// acquisition, forced acquisition beyond the size, a closed state that fails
// waiters, and a wait for the count to reach zero. The bus uses one to bound
// the (event, handler) pairs pending on the in-memory transport.
type semaphore struct {
	mu      sync.Mutex
	size    int64
	cur     int64
	closed  bool
	waiters list.List     // of *semWaiter, oldest first
	idle    chan struct{} // closed when cur reaches zero; nil while nobody waits for it
}

type semWaiter struct {
	n     int64
	ready chan error // buffered: the grant never blocks
}

func newSemaphore(size int64) *semaphore {
	return &semaphore{size: size}
}

// acquire takes n units. When they are not available it returns ErrFull at once
// if wait is false, else waits for them in FIFO order until ctx ends (returning
// ctx.Err()) or the semaphore is closed (returning ErrClosed).
func (s *semaphore) acquire(ctx context.Context, n int64, wait bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.cur+n <= s.size && s.waiters.Len() == 0 {
		s.cur += n
		s.mu.Unlock()
		return nil
	}
	if n > s.size {
		s.mu.Unlock()
		return fmt.Errorf("%w: an event with %d handlers needs more than MaxPending (%d)", ErrFull, n, s.size)
	}
	if !wait {
		s.mu.Unlock()
		return ErrFull
	}
	if err := ctx.Err(); err != nil {
		s.mu.Unlock()
		return err
	}
	w := &semWaiter{n: n, ready: make(chan error, 1)}
	elem := s.waiters.PushBack(w)
	s.mu.Unlock()

	select {
	case err := <-w.ready:
		return err
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case err := <-w.ready:
		if err == nil {
			// Granted while ctx ended: give the units back, as if never granted.
			s.releaseLocked(n)
		}
	default:
		front := s.waiters.Front() == elem
		s.waiters.Remove(elem)
		if front {
			// The next waiter may fit now that this one no longer blocks it.
			s.grantLocked()
		}
	}
	return ctx.Err()
}

// tryAcquire takes n units if they are available without waiting, even after
// close.
func (s *semaphore) tryAcquire(n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur+n <= s.size && s.waiters.Len() == 0 {
		s.cur += n
		return true
	}
	return false
}

// force takes n units even beyond the size or after close. Dead letters use it:
// they must never wait for units held by the events they come from.
func (s *semaphore) force(n int64) {
	s.mu.Lock()
	s.cur += n
	s.mu.Unlock()
}

// release returns n units.
func (s *semaphore) release(n int64) {
	s.mu.Lock()
	s.releaseLocked(n)
	s.mu.Unlock()
}

// close fails current and future acquisitions with ErrClosed. Release, force
// and waitIdle keep working.
func (s *semaphore) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for e := s.waiters.Front(); e != nil; e = e.Next() {
		e.Value.(*semWaiter).ready <- ErrClosed
	}
	s.waiters.Init()
}

// waitIdle waits until no unit is held, or ctx ends.
func (s *semaphore) waitIdle(ctx context.Context) error {
	s.mu.Lock()
	if s.cur == 0 {
		s.mu.Unlock()
		return nil
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
	idle := s.idle
	s.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// inUse returns the number of units held.
func (s *semaphore) inUse() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

func (s *semaphore) releaseLocked(n int64) {
	s.cur -= n
	if s.cur < 0 {
		panic("bus: semaphore released more than held")
	}
	s.grantLocked()
	if s.cur == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// grantLocked hands units to waiters in FIFO order while the oldest fits.
func (s *semaphore) grantLocked() {
	for e := s.waiters.Front(); e != nil; e = s.waiters.Front() {
		w := e.Value.(*semWaiter)
		if s.cur+w.n > s.size {
			return
		}
		s.cur += w.n
		s.waiters.Remove(e)
		w.ready <- nil
	}
}
