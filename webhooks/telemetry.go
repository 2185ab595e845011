package webhooks

import (
	"context"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric names of the delivery engine, all under the "hookbus." prefix.
const (
	MetricDeliveries       = "hookbus.webhook.deliveries"
	MetricAttempts         = "hookbus.webhook.attempts"
	MetricAttemptDuration  = "hookbus.webhook.attempt.duration"
	MetricQueueDepth       = "hookbus.webhook.queue.depth"
	MetricDeadLetters      = "hookbus.webhook.dead_letters"
	MetricDisabledWebhooks = "hookbus.webhook.disabled"
)

// meters holds the engine's instruments. With the global no-op provider
// every call is a cheap no-op.
type meters struct {
	deliveries metric.Int64Counter
	attempts   metric.Int64Counter
	duration   metric.Float64Histogram
	dead       metric.Int64Counter
	disabled   metric.Int64Counter
	queueDepth metric.Int64ObservableGauge
	reg        metric.Registration

	// Options built once, as slices: recording with them does not allocate.
	outcome map[Outcome][]metric.AddOption
	class   [6]classOptions // by status class: 0 for no response, 1xx..5xx
}

type classOptions struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

func newMeters(mp metric.MeterProvider, depth func() int64) (*meters, error) {
	m := mp.Meter(instrumentationName)
	var err error
	ms := &meters{outcome: make(map[Outcome][]metric.AddOption)}
	if ms.deliveries, err = m.Int64Counter(MetricDeliveries, metric.WithUnit("{delivery}"),
		metric.WithDescription("Deliveries that reached an outcome, by outcome.")); err != nil {
		return nil, err
	}
	if ms.attempts, err = m.Int64Counter(MetricAttempts, metric.WithUnit("{attempt}"),
		metric.WithDescription("HTTP attempts, by response status class (none when no response arrived).")); err != nil {
		return nil, err
	}
	if ms.duration, err = m.Float64Histogram(MetricAttemptDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP attempts."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)); err != nil {
		return nil, err
	}
	if ms.dead, err = m.Int64Counter(MetricDeadLetters, metric.WithUnit("{delivery}"),
		metric.WithDescription("Deliveries dead-lettered: retries exhausted, 410 Gone, or a failure not retried.")); err != nil {
		return nil, err
	}
	if ms.disabled, err = m.Int64Counter(MetricDisabledWebhooks, metric.WithUnit("{webhook}"),
		metric.WithDescription("Webhooks disabled by the engine, by reason.")); err != nil {
		return nil, err
	}
	if ms.queueDepth, err = m.Int64ObservableGauge(MetricQueueDepth, metric.WithUnit("{delivery}"),
		metric.WithDescription("Deliveries queued and not yet started.")); err != nil {
		return nil, err
	}
	if ms.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(ms.queueDepth, depth())
		return nil
	}, ms.queueDepth); err != nil {
		return nil, err
	}
	for _, o := range []Outcome{OutcomeDelivered, OutcomeDeadLettered, OutcomeRefused, OutcomeSkipped, OutcomeUndelivered} {
		ms.outcome[o] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", string(o))))}
	}
	for i := range ms.class {
		v := "none"
		if i > 0 {
			v = strconv.Itoa(i) + "xx"
		}
		set := metric.WithAttributeSet(attribute.NewSet(attribute.String("http.response.status_class", v)))
		ms.class[i] = classOptions{add: []metric.AddOption{set}, record: []metric.RecordOption{set}}
	}
	return ms, nil
}

func (ms *meters) recordAttempt(ctx context.Context, status int, d time.Duration) {
	c := status / 100
	if c < 0 || c >= len(ms.class) {
		c = 0
	}
	ms.attempts.Add(ctx, 1, ms.class[c].add...)
	ms.duration.Record(ctx, d.Seconds(), ms.class[c].record...)
}

func (ms *meters) recordOutcome(ctx context.Context, o Outcome) {
	if opts, ok := ms.outcome[o]; ok {
		ms.deliveries.Add(ctx, 1, opts...)
	}
	if o == OutcomeDeadLettered {
		ms.dead.Add(ctx, 1)
	}
}

func (ms *meters) recordDisabled(ctx context.Context, reason string) {
	ms.disabled.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
}
