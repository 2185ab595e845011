package bus

import (
	"testing"
	"time"
)

func TestQueueGrowsAndShrinks(t *testing.T) {
	q := newQueue(0)
	const n = 1000
	for i := range n {
		if !q.push(item{uuid: string(rune('a' + i%26))}) {
			t.Fatal("push refused on an open queue")
		}
	}
	if len(q.ring) < n {
		t.Fatalf("ring of %d holds %d items", len(q.ring), n)
	}
	for i := range n {
		it, ok := q.pop()
		if !ok || it.uuid != string(rune('a'+i%26)) {
			t.Fatalf("pop %d = %q, %v; want FIFO order", i, it.uuid, ok)
		}
	}
	if len(q.ring) > 2*minQueueRing {
		t.Fatalf("ring of %d kept after draining", len(q.ring))
	}
}

func TestQueueLimitBlocksPush(t *testing.T) {
	q := newQueue(2)
	q.push(item{uuid: "1"})
	q.push(item{uuid: "2"})
	pushed := make(chan bool, 1)
	go func() { pushed <- q.push(item{uuid: "3"}) }()
	select {
	case <-pushed:
		t.Fatal("push beyond the limit did not wait")
	case <-time.After(20 * time.Millisecond):
	}
	if it, _ := q.pop(); it.uuid != "1" {
		t.Fatalf("pop = %q, want 1", it.uuid)
	}
	if !<-pushed {
		t.Fatal("waiting push refused after room was made")
	}
}

func TestQueueCloseDrainsThenStops(t *testing.T) {
	q := newQueue(1)
	q.push(item{uuid: "1"})
	refused := make(chan bool, 1)
	go func() { refused <- !q.push(item{uuid: "2"}) }() // waits for room
	time.Sleep(10 * time.Millisecond)
	q.close()
	if !<-refused {
		t.Fatal("push waiting for room accepted after close")
	}
	if it, ok := q.pop(); !ok || it.uuid != "1" {
		t.Fatalf("pop after close = %q, %v; want the queued item", it.uuid, ok)
	}
	if _, ok := q.pop(); ok {
		t.Fatal("pop on a closed, empty queue reported an item")
	}
}

func TestQueueCloseAndTake(t *testing.T) {
	q := newQueue(0)
	for _, id := range []string{"1", "2", "3"} {
		q.push(item{uuid: id})
	}
	q.pop()
	left := q.closeAndTake()
	if len(left) != 2 || left[0].uuid != "2" || left[1].uuid != "3" {
		t.Fatalf("closeAndTake = %v, want items 2 and 3", left)
	}
	if q.push(item{}) {
		t.Fatal("push accepted after closeAndTake")
	}
	if _, ok := q.pop(); ok {
		t.Fatal("pop reported an item after closeAndTake")
	}
}
