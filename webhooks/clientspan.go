package webhooks

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"
)

// The telemetry of an attempt is what otelhttp's Transport (v0.72, HTTP
// semantic conventions v1.43) records for a request: the span's name, kind,
// attributes and status, and the two client metrics with their attributes
// and buckets. TestClientTelemetryMatchesOtelhttp holds the two side by side.

// clientSpanOptions starts the client span of an attempt.
var clientSpanOptions = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}

// newClientMetrics makes the HTTP client instruments of the semantic
// conventions from mp, with their buckets (otelhttp asks for the same).
func newClientMetrics(mp metric.MeterProvider) (httpconv.ClientRequestDuration, httpconv.ClientRequestBodySize, error) {
	meter := mp.Meter(instrumentationName)
	d, err := httpconv.NewClientRequestDuration(meter)
	if err != nil {
		return d, httpconv.ClientRequestBodySize{}, err
	}
	b, err := httpconv.NewClientRequestBodySize(meter)
	return d, b, err
}

// clientSpanName names an attempt's client span as otelhttp's default does,
// "HTTP <method>", without building the string for the POSTs Send makes.
func clientSpanName(r *http.Request) string {
	if r.Method == http.MethodPost {
		return "HTTP POST"
	}
	return "HTTP " + r.Method
}

// observe runs r on the base transport with a client span if traced, and
// records the client metrics if metered.
func (t *attemptTransport) observe(r *http.Request, traced, metered bool) (*http.Response, error) {
	ctx := r.Context()
	start := time.Now()
	var span trace.Span
	if traced {
		ctx, span = t.tracer.Start(ctx, clientSpanName(r), clientSpanOptions...)
	}
	copied := false // r is a copy of the caller's request, which RoundTrip must not change
	if traced || trace.SpanContextFromContext(ctx).IsValid() {
		r, copied = t.inject(ctx, r)
	}
	var counted *countingBody
	if _, ok := r.Body.(*payloadReader); metered && !ok && r.Body != nil && r.Body != http.NoBody {
		// net/http's Transport may read the body in a goroutine of its own.
		if !copied {
			r = r.WithContext(ctx)
		}
		counted = &countingBody{ReadCloser: r.Body}
		r.Body = counted
	}
	res, err := t.base.RoundTrip(r)
	switch {
	case err == nil && res == nil:
		err = fmt.Errorf("http: RoundTripper implementation (%T) returned a nil *Response with a nil error", t.base)
	case err == nil && res.Body == nil:
		res.Body = http.NoBody
	}
	elapsed := time.Since(start)

	dest := destinationOf(ctx, r.URL)
	if metered {
		t.record(ctx, r, res, err, elapsed, dest, counted)
	}
	if !traced {
		return res, err
	}
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs, methodAttribute(r.Method))
	attrs = append(attrs, dest.span...)
	if err != nil {
		attrs = appendProtocol(attrs, r.Proto)
		span.SetAttributes(append(attrs, semconv.ErrorType(err))...)
		span.SetStatus(codes.Error, err.Error())
		span.End()
		return res, err
	}
	if res.StatusCode > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(res.StatusCode))
	}
	if res.StatusCode >= 400 || res.StatusCode < 100 {
		attrs = append(attrs, semconv.ErrorTypeKey.String(strconv.Itoa(res.StatusCode)))
	}
	attrs = appendProtocol(attrs, attemptProto(r, res))
	span.SetAttributes(attrs...)
	switch code := res.StatusCode; {
	case code < 100 || code >= 600:
		span.SetStatus(codes.Error, fmt.Sprintf("Invalid HTTP status code %d", code))
	case code >= 400:
		span.SetStatus(codes.Error, "")
	}
	// Ended when the body is closed, empty or not: after the sender has
	// judged the attempt and recorded it.
	res.Body = &spanBody{ReadCloser: res.Body, span: span}
	return res, nil
}

// attemptProto is the attempt's protocol: the response's, which the
// transport may have negotiated, or the request's without a response or
// when the response names none.
func attemptProto(r *http.Request, res *http.Response) string {
	if res != nil && res.Proto != "" {
		return res.Proto
	}
	return r.Proto
}

// record records the client metrics of an attempt: at once if the request
// body is a payloadReader, which h1 is done with when it returns, else once
// counted, the body, is closed.
func (t *attemptTransport) record(ctx context.Context, r *http.Request, res *http.Response, err error, elapsed time.Duration, dest destination, counted *countingBody) {
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs, semconv.HTTPRequestMethodKey.String(standardMethod(r.Method)))
	attrs = append(attrs, dest.metric...)
	name, version := netProtocol(attemptProto(r, res))
	if name != "" {
		attrs = append(attrs, semconv.NetworkProtocolName(name))
	}
	if version != "" {
		attrs = append(attrs, semconv.NetworkProtocolVersion(version))
	}
	status := 0
	if err == nil {
		status = res.StatusCode
	}
	if status > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(status))
	}
	if status == 0 && err != nil {
		attrs = append(attrs, semconv.ErrorTypeKey.String(metricErrorType(err)))
	}
	set := metric.WithAttributeSet(attribute.NewSet(attrs...))
	t.duration.Inst().Record(ctx, float64(elapsed)/float64(time.Second), set)
	if counted != nil {
		counted.onClose(func(n int64) { t.bodySize.Inst().Record(ctx, n, set) })
		return
	}
	var n int64
	if p, ok := r.Body.(*payloadReader); ok {
		n = p.Size() - int64(p.Len())
	}
	t.bodySize.Inst().Record(ctx, n, set)
}

// countingBody counts what is read of a request body that net/http's
// Transport may go on reading, in a goroutine of its own, after RoundTrip
// has returned (to a receiver that answered early), and tells the count
// once the body is closed, as otelhttp does.
type countingBody struct {
	io.ReadCloser
	n      atomic.Int64
	mu     sync.Mutex
	closed bool
	then   func(n int64) // set by onClose before Close
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// Close implements io.Closer.
func (b *countingBody) Close() error {
	err := b.ReadCloser.Close()
	b.mu.Lock()
	b.closed = true
	then := b.then
	b.then = nil
	b.mu.Unlock()
	if then != nil {
		then(b.n.Load())
	}
	return err
}

// onClose calls f with the count once the body is closed: now, if it is.
func (b *countingBody) onClose(f func(n int64)) {
	b.mu.Lock()
	if !b.closed {
		b.then = f
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	f(b.n.Load())
}

// destination holds the attributes of an attempt's URL: those of its span
// (url.full, server.address and, unless it is the scheme's, server.port)
// and those of its metrics (server.address, url.scheme, server.port).
type destination struct {
	span, metric []attribute.KeyValue
}

// destinationOf returns the attributes of u, made once per Target for the
// Target's own URL.
func destinationOf(ctx context.Context, u *url.URL) destination {
	if st := stateOf(ctx); st != nil && st.req.Target != nil && st.req.Target.url == u {
		return st.req.Target.destination()
	}
	return newDestination(u)
}

// destination returns the attributes of the target's URL.
func (t *Target) destination() destination {
	if d := t.dest.Load(); d != nil {
		return *d
	}
	d := newDestination(t.url)
	t.dest.Store(&d)
	return d
}

func newDestination(u *url.URL) destination {
	host, port := splitHostPort(u.Host)
	if u.Scheme == "https" && port == 443 || u.Scheme != "https" && port == 80 {
		port = -1
	}
	full := u.String()
	if u.User != nil {
		bare := *u
		bare.User = nil
		full = bare.String()
	}
	scheme := u.Scheme
	if scheme == "" {
		scheme = "http"
	}
	d := destination{
		span:   []attribute.KeyValue{semconv.URLFull(full), semconv.ServerAddress(host)},
		metric: []attribute.KeyValue{semconv.ServerAddress(host), semconv.URLScheme(scheme)},
	}
	if port > 0 {
		d.span = append(d.span, semconv.ServerPort(port))
		d.metric = append(d.metric, semconv.ServerPort(port))
	}
	return d
}

// splitHostPort splits a URL's host into host and port, -1 for a port
// missing or invalid.
func splitHostPort(hostport string) (host string, port int) {
	port = -1
	if strings.HasPrefix(hostport, "[") {
		end := strings.LastIndexByte(hostport, ']')
		if end < 0 {
			return "", port
		}
		if !strings.Contains(hostport[end:], ":") {
			return hostport[1:end], port
		}
	} else if !strings.Contains(hostport, ":") {
		return hostport, port
	}
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return host, port
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return host, port
	}
	return host, int(n)
}

// methodAttribute is the span's http.request.method; the sender only POSTs.
func methodAttribute(m string) attribute.KeyValue {
	if m == http.MethodPost {
		return semconv.HTTPRequestMethodPost
	}
	return semconv.HTTPRequestMethodKey.String(standardMethod(m))
}

// standardMethod is m if it is one of HTTP's methods, else "_OTHER".
func standardMethod(m string) string {
	switch m = strings.ToUpper(m); m {
	case http.MethodConnect, http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodOptions,
		http.MethodPatch, http.MethodPost, http.MethodPut, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// appendProtocol appends the network.protocol attributes of proto
// ("HTTP/1.1"): the name only if it is not "http", and the version.
func appendProtocol(attrs []attribute.KeyValue, proto string) []attribute.KeyValue {
	name, version := netProtocol(proto)
	if name != "" && name != "http" {
		attrs = append(attrs, semconv.NetworkProtocolName(name))
	}
	if version != "" {
		attrs = append(attrs, semconv.NetworkProtocolVersion(version))
	}
	return attrs
}

func netProtocol(proto string) (name, version string) {
	name, version, _ = strings.Cut(proto, "/")
	if name == "HTTP" {
		return "http", version
	}
	return strings.ToLower(name), version
}

// metricErrorType is the error.type of the metrics of an attempt that got
// no response: the error's type, as "package.Name".
func metricErrorType(err error) string {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.PkgPath() == "" || t.Name() == "" {
		return t.String()
	}
	return t.PkgPath() + "." + t.Name()
}

// spanBody ends the client span of an attempt once its response body is
// read to its end or closed, and records an error reading it.
type spanBody struct {
	io.ReadCloser
	span  trace.Span
	ended atomic.Bool
}

func (b *spanBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch err {
	case nil:
	case io.EOF:
		b.end()
	default:
		b.span.SetAttributes(semconv.ErrorType(err))
		b.span.SetStatus(codes.Error, err.Error())
	}
	return n, err
}

// Close implements io.Closer.
func (b *spanBody) Close() error {
	b.end()
	return b.ReadCloser.Close()
}

func (b *spanBody) end() {
	if b.ended.CompareAndSwap(false, true) {
		b.span.End()
	}
}
