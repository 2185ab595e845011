package webhooks

import (
	"context"
	"io"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"
)

// attemptTransport runs one HTTP attempt on base, which bounds it with the
// per-attempt timeout, and observes it as otelhttp's Transport would: a
// client span per attempt when the delivery is traced, with the attributes
// and status of the HTTP semantic conventions otelhttp gives it, and the
// http.client.request.duration and http.client.request.body.size metrics
// when the meter provider records them (clientspan.go). It does so without
// otelhttp's copy of every request and its header, its wrappers of the
// request and response bodies (the first would cost h1 its single write of
// head and payload) and its metric attributes built whether or not a meter
// records them.
//
// When the deliver span is not recording (no SDK installed, or the trace was
// sampled out) there is no client span; the trace context, if any, is still
// injected, so receivers see a sampled-out traceparent as they should.
//
// It has no CloseIdleConnections method on purpose: retryablehttp closes
// every idle connection whenever a request fails for good, and one failing
// receiver must not cost the others their warm connections.
type attemptTransport struct {
	base     http.RoundTripper
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	duration httpconv.ClientRequestDuration
	bodySize httpconv.ClientRequestBodySize
}

// RoundTrip implements http.RoundTripper.
func (t *attemptTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	traced := trace.SpanFromContext(ctx).IsRecording()
	if traced || t.duration.Enabled(ctx) || t.bodySize.Enabled(ctx) {
		return t.observe(r, traced)
	}
	if trace.SpanContextFromContext(ctx).IsValid() {
		r = t.inject(ctx, r)
	}
	return t.base.RoundTrip(r)
}

// inject returns a shallow copy of r with ctx and a header of its own that
// carries the trace context of ctx: RoundTrip must not change the caller's
// request.
func (t *attemptTransport) inject(ctx context.Context, r *http.Request) *http.Request {
	r = r.WithContext(ctx)
	r.Header = r.Header.Clone()
	t.prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
	return r
}

// deadlineTransport is net/http's Transport (SenderConfig.HTTP2) with the
// per-attempt timeout as a context deadline, released when the response
// body is closed; h1's Transport sets that deadline on the connection
// itself. It is not http.Client.Timeout: on a wrapped transport the client
// would start a timer goroutine per request to enforce that.
type deadlineTransport struct {
	*http.Transport
	timeout time.Duration
}

// RoundTrip implements http.RoundTripper.
func (t deadlineTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(r.Context(), t.timeout)
	resp, err := t.Transport.RoundTrip(r.WithContext(ctx))
	switch {
	case err != nil:
		cancel()
		return nil, err
	case resp.Body == http.NoBody:
		cancel() // nothing left to read (204, say)
		return resp, nil
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose releases the attempt's context once its body is closed, so
// the deadline also bounds reading the response.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
