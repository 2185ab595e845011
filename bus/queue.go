package bus

import (
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// item is one (event, handler) pair waiting for a worker. It keeps only what the
// handler needs, so a backlog costs a few words per event, not a goroutine.
type item struct {
	uuid     string
	payload  []byte
	metadata map[string]string
	// at is the event's time when the in-process transport carries it, so
	// that it need not be parsed back from the metadata; zero otherwise.
	at time.Time
	// wm is the broker message to acknowledge once handled; nil on the in-memory
	// transport, where every item holds one unit of the pending semaphore instead.
	wm *message.Message
}

// queue is a FIFO of items between a handler's pump and its workers. With a
// limit, push waits for room; without one, the ring grows as needed (the
// in-memory transport bounds it through the pending semaphore) and shrinks
// back once drained.
type queue struct {
	mu       sync.Mutex
	notEmpty sync.Cond
	notFull  sync.Cond
	ring     []item
	head, n  int
	limit    int
	closed   bool
}

const minQueueRing = 16

func newQueue(limit int) *queue {
	q := &queue{limit: limit, ring: make([]item, minQueueRing)}
	q.notEmpty.L = &q.mu
	q.notFull.L = &q.mu
	return q
}

// push appends it, waiting for room when the queue is limited. It reports false,
// without appending, once the queue is closed.
func (q *queue) push(it item) bool {
	q.mu.Lock()
	for q.limit > 0 && q.n >= q.limit && !q.closed {
		q.notFull.Wait()
	}
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if q.n == len(q.ring) {
		q.resize(2 * len(q.ring))
	}
	q.ring[(q.head+q.n)%len(q.ring)] = it
	q.n++
	q.mu.Unlock()
	q.notEmpty.Signal()
	return true
}

// pop removes the oldest item, waiting for one. It reports false once the queue
// is closed and empty.
func (q *queue) pop() (item, bool) {
	q.mu.Lock()
	for q.n == 0 && !q.closed {
		q.notEmpty.Wait()
	}
	if q.n == 0 {
		q.mu.Unlock()
		return item{}, false
	}
	it := q.ring[q.head]
	q.ring[q.head] = item{}
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	if len(q.ring) > minQueueRing && q.n < len(q.ring)/4 {
		q.resize(len(q.ring) / 2)
	}
	q.mu.Unlock()
	if q.limit > 0 {
		q.notFull.Signal()
	}
	return it, true
}

// close stops pushes; pops drain what is left.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.notEmpty.Broadcast()
	q.notFull.Broadcast()
}

// closeAndTake closes the queue and removes every item left in it.
func (q *queue) closeAndTake() []item {
	q.mu.Lock()
	q.closed = true
	left := make([]item, q.n)
	for i := range left {
		left[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	q.ring, q.head, q.n = nil, 0, 0
	q.mu.Unlock()
	q.notEmpty.Broadcast()
	q.notFull.Broadcast()
	return left
}

func (q *queue) resize(size int) {
	ring := make([]item, size)
	for i := range q.n {
		ring[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	q.ring, q.head = ring, 0
}
