package bus

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Start subscribes every handler and starts its workers. It returns once every
// subscription exists, so that a Publish after Start is never dropped by an
// in-memory transport. ctx bounds only the start-up (it is checked between
// subscriptions); the subscriptions live until Shutdown. When Start fails it
// undoes what it did and may be called again. A second Start returns
// ErrStarted; after Shutdown has begun, ErrClosed.
func (b *Bus) Start(ctx context.Context) error {
	b.lifecycle.Lock()
	defer b.lifecycle.Unlock()
	switch b.state.Load() {
	case stateStarted:
		return ErrStarted
	case stateClosing, stateClosed:
		return ErrClosed
	}
	b.mu.Lock()
	b.frozen = true
	handlers := b.handlers
	b.mu.Unlock()

	subscriptions := make([]<-chan *message.Message, len(handlers))
	var owned []message.Subscriber
	fail := func(err error) error {
		errs := []error{err}
		b.endSubscriptions()
		for _, s := range owned {
			if cerr := s.Close(); cerr != nil {
				errs = append(errs, fmt.Errorf("bus: close subscriber: %w", cerr))
			}
		}
		b.mu.Lock()
		b.frozen = false
		b.mu.Unlock()
		return errors.Join(errs...)
	}
	for i, h := range handlers {
		if err := ctx.Err(); err != nil {
			return fail(fmt.Errorf("bus: start: %w", err))
		}
		if b.direct {
			continue // Publish feeds the queues, or calls inline handlers
		}
		sub := b.sub
		if b.newSub != nil {
			s, err := b.newSub(h.name)
			if err != nil {
				return fail(fmt.Errorf("bus: new subscriber for handler %q: %w", h.name, err))
			}
			if s == nil {
				return fail(fmt.Errorf("bus: new subscriber for handler %q: NewSubscriber returned nil", h.name))
			}
			owned = append(owned, s)
			sub = s
		}
		// Subscriptions end when Shutdown cancels them, never with a caller's context.
		subCtx, cancel := context.WithCancel(context.Background())
		h.subCancel = cancel
		msgs, err := sub.Subscribe(subCtx, h.topic)
		if err != nil {
			return fail(fmt.Errorf("bus: subscribe handler %q to %s: %w", h.name, h.topic, err))
		}
		subscriptions[i] = msgs
	}
	b.ownedSubs = owned
	for i, h := range handlers {
		if !h.inline {
			b.run(h, subscriptions[i])
		}
	}
	b.started.Store(true)
	b.state.Store(stateStarted)
	b.log.DebugContext(ctx, "bus: started", "handlers", len(handlers), "in_memory", b.inMemory)
	return nil
}

// Run starts the bus if it is not started yet, then blocks until ctx ends and
// shuts the bus down, draining for at most Config.DrainTimeout (from a context
// that keeps ctx's values), and returns Shutdown's result. If Shutdown is
// called elsewhere while Run waits, Run returns nil once it has finished; on
// a bus whose Shutdown has already begun, Run returns ErrClosed at once.
func (b *Bus) Run(ctx context.Context) error {
	if err := b.Start(ctx); err != nil && !errors.Is(err, ErrStarted) {
		return err
	}
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.drainTimeout)
		defer cancel()
		return b.Shutdown(sctx)
	case <-b.closing:
		<-b.done
		return nil
	}
}

// Shutdown stops the bus: Publish returns ErrClosed from now on (except from
// inside handlers, which may still publish follow-up events), events already
// accepted are handled (on the in-memory transport, every event Publish
// accepted; with a broker, the messages already received), then the workers
// stop and the subscribers and the publisher are closed. Subscribers close
// while their subscriptions are still open, so that one reading in batches
// records the part of a batch it handled; after a second, or once ctx ends,
// the subscriptions end too. Called from a
// handler, Shutdown waits for that handler: it cannot drain before ctx ends.
// A bus that was never started (one that only publishes to a broker) waits
// for the Publish calls in progress before it closes the publisher.
//
// Handler contexts stay alive while Shutdown drains. If ctx ends first,
// Shutdown cancels them, stops waiting for handlers and returns a *DrainError
// (matching ErrDrainIncomplete and ctx.Err()) that says how many (event,
// handler) pairs were left: with a broker they are nacked, so the broker
// redelivers them; on the in-memory transport they are lost. A handler that
// ignores its context keeps its goroutine until it returns. If nothing was
// left when ctx ended, the drain is complete and Shutdown returns nil. Errors
// closing the transport are joined to the result; a transport that has not
// closed a second after ctx ended is reported, and left closing.
//
// Shutdown is safe to call more than once and concurrently: the first call
// does the work, later ones wait for it (or for their own ctx) and return its
// result.
func (b *Bus) Shutdown(ctx context.Context) error {
	b.lifecycle.Lock()
	if b.shuttingDown {
		b.lifecycle.Unlock()
		select {
		case <-b.done:
			return b.shutdownErr
		case <-ctx.Done():
			return fmt.Errorf("bus: shutdown still in progress: %w", ctx.Err())
		}
	}
	b.shuttingDown = true
	started := b.state.Load() == stateStarted
	b.mu.Lock()
	b.frozen = true
	b.mu.Unlock()
	b.state.Store(stateClosing)
	close(b.closing)
	b.lifecycle.Unlock()

	err := b.shutdown(ctx, started)
	b.shutdownErr = err
	b.state.Store(stateClosed)
	close(b.done)
	return err
}

// Close shuts the bus down, draining for at most Config.DrainTimeout, and
// returns Shutdown's result.
func (b *Bus) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), b.drainTimeout)
	defer cancel()
	return b.Shutdown(ctx)
}

// DrainError is the error Shutdown returns when its context ended before the
// drain did. It matches ErrDrainIncomplete and the context's error with
// errors.Is; get it with errors.As to read Left.
type DrainError struct {
	// Left is how many (event, handler) pairs were pending when Shutdown gave
	// up: queued, being handled, or (in memory) still in the transport. On a
	// bus that was never started (one that only publishes to a broker), it is
	// the Publish calls still in progress, which the closed transport then
	// fails.
	Left int64
	// Err is the context's error.
	Err error
}

// Error implements error.
func (e *DrainError) Error() string {
	return fmt.Sprintf("%v: %d (event, handler) pairs left unhandled: %v", ErrDrainIncomplete, e.Left, e.Err)
}

// Unwrap returns ErrDrainIncomplete and the context's error.
func (e *DrainError) Unwrap() []error { return []error{ErrDrainIncomplete, e.Err} }

var _ error = (*DrainError)(nil)

func (b *Bus) shutdown(ctx context.Context, started bool) error {
	b.publishing.close()
	if b.inMemory {
		b.pending.close() // fails Publish calls waiting for room
	}
	if !started {
		// A bus that only publishes (to a broker): the Publish calls in
		// progress finish before the transport closes under them.
		var err error
		select {
		case <-b.publishing.drained:
		case <-ctx.Done():
			if left := b.publishing.inProgress(); left > 0 {
				err = &DrainError{Left: left, Err: ctx.Err()}
			}
		}
		b.hardStop()
		return errors.Join(err, b.closeTransport())
	}
	b.log.DebugContext(ctx, "bus: draining")
	err := b.drain(ctx)
	if err != nil {
		// The context ended first; if nothing was left even so (an idle bus
		// shut down with a context already done), the drain is complete.
		if left := b.abort(); left > 0 {
			b.log.ErrorContext(ctx, "bus: drain incomplete", "left", left, "error", err)
			err = &DrainError{Left: left, Err: err}
		} else {
			err = nil
		}
	} else {
		b.hardStop() // nothing runs any more; releases the context
	}
	if cerr := b.closeSubscribed(ctx); cerr != nil {
		err = errors.Join(err, cerr)
	}
	b.log.DebugContext(ctx, "bus: stopped", "error", err)
	return err
}

// drain waits for the Publish calls in progress, then (in memory) for every
// accepted event to be handled, then stops intake and waits for the workers to
// finish the queues.
func (b *Bus) drain(ctx context.Context) error {
	select {
	case <-b.publishing.drained:
	case <-ctx.Done():
		return ctx.Err()
	}
	if b.inMemory {
		if err := b.pending.waitIdle(ctx); err != nil {
			return err
		}
		// Handlers may have left goroutines that publish follow-ups with
		// their context. Through a Pub/Sub, such an event needs the pumps:
		// intake closes first, then what got in before is handled.
		b.intake.close()
		select {
		case <-b.intake.drained:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := b.pending.waitIdle(ctx); err != nil {
			return err
		}
	}
	b.stopIntake()
	done := make(chan struct{})
	go func() {
		b.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stopIntake stops the pumps and closes the queues, whose workers exit once
// they are empty. The subscriptions stay open until the workers are done: a
// broker may refuse acknowledgements on a cancelled subscription.
func (b *Bus) stopIntake() {
	b.stopOnce.Do(func() { close(b.stopPumps) })
	for _, h := range b.handlers {
		if h.queue != nil {
			h.queue.close()
		}
	}
}

// abort gives up draining: handler contexts and backoff waits end, queued items
// are left unhandled (nacked with a broker), and so are the broker messages in
// workers' hands. It returns how many (event, handler) pairs were pending.
func (b *Bus) abort() int64 {
	var left int64
	if b.inMemory {
		left = b.pending.inUse()
	} else {
		for _, h := range b.handlers {
			left += h.held.Load()
		}
	}
	b.hardStop()
	b.stopIntake()
	for _, h := range b.handlers {
		if h.queue == nil {
			continue
		}
		for _, it := range h.queue.closeAndTake() {
			b.finish(h, it, false)
		}
		for i := range h.current {
			if wm := h.current[i].Load(); wm != nil {
				wm.Nack()
			}
		}
	}
	return left
}

// closeGrace bounds how long Shutdown lets the subscribers close while
// their subscriptions are still open.
const closeGrace = time.Second

// closeSubscribed closes the transport, then ends the subscriptions.
//
// Subscribers close first: one that reads in batches (PostgreSQL's) then
// records the messages of its batch acknowledged so far, where an ended
// subscription would roll the whole batch back and have it handled again.
// But a subscriber may be blocked on its subscription's context (a replica
// waiting for the lock another one holds, say) and not see Close: after
// closeGrace, or once ctx ends, the subscriptions end too.
func (b *Bus) closeSubscribed(ctx context.Context) error {
	closed := make(chan error, 1)
	go func() { closed <- b.closeTransport() }()
	timer := time.NewTimer(closeGrace)
	defer timer.Stop()
	select {
	case err := <-closed:
		b.endSubscriptions()
		return err
	case <-ctx.Done():
	case <-timer.C:
	}
	b.endSubscriptions()
	select {
	case err := <-closed:
		return err
	case <-ctx.Done():
	}
	// A transport whose Close hangs does not hold Shutdown past its
	// context for longer than the grace.
	timer.Reset(closeGrace)
	select {
	case err := <-closed:
		return err
	case <-timer.C:
		return fmt.Errorf("bus: the transport had not closed %v after the context ended: %w", closeGrace, ctx.Err())
	}
}

// endSubscriptions cancels the context of every handler's subscription. The
// handlers are frozen.
func (b *Bus) endSubscriptions() {
	for _, h := range b.handlers {
		if h.subCancel != nil {
			h.subCancel()
			h.subCancel = nil
		}
	}
}

// closeTransport closes every subscriber and the publisher, each once. The
// handlers' own subscribers close all at once: one blocked (waiting for a
// lock another replica holds) must not keep the others from committing
// what they handled before closeGrace ends every subscription.
func (b *Bus) closeTransport() error {
	var subs []message.Subscriber // each once: a Config may give one to several handlers
	for _, s := range b.ownedSubs {
		if !slices.ContainsFunc(subs, func(x message.Subscriber) bool { return samePointer(x, s) }) {
			subs = append(subs, s)
		}
	}
	errs := make([]error, len(subs))
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Go(func() {
			if err := s.Close(); err != nil {
				errs[i] = fmt.Errorf("bus: close subscriber: %w", err)
			}
		})
	}
	wg.Wait()
	if b.sub != nil && !sameValue(b.sub, b.pub) {
		if err := b.sub.Close(); err != nil {
			errs = append(errs, fmt.Errorf("bus: close subscriber: %w", err))
		}
	}
	if b.pub == nil {
		return errors.Join(errs...)
	}
	if err := b.pub.Close(); err != nil {
		errs = append(errs, fmt.Errorf("bus: close publisher: %w", err))
	}
	return errors.Join(errs...)
}

// samePointer reports whether a and b are the same pointer: one subscriber
// given to several handlers (equal values of another kind may be distinct
// subscribers).
func samePointer(a, b any) bool {
	return reflect.ValueOf(a).Kind() == reflect.Pointer && sameValue(a, b)
}

// sameValue reports whether a and b are the same comparable value, without
// panicking on uncomparable ones.
func sameValue(a, b any) bool {
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta != nil && ta.Comparable() && a == b
}
