package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/webhooks"
)

// Webhook ids of the isolation mode.
const (
	healthyID = "wh_healthy"
	hangingID = "wh_hanging"
)

// isolation runs the isolation mode: the healthy webhook alone, then next to
// a hanging one, round after round in alternating order.
func (b *bench) isolation(ctx context.Context) (summary, error) {
	c := slices.Max(b.opts.concurrency)
	queue := cmp.Or(b.opts.queue, webhooks.DefaultQueueSize)
	variants := []variant{b.isolated(false, queue), b.isolated(true, queue)}
	fmt.Fprintf(b.out, "isolation: c=%d, %d workers, %d per webhook, queue %d, attempt timeout %v; %d round(s) of %v per variant\n",
		c, 2*c, c, queue, b.opts.hangTimeout, b.opts.rounds, b.opts.duration)
	results := make(map[string][]sample)
	for r := range b.opts.rounds {
		order := slices.Clone(variants)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, v := range order {
			s, err := b.measure(ctx, v, c)
			if err != nil {
				return summary{}, err
			}
			results[v.name] = append(results[v.name], s)
			note := ""
			if s.stalled {
				note = " (none completed: latencies are at least the window)"
			}
			fmt.Fprintf(b.out, "round %d/%d %-9s healthy %.0f deliveries/s p50 %.3f ms p99 %.3f ms%s\n",
				r+1, b.opts.rounds, v.name, s.rate, ms(s.p50), ms(s.p99), note)
		}
	}
	alone, hang := results["alone"], results["with-hang"]
	var ratios []float64
	for i := range min(len(alone), len(hang)) {
		if alone[i].p99 > 0 {
			ratios = append(ratios, float64(hang[i].p99)/float64(alone[i].p99))
		}
	}
	var failed, stalled int64
	for _, s := range slices.Concat(alone, hang) {
		failed += s.failed
		if s.stalled {
			stalled++
		}
	}
	var sum summary
	sum.add("mode", "isolation")
	sum.add("backend", b.backend.name())
	sum.add("store", b.storage.kind)
	sum.add("tracing", b.opts.tracing)
	sum.add("payload", len(b.event.body))
	sum.add("concurrency", c)
	sum.add("hang_timeout", b.opts.hangTimeout)
	sum.add("queue", queue)
	sum.add("healthy_p50_alone_ms", median(collect(alone, p50Of)))
	sum.add("healthy_p99_alone_ms", median(collect(alone, p99Of)))
	sum.add("healthy_p50_with_hang_ms", median(collect(hang, p50Of)))
	sum.add("healthy_p99_with_hang_ms", median(collect(hang, p99Of)))
	sum.add("healthy_p99_ratio", median(ratios))
	sum.add("healthy_dps_alone", median(collect(alone, rateOf)))
	sum.add("healthy_dps_with_hang", median(collect(hang, rateOf)))
	sum.add("stalled_rounds", stalled)
	sum.add("failed", failed)
	fmt.Fprintf(b.out, "healthy webhook p99: %.3f ms alone, %.3f ms with a hanging neighbour (ratio %.3f)\n",
		median(collect(alone, p99Of)), median(collect(hang, p99Of)), median(ratios))
	if a, h := median(collect(alone, rateOf)), median(collect(hang, rateOf)); h < a/2 {
		if b.backend.name() == backendMemory {
			fmt.Fprintf(b.out, "note: the healthy webhook's rate fell from %.0f to %.0f deliveries/s: once the hanging webhook's queue (%d) is full, "+
				"the dispatcher waits for room there before it hands on the next event, to every webhook; -queue sizes the queue\n", a, h, queue)
		} else {
			fmt.Fprintf(b.out, "note: the healthy webhook's rate fell from %.0f to %.0f deliveries/s: on a broker an event is acknowledged only once "+
				"every delivery of it has an outcome, so the events in flight (at most the bus's %d workers; on PostgreSQL one per handler) "+
				"each wait out the hanging webhook's attempts\n", a, h, c)
		}
	}
	return sum, nil
}

// isolated is the healthy webhook measured in a closed loop of c events, with
// a hanging webhook of the same event type next to it when withHang is set.
// Both runs share one configuration: 2c workers, c per webhook, so the
// hanging webhook can hold c workers and the healthy one still has c.
func (b *bench) isolated(withHang bool, queue int) variant {
	name := "alone"
	if withHang {
		name = "with-hang"
	}
	return variant{name: name, start: func(ctx context.Context, c int, t *tally) (func(context.Context) error, error) {
		hooks := []webhooks.Webhook{{
			ID:        healthyID,
			Name:      "healthy receiver",
			URL:       b.rcv.base + pathOK,
			EventType: webhooks.CommercialSignalDetectedEvent,
		}}
		if withHang {
			hooks = append(hooks, webhooks.Webhook{
				ID:        hangingID,
				Name:      "hanging receiver",
				URL:       b.rcv.other + pathHang,
				EventType: webhooks.CommercialSignalDetectedEvent,
			})
		}
		sender := loopbackSender(2 * c)
		sender.Timeout = b.opts.hangTimeout
		sender.RetryWaitMin, sender.RetryWaitMax = b.opts.hangTimeout/4, b.opts.hangTimeout
		loop := newClosedLoop(c)
		eng, err := b.startEngine(ctx, engineSpec{
			bus: bus.Config{Workers: c, MaxPending: max(bus.DefaultMaxPending, 4*c)},
			service: webhooks.Config{
				Workers:                  2 * c,
				MaxConcurrencyPerWebhook: c,
				QueueSize:                queue,
				DisableAfter:             -1,
				Sender:                   sender,
			},
			webhooks: hooks,
		}, func(d webhooks.DeliveryRecord) {
			if d.WebhookID != healthyID {
				return
			}
			t.observe(time.Since(d.OccurredAt), delivered(d))
			loop.release()
		})
		if err != nil {
			return nil, err
		}
		loop.run(ctx, func(ctx context.Context) error {
			return eng.svc.Publish(ctx, b.event.at(time.Now()))
		})
		return func(ctx context.Context) error {
			err := loop.halt(ctx, 10*time.Second)
			// The hanging webhook's queue never drains: its deliveries are
			// recorded as undelivered, and events its full queue held back
			// on the bus are dropped.
			serr := eng.shutdown(ctx, 500*time.Millisecond)
			if withHang && (errors.Is(serr, webhooks.ErrDrainIncomplete) || errors.Is(serr, bus.ErrDrainIncomplete)) {
				serr = nil
			}
			return errors.Join(err, serr)
		}, nil
	}}
}
