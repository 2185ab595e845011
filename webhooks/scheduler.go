package webhooks

import (
	"cmp"
	"context"
	"fmt"
	"sync"

	"github.com/hookbus/hookbus/bus"
)

// scheduler runs deliveries on a fixed pool of workers. Every webhook has its
// own bounded FIFO queue and a limit on deliveries in flight; webhooks with
// work wait their turn in a ready ring, so a worker serves them round-robin
// and a slow webhook can hold at most its own limit of workers. Memory is
// bounded by the queue sizes; goroutines by the worker count.
type scheduler struct {
	workers    int
	queueSize  int
	perWebhook int
	run        func(context.Context, *delivery)

	mu       sync.Mutex
	work     sync.Cond // signalled when a queue becomes ready or on stop
	space    sync.Cond // broadcast when a full queue loses an item
	idle     sync.Cond // broadcast when nothing is queued, in flight or being tested
	ready    ring      // FIFO of queues with work and spare concurrency
	queued   int       // deliveries waiting in queues
	inflight int       // deliveries being run
	tests    int       // test sends running (beginTest)
	waiting  int       // enqueuers blocked on a full queue
	closed   bool      // no more enqueues
	started  bool      // workers running
	stopped  bool      // workers exit

	ctx    context.Context // given to every run; cancelled by hardStop
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// queue is one webhook's share of the scheduler; its fields are guarded by
// the scheduler's mutex.
type queue struct {
	// items is a ring buffer that grows as deliveries queue up, to at most
	// queueSize, and is let go once it is empty again after growing: a
	// webhook with little queued costs little memory, however many there
	// are.
	items    []*delivery
	head, n  int
	inflight int
	inReady  bool
}

// newScheduler returns a scheduler whose workers start with the first
// enqueue, so that a scheduler nobody uses costs no goroutines.
func newScheduler(workers, queueSize, perWebhook int, run func(context.Context, *delivery)) *scheduler {
	s := &scheduler{workers: workers, queueSize: queueSize, perWebhook: perWebhook, run: run}
	s.work.L, s.space.L, s.idle.L = &s.mu, &s.mu, &s.mu
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// startWorkers starts the pool once. The caller holds s.mu.
func (s *scheduler) startWorkers() {
	if s.started || s.stopped {
		return
	}
	s.started = true
	s.wg.Add(s.workers)
	for range s.workers {
		go s.worker()
	}
}

// enqueue adds d to q, waiting while q is full until ctx ends, unless shed
// reports that the webhook is failing: then it fails with ErrQueueFull at
// once, so that a dead receiver's full queue does not hold back the
// deliveries to every other one. It fails with ErrClosed once the scheduler
// no longer takes work.
func (s *scheduler) enqueue(ctx context.Context, q *queue, d *delivery, shed func() bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for q.n == s.queueSize && !s.closed {
		if err := ctx.Err(); err != nil {
			return err
		}
		if shed() {
			return ErrQueueFull
		}
		s.waiting++
		stop := context.AfterFunc(ctx, func() {
			s.mu.Lock()
			s.space.Broadcast()
			s.mu.Unlock()
		})
		s.space.Wait()
		stop()
		s.waiting--
	}
	if s.closed {
		return ErrClosed
	}
	s.startWorkers()
	s.push(q, d)
	return nil
}

// enqueueAll adds every delivery of ds to its webhook's queue if all of them
// have room, and otherwise none, failing with an error wrapping bus.ErrFull.
// A delivery whose webhook is failing and whose queue is full is not queued
// but returned, to be recorded as shed, without refusing the rest. Each
// delivery must be for a different webhook.
func (s *scheduler) enqueueAll(ds []*delivery) (shed []*delivery, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	for _, d := range ds {
		if d.ep.q.n == s.queueSize && !d.ep.failing.Load() {
			return nil, fmt.Errorf("webhooks: queue of webhook %s full (%d deliveries): %w", d.webhookID(), s.queueSize, bus.ErrFull)
		}
	}
	s.startWorkers()
	for _, d := range ds {
		if d.ep.q.n == s.queueSize {
			shed = append(shed, d)
			continue
		}
		s.push(&d.ep.q, d)
	}
	return shed, nil
}

// minRing is the length of a queue's ring buffer when it is first made.
const minRing = 8

// push appends d to q, which has room. The caller holds s.mu.
func (s *scheduler) push(q *queue, d *delivery) {
	if q.n == len(q.items) {
		q.grow(s.queueSize)
	}
	q.items[(q.head+q.n)%len(q.items)] = d
	q.n++
	s.queued++
	s.makeReady(q)
}

// grow doubles q's ring buffer, or makes it, up to max entries.
func (q *queue) grow(max int) {
	items := make([]*delivery, min(max, cmp.Or(2*len(q.items), minRing)))
	for i := range q.n {
		items[i] = q.items[(q.head+i)%len(q.items)]
	}
	q.items, q.head = items, 0
}

// pop removes and returns q's first delivery; q is not empty. A ring that
// grew is let go once empty.
func (q *queue) pop() *delivery {
	d := q.items[q.head]
	q.items[q.head] = nil
	q.head = (q.head + 1) % len(q.items)
	q.n--
	if q.n == 0 && len(q.items) > minRing {
		q.items, q.head = nil, 0
	}
	return d
}

// makeReady puts q in the ready ring if it has work and spare concurrency.
func (s *scheduler) makeReady(q *queue) {
	if !q.inReady && q.n > 0 && q.inflight < s.perWebhook {
		q.inReady = true
		s.ready.push(q)
		s.work.Signal()
	}
}

func (s *scheduler) worker() {
	defer s.wg.Done()
	// A context of the worker's own, so that what a delivery hangs on its
	// context (the HTTP transport's cancellation hook, every attempt) is
	// registered on a context no other worker touches, rather than on the
	// scheduler's, whose lock every worker would take.
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	s.mu.Lock()
	for {
		for s.ready.n == 0 && !s.stopped {
			s.work.Wait()
		}
		if s.stopped {
			s.mu.Unlock()
			return
		}
		q := s.ready.pop()
		q.inReady = false
		d := q.pop()
		q.inflight++
		s.queued--
		s.inflight++
		s.makeReady(q) // to the back of the ring: round-robin
		if s.waiting > 0 {
			s.space.Broadcast()
		}
		s.mu.Unlock()

		s.run(ctx, d)

		s.mu.Lock()
		q.inflight--
		s.inflight--
		s.makeReady(q)

		s.signalIdle()
	}
}

// idleNow reports whether nothing is queued, in flight or being tested. The
// caller holds s.mu.
func (s *scheduler) idleNow() bool { return s.queued == 0 && s.inflight == 0 && s.tests == 0 }

// signalIdle wakes drain when nothing is left to wait for. The caller holds
// s.mu.
func (s *scheduler) signalIdle() {
	if s.idleNow() {
		s.idle.Broadcast()
	}
}

// beginTest counts a test send (Service.SendTestEvent), which drain waits
// for like a delivery in flight and stop cancels: it returns the context
// the send runs with and the function that ends it. It fails with ErrClosed
// once the scheduler no longer takes work.
func (s *scheduler) beginTest(ctx context.Context) (context.Context, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	s.tests++
	s.wg.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(s.ctx, cancel)
	return ctx, func() {
		unhook()
		cancel()
		s.mu.Lock()
		s.tests--
		s.signalIdle()
		s.mu.Unlock()
		s.wg.Done()
	}, nil
}

// recheck wakes enqueuers waiting on full queues so that they ask their
// shed function again: a webhook has just started failing.

func (s *scheduler) recheck() {
	s.mu.Lock()
	if s.waiting > 0 {
		s.space.Broadcast()
	}
	s.mu.Unlock()
}

// drain stops intake and waits until every queued delivery and every test
// send has run or ctx ends. It returns the number of deliveries still in
// flight then: none when everything ran.
func (s *scheduler) drain(ctx context.Context) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.space.Broadcast() // blocked enqueuers fail with ErrClosed
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.idle.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	for !s.idleNow() && ctx.Err() == nil {
		s.idle.Wait()
	}
	return s.inflight
}

// stop cancels deliveries and test sends in flight, waits for the workers
// and the test sends to return and hands back whatever was still queued, in
// queue order per webhook.
func (s *scheduler) stop() []*delivery {
	// Stopped before cancelled: no worker may pick up another delivery only
	// to run it with a dead context.
	s.mu.Lock()
	s.closed, s.stopped = true, true
	s.work.Broadcast()
	s.space.Broadcast()
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	var left []*delivery
	for s.ready.n > 0 {
		q := s.ready.pop()
		q.inReady = false
		for q.n > 0 {
			left = append(left, q.pop())
			s.queued--
		}
	}
	return left
}

// ring is a FIFO of queues that reuses its buffer, so a steady flow of
// deliveries does not allocate.
type ring struct {
	buf     []*queue
	head, n int
}

func (r *ring) push(q *queue) {
	if r.n == len(r.buf) {
		grown := make([]*queue, max(16, 2*len(r.buf)))
		for i := range r.n {
			grown[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = grown, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = q
	r.n++
}

func (r *ring) pop() *queue {
	q := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return q
}
