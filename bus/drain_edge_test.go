package bus_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/hookbus/hookbus/bus"
)

type drainTrigger struct{}

func (drainTrigger) EventName() string { return "drain_trigger" }

type drainFollow struct{ N int }

func (drainFollow) EventName() string { return "drain_follow" }

// startWith registers fn as handler "h" of drainFollow events on b, then
// starts b.
func startWith(t *testing.T, b *bus.Bus, fn func(context.Context, drainFollow) error) {
	t.Helper()
	if err := bus.Handle(b, "h", fn); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// A handler hands its context to a goroutine that keeps publishing
// follow-ups while Shutdown drains: every Publish that returned nil is
// handled before Shutdown returns, and the others return an error. On a
// GoChannel the follow-ups need the pumps, which the drain stops.
func TestLateFollowUpsAreHandledOrRefused(t *testing.T) {
	for name, cfg := range map[string]func() bus.Config{
		"in-process": func() bus.Config { return bus.Config{} },
		"GoChannel": func() bus.Config {
			gc := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, nil)
			return bus.Config{Publisher: gc, Subscriber: gc}
		},
	} {
		t.Run(name, func(t *testing.T) {
			for range 5 {
				b, err := bus.New(cfg())
				if err != nil {
					t.Fatal(err)
				}
				var accepted, handled atomic.Int64
				done := make(chan struct{})
				if err := bus.Handle(b, "trigger", func(ctx context.Context, _ drainTrigger) error {
					go func() {
						defer close(done)
						for i := 0; ; i++ {
							if err := b.Publish(ctx, drainFollow{N: i}); err != nil {
								return
							}
							accepted.Add(1)
							time.Sleep(20 * time.Microsecond)
						}
					}()
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if err := bus.Handle(b, "follow", func(context.Context, drainFollow) error {
					handled.Add(1)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if err := b.Start(t.Context()); err != nil {
					t.Fatal(err)
				}
				if err := b.Publish(t.Context(), drainTrigger{}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err = b.Shutdown(ctx)
				cancel()
				<-done
				if err != nil {
					t.Fatalf("Shutdown = %v", err)
				}
				if a, h := accepted.Load(), handled.Load(); a != h {
					t.Fatalf("Publish accepted %d follow-ups, %d were handled", a, h)
				}
			}
		})
	}
}

// An idle bus shut down with a context that has already ended has nothing
// left to drain: Shutdown succeeds.
func TestShutdownOfIdleBusWithEndedContext(t *testing.T) {
	for range 100 {
		b := newBus(t, bus.Config{})
		startWith(t, b, func(context.Context, drainFollow) error { return nil })
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown of an idle bus = %v, want nil", err)
		}
	}
}

// A handler that ends its goroutine (runtime.Goexit, as t.FailNow does)
// has its event dead-lettered like one that panics, and a new worker goes
// on with the rest: nothing stays pending, and Shutdown drains.
func TestHandlerGoexitIsDeadLetteredAndWorkerReplaced(t *testing.T) {
	var dead atomic.Pointer[bus.DeadLetterParams]
	b := newBus(t, bus.Config{Workers: 1, OnDeadLetter: func(p bus.DeadLetterParams) { dead.Store(&p) }})
	var handled atomic.Int64
	startWith(t, b, func(_ context.Context, e drainFollow) error {
		if e.N == 0 {
			runtime.Goexit()
		}
		handled.Add(1)
		return nil
	})
	for i := range 5 {
		if err := b.Publish(t.Context(), drainFollow{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if n := handled.Load(); n != 4 {
		t.Errorf("handled %d events after the Goexit, want 4", n)
	}
	p := dead.Load()
	if p == nil || !errors.Is(p.Err, bus.ErrHandlerPanic) || p.DeadLetter.Handler != "h" {
		t.Errorf("dead letter of the event whose handler exited: %+v", p)
	}
}

// hangingClose is a GoChannel, seen as a broker, whose Close blocks until
// released.
type hangingClose struct {
	*gochannel.GoChannel
	release chan struct{}
}

func (h hangingClose) Close() error {
	<-h.release
	return h.GoChannel.Close()
}

// A transport whose Close hangs does not hold Shutdown long past its
// context: Shutdown reports it instead.
func TestShutdownBoundsAHangingTransportClose(t *testing.T) {
	pubsub := hangingClose{gochannel.NewGoChannel(gochannel.Config{}, nil), make(chan struct{})}
	defer close(pubsub.release)
	b := newBus(t, bus.Config{Publisher: pubsub, Subscriber: pubsub})
	startWith(t, b, func(context.Context, drainFollow) error { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Shutdown(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v, want the context's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown still blocked 10s after a 200ms context ended")
	}
}

// After Shutdown gives up (hard stop), a handler that ends its goroutine
// leaves its event unhandled, as a failing one does: counted in the
// DrainError, not dead-lettered.
func TestGoexitAfterHardStopIsLeftUnhandled(t *testing.T) {
	var dead atomic.Int64
	b := newBus(t, bus.Config{Workers: 1, OnDeadLetter: func(bus.DeadLetterParams) { dead.Add(1) }})
	started := make(chan struct{})
	exited := make(chan struct{})
	startWith(t, b, func(ctx context.Context, e drainFollow) error {
		close(started)
		<-ctx.Done()
		defer close(exited)
		runtime.Goexit()
		return nil
	})
	if err := b.Publish(t.Context(), drainFollow{N: 1}); err != nil {
		t.Fatal(err)
	}
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := b.Shutdown(ctx)
	<-exited
	time.Sleep(50 * time.Millisecond)
	var de *bus.DrainError
	if !errors.As(err, &de) || de.Left != 1 {
		t.Errorf("Shutdown = %v, want a DrainError with 1 left", err)
	}
	if dead.Load() != 0 {
		t.Fatalf("an event left unhandled by the hard stop (Shutdown = %v) was also dead-lettered", err)
	}
}

// blockingPublish is a GoChannel whose Publish waits for release, and which
// notes whether it was closed while a Publish was in progress.
type blockingPublish struct {
	*gochannel.GoChannel
	entered, release chan struct{}
	inFlight         atomic.Int32
	closedInFlight   atomic.Bool
}

func (p *blockingPublish) Publish(topic string, msgs ...*message.Message) error {
	p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	p.entered <- struct{}{}
	<-p.release
	return p.GoChannel.Publish(topic, msgs...)
}

func (p *blockingPublish) Close() error {
	if p.inFlight.Load() > 0 {
		p.closedInFlight.Store(true)
	}
	return p.GoChannel.Close()
}

// A bus that only publishes (never started) lets the Publish calls in
// progress finish before it closes the publisher, until ctx ends.
func TestShutdownBeforeStartWaitsForPublish(t *testing.T) {
	for _, expire := range []bool{false, true} {
		t.Run(fmt.Sprintf("context ends: %t", expire), func(t *testing.T) {
			pub := &blockingPublish{GoChannel: gochannel.NewGoChannel(gochannel.Config{}, nil), entered: make(chan struct{}, 1), release: make(chan struct{})}
			b, err := bus.New(bus.Config{Publisher: pub, Subscriber: pub})
			if err != nil {
				t.Fatal(err)
			}
			published := make(chan error, 1)
			go func() { published <- b.Publish(context.Background(), drainFollow{N: 1}) }()
			<-pub.entered
			ctx, cancel := context.WithCancel(context.Background())
			if expire {
				ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
			}
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- b.Shutdown(ctx) }()
			if expire {
				err := <-done
				var de *bus.DrainError
				if !errors.As(err, &de) || de.Left != 1 || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Shutdown = %v, want a DrainError with the Publish in progress left", err)
				}
				close(pub.release)
				<-published
				return
			}
			select {
			case err := <-done:
				close(pub.release)
				t.Fatalf("Shutdown = %v while a Publish was in progress (which then returned %v)", err, <-published)
			case <-time.After(200 * time.Millisecond):
			}
			close(pub.release)
			if err := <-published; err != nil {
				t.Errorf("Publish = %v", err)
			}
			if err := <-done; err != nil {
				t.Errorf("Shutdown = %v", err)
			}
			if pub.closedInFlight.Load() {
				t.Error("the publisher was closed under a Publish in progress")
			}
		})
	}
}

// An Inline handler that ends the publishing goroutine (runtime.Goexit)
// gives back the pending units Publish took for the queued handlers: the
// bus still takes MaxPending events, and drains.
func TestInlineGoexitReleasesPendingUnits(t *testing.T) {
	b := newBus(t, bus.Config{MaxPending: 2, Overflow: bus.OverflowFail})
	err := bus.Handle(b, "inline", func(_ context.Context, e drainFollow) error {
		if e.N == 0 {
			runtime.Goexit()
		}
		return nil
	}, bus.Inline())
	if err != nil {
		t.Fatal(err)
	}
	startWith(t, b, func(context.Context, drainFollow) error { return nil })
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		_ = b.Publish(context.Background(), drainFollow{N: 0})
	}()
	<-exited
	for i := 1; i <= 2; i++ {
		if err := b.Publish(t.Context(), drainFollow{N: i}); err != nil {
			t.Errorf("Publish %d = %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
}

// An OnDeadLetter hook that ends its goroutine (runtime.Goexit, which
// t.FailNow calls) ends only its own call: the event is dead-lettered once.
func TestOnDeadLetterGoexitDeadLettersOnce(t *testing.T) {
	var hookCalls atomic.Int64
	b := newBus(t, bus.Config{Workers: 1, Retry: bus.RetryPolicy{MaxRetries: bus.NoRetries},
		OnDeadLetter: func(bus.DeadLetterParams) {
			hookCalls.Add(1)
			runtime.Goexit()
		}})
	var dls atomic.Int64
	if err := bus.HandleDeadLetters(b, "dl", func(context.Context, bus.DeadLetter) error {
		dls.Add(1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	startWith(t, b, func(context.Context, drainFollow) error { return errors.New("fail") })
	if err := b.Publish(t.Context(), drainFollow{N: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if n, calls := dls.Load(), hookCalls.Load(); n != 1 || calls != 1 {
		t.Errorf("one failed event gave %d dead letters and %d OnDeadLetter calls, want 1 and 1", n, calls)
	}
}

// A bus never started, with no Publish in progress, shuts down cleanly even
// with a context already done.
func TestShutdownBeforeStartIdleWithEndedContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 100 {
		b, err := bus.New(bus.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
	}
}
