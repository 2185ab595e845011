package webhooks

import (
	"bytes"
	"context"
	"io"
	"iter"
	"net/http"
	"slices"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/net/http/httpguts"

	"github.com/hookbus/hookbus/internal/h1"
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
	metered := t.duration.Enabled(ctx) || t.bodySize.Enabled(ctx)
	if traced || metered {
		return t.observe(r, traced, metered)
	}
	if trace.SpanContextFromContext(ctx).IsValid() {
		r, _ = t.inject(ctx, r)
	}
	return t.base.RoundTrip(r)
}

// inject gives the request the trace context of ctx. When h1 writes r's
// fields from its send state, they go among those, in their place; else,
// or if one of them could not be written so, r's copy is returned, with
// ctx and a header of its own that carries them (whose fields replace any
// of the same name among the state's): RoundTrip must not change the
// caller's request.
func (t *attemptTransport) inject(ctx context.Context, r *http.Request) (_ *http.Request, copied bool) {
	if st, _ := r.Context().Value(h1.FieldsKey{}).(*sendState); st != nil {
		st.injectFailed = false
		t.prop.Inject(ctx, (*fieldCarrier)(st))
		if !st.injectFailed {
			return r, false
		}
	}
	r = r.WithContext(ctx)
	r.Header = r.Header.Clone()
	t.prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
	return r, true
}

// fieldCarrier is a send state whose fields h1 writes, as the carrier of
// the trace context of an attempt, which reads and writes the fields as a
// propagation.HeaderCarrier would a header holding them all: Set puts a
// field among them in the order of their names, replacing one of the same
// name (the state's next attempt renders its fields anew). A field that
// cannot be written as it is fails the state's injection instead.
type fieldCarrier sendState

// Get implements propagation.TextMapCarrier: the value of the field key
// names, as Header.Get would find it in a header holding every field.
func (c *fieldCarrier) Get(key string) string {
	name := http.CanonicalHeaderKey(key)
	if name == "User-Agent" {
		return (*sendState)(c).UserAgent()
	}
	for n, v := range fieldLines(c.fields) {
		if string(n) == name {
			return string(v)
		}
	}
	return ""
}

// Keys implements propagation.TextMapCarrier: the names of the fields, as
// the keys of a header holding them all.
func (c *fieldCarrier) Keys() []string {
	keys := []string{"User-Agent"}
	for n := range fieldLines(c.fields) {
		keys = append(keys, string(n))
	}
	return keys
}

// fieldLines yields the name and value of each of lines ("Name: value\r\n").
func fieldLines(lines []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		for len(lines) > 0 {
			line, rest, _ := bytes.Cut(lines, crlf)
			n, v, _ := bytes.Cut(line, []byte(": "))
			if !yield(n, v) {
				return
			}
			lines = rest
		}
	}
}

// Set implements propagation.TextMapCarrier.
func (c *fieldCarrier) Set(key, value string) {
	st := (*sendState)(c)
	var buf [64]byte
	name, ok := canonicalFieldName(buf[:0], key)
	if !ok || !plainFieldValue(value) {
		st.injectFailed = true
		return
	}
	st.fields = setField(st.fields, name, value)
}

// canonicalFieldName appends key's canonical form (http.CanonicalHeaderKey)
// to dst, if key is a valid field name h1 takes among a request's Fields.
func canonicalFieldName(dst []byte, key string) ([]byte, bool) {
	if !httpguts.ValidHeaderFieldName(key) {
		return dst, false
	}
	upper := true
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		dst = append(dst, c)
		upper = c == '-'
	}
	return dst, !h1.ReservedField(string(dst))
}

// setField sets the field name to value among lines ("Name: value\r\n",
// sorted by name), in place when lines has room.
func setField(lines, name []byte, value string) []byte {
	// [i, j) is the line replaced, or where the field goes if i == j.
	i := 0
	for i < len(lines) {
		colon := bytes.IndexByte(lines[i:], ':')
		if colon < 0 || string(lines[i:i+colon]) >= string(name) {
			break
		}
		i += bytes.Index(lines[i:], crlf) + len(crlf)
	}
	j := i
	if colon := bytes.IndexByte(lines[i:], ':'); colon >= 0 && string(lines[i:i+colon]) == string(name) {
		j += bytes.Index(lines[i:], crlf) + len(crlf)
	}
	n := len(name) + len(": ") + len(value) + len(crlf)
	old := len(lines)
	if delta := n - (j - i); delta > 0 {
		lines = slices.Grow(lines, delta)[:old+delta]
		copy(lines[j+delta:], lines[j:old])
	} else if delta < 0 {
		copy(lines[j+delta:], lines[j:old])
		lines = lines[:old+delta]
	}
	k := i + copy(lines[i:], name)
	k += copy(lines[k:], ": ")
	k += copy(lines[k:], value)
	copy(lines[k:], crlf)
	return lines
}

var crlf = []byte("\r\n")

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
