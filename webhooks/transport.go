package webhooks

import (
	"context"
	"io"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// attemptTransport runs one HTTP attempt on base, which bounds it with the
// per-attempt timeout, and gives it a client span through otelhttp when the
// delivery is traced.
//
// When the deliver span is not recording (no SDK installed, or the trace was
// sampled out) otelhttp is skipped: it would make no span, yet it wraps the
// request body, which costs net/http a separate write for the body. The
// trace context, if any, is still injected, so receivers see a sampled-out
// traceparent as they should.
//
// It has no CloseIdleConnections method on purpose: retryablehttp closes
// every idle connection whenever a request fails for good, and one failing
// receiver must not cost the others their warm connections.
type attemptTransport struct {
	base   http.RoundTripper
	traced http.RoundTripper
	prop   propagation.TextMapPropagator
}

// RoundTrip implements http.RoundTripper.
func (t *attemptTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	rt := t.base
	switch sc := trace.SpanContextFromContext(ctx); {
	case trace.SpanFromContext(ctx).IsRecording():
		rt = t.traced
	case sc.IsValid():
		// RoundTrip must not change the caller's request: a shallow copy
		// gets its own header with the trace context.
		r = r.WithContext(ctx)
		r.Header = r.Header.Clone()
		t.prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
	}
	return rt.RoundTrip(r)
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
