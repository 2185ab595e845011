package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/webhooks"
)

// engineSpec describes a hookbus service to measure. startEngine fills in the
// transport (from the backend), the tracer provider, the webhook store and
// the delivery log (from the storage).
type engineSpec struct {
	bus      bus.Config
	service  webhooks.Config
	webhooks []webhooks.Webhook
}

// engine is a started service and what its backend holds.
type engine struct {
	svc          *webhooks.Service
	closeBackend func() error
}

// startEngine builds the bus and the service of spec, creates its webhooks
// and starts it. onOutcome is called after every recorded delivery outcome,
// on the delivery worker that recorded it.
func (b *bench) startEngine(ctx context.Context, spec engineSpec, onOutcome func(webhooks.DeliveryRecord)) (*engine, error) {
	bcfg := spec.bus
	bcfg.TracerProvider = b.tp
	bcfg, closeBackend, err := b.backend.busConfig(ctx, bcfg)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", b.backend.name(), err)
	}
	bs, err := bus.New(bcfg)
	if err != nil {
		return nil, errors.Join(err, closeBackend())
	}
	store, log, err := b.storage.open(ctx)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("store %s: %w", b.storage.kind, err), bs.Shutdown(ctx), closeBackend())
	}
	scfg := spec.service
	scfg.TracerProvider = b.tp
	scfg.Store = store
	scfg.Log = &outcomeLog{DeliveryLog: log, onOutcome: onOutcome}
	svc, err := webhooks.New(bs, scfg)
	if err != nil {
		return nil, errors.Join(err, bs.Shutdown(ctx), closeBackend())
	}
	e := &engine{svc: svc, closeBackend: closeBackend}
	for _, w := range spec.webhooks {
		if _, err := svc.Create(ctx, w); err != nil {
			return nil, errors.Join(fmt.Errorf("create webhook %s: %w", w.Name, err), e.shutdown(ctx, time.Second))
		}
	}
	if err := svc.Start(ctx); err != nil {
		return nil, errors.Join(err, e.shutdown(ctx, time.Second))
	}
	return e, nil
}

// shutdown shuts the service (and its bus) down, giving deliveries in flight
// at most timeout, then releases the backend.
func (e *engine) shutdown(ctx context.Context, timeout time.Duration) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	err := e.svc.Shutdown(sctx)
	return errors.Join(err, e.closeBackend())
}

// outcomeLog is the measured service's delivery log: the storage's (in
// memory, the MemoryLog the service uses by default), plus a callback after
// each recorded outcome, so that what is measured is the service as a host
// runs it, and completion is known where the service itself knows it. The
// callback runs on the delivery worker and must be cheap.
type outcomeLog struct {
	webhooks.DeliveryLog
	onOutcome func(webhooks.DeliveryRecord)
}

var _ webhooks.DeliveryLog = (*outcomeLog)(nil)

// RecordDelivery records d, then reports it.
func (l *outcomeLog) RecordDelivery(ctx context.Context, d webhooks.DeliveryRecord) error {
	err := l.DeliveryLog.RecordDelivery(ctx, d)
	l.onOutcome(d)
	return err
}

// RecordOutcome records a delivery and its last attempt in one step when the
// storage's log can (both of the bench's can), then reports the delivery.
func (l *outcomeLog) RecordOutcome(ctx context.Context, last webhooks.Attempt, d webhooks.DeliveryRecord) error {
	var err error
	if r, ok := l.DeliveryLog.(webhooks.OutcomeRecorder); ok {
		err = r.RecordOutcome(ctx, last, d)
	} else {
		err = errors.Join(l.DeliveryLog.RecordAttempt(ctx, last), l.DeliveryLog.RecordDelivery(ctx, d))
	}
	l.onOutcome(d)
	return err
}

var _ webhooks.OutcomeRecorder = (*outcomeLog)(nil)

// delivered reports whether a delivery ended with a 2xx response.
func delivered(d webhooks.DeliveryRecord) bool {
	return d.Outcome == webhooks.OutcomeDelivered && d.StatusCode >= 200 && d.StatusCode < 300
}

// loopbackSender is the sender configuration of every measured service: plain
// http to the loopback receiver allowed, and at least conns idle connections
// kept per host.
func loopbackSender(conns int) webhooks.SenderConfig {
	return webhooks.SenderConfig{
		AllowHTTP:           true,
		AllowAddresses:      []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		MaxIdleConnsPerHost: max(webhooks.DefaultMaxIdleConnsPerHost, conns),
	}
}

// closedLoop keeps a fixed number of events in flight: each publisher takes a
// token before it publishes, and every outcome that counts gives one back
// (release). A publisher therefore waits for a delivery to complete, though
// not necessarily its own, and the service never has more than the token
// count of deliveries to do, like the baseline's request loops.
type closedLoop struct {
	tokens chan struct{}
	stop   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup

	failures atomic.Int64
	mu       sync.Mutex
	firstErr error
}

// newClosedLoop returns a loop of c tokens; release may be called at once,
// before run.
func newClosedLoop(c int) *closedLoop {
	l := &closedLoop{tokens: make(chan struct{}, c), stop: make(chan struct{}), cancel: func() {}}
	for range c {
		l.tokens <- struct{}{}
	}
	return l
}

// run starts one publisher per token. A publisher whose publish fails stops;
// halt reports the first failure.
func (l *closedLoop) run(ctx context.Context, publish func(context.Context) error) {
	ctx, l.cancel = context.WithCancel(ctx)
	for range cap(l.tokens) {
		l.wg.Go(func() {
			for {
				select {
				case <-l.tokens:
				case <-l.stop:
					return
				}
				select {
				case <-l.stop:
					l.release()
					return
				default:
				}
				if err := publish(ctx); err != nil {
					l.release()
					if ctx.Err() == nil {
						l.fail(err)
					}
					return
				}
			}
		})
	}
}

// release gives a token back.
func (l *closedLoop) release() {
	select {
	case l.tokens <- struct{}{}:
	default: // outcomes recorded at shutdown, after the loop ended
	}
}

func (l *closedLoop) fail(err error) {
	if l.failures.Add(1) == 1 {
		l.mu.Lock()
		l.firstErr = err
		l.mu.Unlock()
	}
}

// halt stops the publishers, then waits up to wait for the events in flight
// to have their outcome. It returns the first publish failure, if any.
func (l *closedLoop) halt(ctx context.Context, wait time.Duration) error {
	close(l.stop)
	l.cancel()
	l.wg.Wait()
	if n := l.failures.Load(); n > 0 {
		l.mu.Lock()
		defer l.mu.Unlock()
		return fmt.Errorf("%d publishers failed, first with: %w", n, l.firstErr)
	}
	deadline := time.Now().Add(wait)
	for len(l.tokens) < cap(l.tokens) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d deliveries still without an outcome %v after publishing stopped", cap(l.tokens)-len(l.tokens), wait)
		}
		if err := sleep(ctx, time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}
