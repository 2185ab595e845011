package bus

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSemaphoreFailFast(t *testing.T) {
	s := newSemaphore(3)
	ctx := context.Background()
	if err := s.acquire(ctx, 2, false); err != nil {
		t.Fatalf("acquire 2 of 3: %v", err)
	}
	if err := s.acquire(ctx, 2, false); !errors.Is(err, ErrFull) {
		t.Fatalf("acquire 2 more without waiting = %v, want ErrFull", err)
	}
	if err := s.acquire(ctx, 4, true); !errors.Is(err, ErrFull) {
		t.Fatalf("acquire more than the size = %v, want ErrFull", err)
	}
	if err := s.acquire(ctx, 1, false); err != nil {
		t.Fatalf("acquire the last unit: %v", err)
	}
	if got := s.inUse(); got != 3 {
		t.Fatalf("inUse = %d, want 3", got)
	}
}

func TestSemaphoreWaitersAreServedInOrder(t *testing.T) {
	s := newSemaphore(2)
	ctx := context.Background()
	if err := s.acquire(ctx, 2, true); err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 2)
	big := make(chan error, 1)
	go func() { big <- s.acquire(ctx, 2, true); order <- 2 }()
	waitForWaiters(t, s, 1)
	small := make(chan error, 1)
	go func() { small <- s.acquire(ctx, 1, true); order <- 1 }()
	waitForWaiters(t, s, 2)

	s.release(1) // room for the small one, but the big one is first in line
	select {
	case err := <-small:
		t.Fatalf("later, smaller waiter served first (%v)", err)
	case <-time.After(20 * time.Millisecond):
	}
	s.release(1)
	if err := <-big; err != nil {
		t.Fatal(err)
	}
	s.release(2)
	if err := <-small; err != nil {
		t.Fatal(err)
	}
	if first, second := <-order, <-order; first != 2 || second != 1 {
		t.Fatalf("served %d then %d, want 2 then 1", first, second)
	}
}

func TestSemaphoreContextEndsWait(t *testing.T) {
	s := newSemaphore(1)
	if err := s.acquire(context.Background(), 1, true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := s.acquire(ctx, 1, true); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire = %v, want context.DeadlineExceeded", err)
	}
	if s.waiters.Len() != 0 {
		t.Fatalf("%d waiters left after the context ended", s.waiters.Len())
	}
	s.release(1)
	if got := s.inUse(); got != 0 {
		t.Fatalf("inUse = %d, want 0", got)
	}
}

func TestSemaphoreCancelledHeadUnblocksNext(t *testing.T) {
	s := newSemaphore(2)
	if err := s.acquire(context.Background(), 1, true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	head := make(chan error, 1)
	go func() { head <- s.acquire(ctx, 2, true) }() // cannot fit while 1 is held
	waitForWaiters(t, s, 1)
	next := make(chan error, 1)
	go func() { next <- s.acquire(context.Background(), 1, true) }() // fits, but queued behind head
	waitForWaiters(t, s, 2)
	cancel()
	if err := <-head; !errors.Is(err, context.Canceled) {
		t.Fatalf("head = %v, want context.Canceled", err)
	}
	select {
	case err := <-next:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("next waiter not served after the head gave up")
	}
}

func TestSemaphoreCloseFailsWaiters(t *testing.T) {
	s := newSemaphore(1)
	if err := s.acquire(context.Background(), 1, true); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() { waiting <- s.acquire(context.Background(), 1, true) }()
	waitForWaiters(t, s, 1)
	s.close()
	if err := <-waiting; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiter = %v, want ErrClosed", err)
	}
	if err := s.acquire(context.Background(), 1, false); !errors.Is(err, ErrClosed) {
		t.Fatalf("acquire after close = %v, want ErrClosed", err)
	}
	s.release(1)
	if !s.tryAcquire(1) || s.tryAcquire(1) {
		t.Fatal("tryAcquire after close: want the free unit, then no more")
	}
	s.force(2) // still counted after close
	if got := s.inUse(); got != 3 {
		t.Fatalf("inUse = %d, want 3", got)
	}
}

func TestSemaphoreWaitIdle(t *testing.T) {
	s := newSemaphore(5)
	if err := s.waitIdle(context.Background()); err != nil {
		t.Fatalf("waitIdle on an idle semaphore: %v", err)
	}
	s.force(7) // beyond the size
	idle := make(chan error, 1)
	go func() { idle <- s.waitIdle(context.Background()) }()
	s.release(3)
	select {
	case err := <-idle:
		t.Fatalf("waitIdle returned %v with units held", err)
	case <-time.After(20 * time.Millisecond):
	}
	s.release(4)
	if err := <-idle; err != nil {
		t.Fatal(err)
	}
	s.force(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := s.waitIdle(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waitIdle = %v, want context.DeadlineExceeded", err)
	}
}

func waitForWaiters(t *testing.T, s *semaphore, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		got := s.waiters.Len()
		s.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}
