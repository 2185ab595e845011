package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/webhooks"
)

// backlogPublishers publish the backlog concurrently, as a host's request
// handlers would.
const backlogPublishers = 4

// backlog runs the backlog mode: N events parked behind a stalled receiver,
// the goroutines and heap they cost, what Publish does at the limit, then
// their delivery once the receiver is released.
func (b *bench) backlog(ctx context.Context) (summary, error) {
	n, workers := b.opts.backlog, b.opts.workers
	// The service is exactly full after n events: stalled requests, the
	// webhook's queue, and on a bus whose dispatcher runs on workers, the
	// bus's pending events (those the dispatcher has not handed to the
	// queue yet). On the in-process bus the dispatcher runs inside Publish
	// and the webhook's queue is the limit.
	perWebhook := min(webhooks.DefaultMaxConcurrencyPerWebhook, workers)
	inProcess := b.backend.name() == backendMemory
	queue := min(webhooks.DefaultQueueSize, (n-perWebhook)/2)
	if inProcess {
		queue = n - perWebhook
	}
	pending := n - perWebhook - queue
	if queue < 1 || (pending < 1 && !inProcess) {
		return summary{}, fmt.Errorf("-backlog %d: need at least %d events", n, perWebhook+2)
	}
	overflow := "wait"
	if b.opts.overflow == bus.OverflowFail {
		overflow = "fail"
	}
	if inProcess {
		pending = 0 // MaxPending's default: nothing waits on the bus
		fmt.Fprintf(b.out, "backlog: %d events behind a stalled receiver: %d stalled requests (%d workers, %d per webhook), %d in the webhook's queue (QueueSize; the dispatcher runs inside Publish, overflow %s)\n",
			n, perWebhook, workers, perWebhook, queue, overflow)
	} else {
		fmt.Fprintf(b.out, "backlog: %d events behind a stalled receiver: %d stalled requests (%d workers, %d per webhook), %d in the webhook's queue, %d pending on the bus (MaxPending, overflow %s)\n",
			n, perWebhook, workers, perWebhook, queue, pending, overflow)
	}

	var ok, failed atomic.Int64
	runtime.GC()
	goroutinesBase := runtime.NumGoroutine()
	eng, err := b.startEngine(ctx, engineSpec{
		bus:     bus.Config{MaxPending: pending, Overflow: b.opts.overflow},
		service: webhooks.Config{Workers: workers, QueueSize: queue, Sender: loopbackSender(workers)},
		webhooks: []webhooks.Webhook{{
			Name:      "stalled receiver",
			URL:       b.rcv.base + pathHang,
			EventType: webhooks.CommercialSignalDetectedEvent,
		}},
	}, func(d webhooks.DeliveryRecord) {
		if delivered(d) {
			ok.Add(1)
		} else {
			failed.Add(1)
		}
	})
	if err != nil {
		return summary{}, err
	}
	shutDown := false
	defer func() {
		if !shutDown {
			_ = eng.shutdown(ctx, time.Second)
		}
	}()

	var peak atomic.Int64
	samplePeak := func() {
		g := int64(runtime.NumGoroutine())
		for p := peak.Load(); g > p && !peak.CompareAndSwap(p, g); p = peak.Load() {
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	samplePeak()

	fillTimeout := time.Minute + time.Duration(n)*100*time.Microsecond
	fillCtx, cancelFill := context.WithTimeout(ctx, fillTimeout)
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		fillErr   error
		transient atomic.Int64 // ErrFull met while filling, retried (OverflowFail only)
	)
	start := time.Now()
	for p := range backlogPublishers {
		share := n / backlogPublishers
		if p < n%backlogPublishers {
			share++
		}
		wg.Go(func() {
			for i := range share {
				if err := b.publishUntilRoom(fillCtx, eng.svc, &transient); err != nil {
					mu.Lock()
					fillErr = cmp.Or(fillErr, err)
					mu.Unlock()
					return
				}
				if i%256 == 0 {
					samplePeak()
				}
			}
		})
	}
	wg.Wait()
	cancelFill()
	fill := time.Since(start)
	if fillErr != nil {
		return summary{}, fmt.Errorf("publishing the backlog: %w", fillErr)
	}
	// Let the dispatcher move what it can to the webhook's queue.
	for range 20 {
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return summary{}, err
		}
		samplePeak()
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	samplePeak()
	resting := runtime.NumGoroutine()
	creators := goroutinesByCreator()
	heapPer := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n)
	stackPer := (float64(after.StackInuse) - float64(before.StackInuse)) / float64(n)
	fmt.Fprintf(b.out, "  published in %v (%d transient ErrFull retried)\n", fill.Round(time.Millisecond), transient.Load())
	fmt.Fprintf(b.out, "  goroutines: %d before the service started, peak %d, %d at rest with the backlog; by creator:\n", goroutinesBase, peak.Load(), resting)
	for _, c := range creators {
		fmt.Fprintf(b.out, "    %5d  %s\n", c.n, c.name)
	}
	fmt.Fprintf(b.out, "  live heap: %.0f bytes per pending event (payload %d bytes), goroutine stacks %+.1f bytes per event\n",
		heapPer, len(b.event.body), stackPer)

	limitCtx, cancelLimit := context.WithTimeout(ctx, 200*time.Millisecond)
	t0 := time.Now()
	err = eng.svc.Publish(limitCtx, b.event.at(time.Now()))
	waited := time.Since(t0)
	cancelLimit()
	var atLimit string
	expect := int64(n)
	var refusedOnRecord int64
	switch {
	case err == nil:
		atLimit = "accepted"
		expect++
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		atLimit = "blocked"
		if inProcess {
			// Publish gave up waiting inside the dispatcher, which put the
			// delivery it could not queue on record as undelivered.
			expect++
			refusedOnRecord = 1
		}
	case errors.Is(err, bus.ErrFull):
		atLimit = "error"
	default:
		return summary{}, fmt.Errorf("publishing at the limit: %w", err)
	}
	fmt.Fprintf(b.out, "  Publish at the limit: %s after %v", atLimit, waited.Round(time.Microsecond))
	if err != nil {
		fmt.Fprintf(b.out, " (%v)", err)
	}
	fmt.Fprintln(b.out)

	if err := b.rcv.release(ctx); err != nil {
		return summary{}, err
	}
	drainStart := time.Now()
	drainTimeout := time.Minute + time.Duration(n)*time.Millisecond
	for ok.Load()+failed.Load() < expect {
		if time.Since(drainStart) > drainTimeout {
			return summary{}, fmt.Errorf("released receiver: %d of %d events delivered after %v", ok.Load(), expect, drainTimeout)
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return summary{}, err
		}
	}
	drain := time.Since(drainStart)
	shutDown = true
	if err := eng.shutdown(ctx, 10*time.Second); err != nil {
		return summary{}, fmt.Errorf("shutdown after the drain: %w", err)
	}
	if refusedOnRecord > 0 && failed.Load() >= refusedOnRecord {
		failed.Add(-refusedOnRecord)
		fmt.Fprintf(b.out, "  the event Publish gave up on is on record as undelivered (not counted as failed)\n")
	}
	fmt.Fprintf(b.out, "  receiver released: %d delivered, %d failed, in %v (%.0f deliveries/s)\n",
		ok.Load(), failed.Load(), drain.Round(time.Millisecond), float64(ok.Load())/drain.Seconds())

	var sum summary
	sum.add("mode", "backlog")
	sum.add("backend", b.backend.name())
	sum.add("store", b.storage.kind)
	sum.add("tracing", b.opts.tracing)
	sum.add("payload", len(b.event.body))
	sum.add("backlog", n)
	sum.add("workers", workers)
	sum.add("per_webhook", perWebhook)
	sum.add("goroutines_base", goroutinesBase)
	sum.add("goroutines_peak", peak.Load())
	sum.add("goroutines_at_rest", resting)
	sum.add("heap_per_pending_bytes", heapPer-float64(len(b.event.body)))
	sum.add("heap_per_pending_total_bytes", heapPer)
	sum.add("overflow", overflow)
	sum.add("publish_at_limit", atLimit)
	sum.add("publish_at_limit_ms", ms(waited))
	sum.add("fill_s", fill.Seconds())
	sum.add("drained", ok.Load())
	sum.add("failed", failed.Load())
	sum.add("drain_s", drain.Seconds())
	return sum, nil
}

// publishUntilRoom publishes one event; with OverflowFail it retries ErrFull,
// which the dispatcher can cause for a moment while it lags behind the
// publishers, well before the service is full.
func (b *bench) publishUntilRoom(ctx context.Context, svc *webhooks.Service, transient *atomic.Int64) error {
	for {
		err := svc.Publish(ctx, b.event.at(time.Now()))
		if !errors.Is(err, bus.ErrFull) {
			return err
		}
		transient.Add(1)
		if err := sleep(ctx, time.Millisecond); err != nil {
			return err
		}
	}
}

// creatorCount is a number of goroutines started by one function.
type creatorCount struct {
	name string
	n    int
}

// goroutinesByCreator counts the live goroutines by the function that started
// them, most first.
func goroutinesByCreator() []creatorCount {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	counts := make(map[string]int)
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		name := "(no creator: main)"
		for line := range strings.SplitSeq(string(g), "\n") {
			if rest, ok := strings.CutPrefix(line, "created by "); ok {
				name, _, _ = strings.Cut(rest, " in goroutine")
				break
			}
		}
		counts[name]++
	}
	out := make([]creatorCount, 0, len(counts))
	for name, n := range counts {
		out = append(out, creatorCount{name, n})
	}
	slices.SortFunc(out, func(a, b creatorCount) int {
		return cmp.Or(cmp.Compare(b.n, a.n), strings.Compare(a.name, b.name))
	})
	return out
}
