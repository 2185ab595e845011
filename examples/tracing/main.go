// Command tracing runs the quickstart flow with an OpenTelemetry SDK and
// exports every span over OTLP/HTTP, so each event can be followed in a trace
// backend such as Jaeger from the host's request to the receiver's handler:
//
//	POST /meetings/{meetingId}/status        host request (server)
//	└── publish meeting_status_changed       bus producer
//	    └── dispatch meeting_status_changed  bus consumer
//	        ├── deliver CRM meeting sync     one per webhook
//	        │   └── HTTP POST                one client span per attempt
//	        │       └── POST /crm            the receiver's server span
//	        └── deliver Legacy ERP (down)    retried, then dead-lettered
//	            ├── HTTP POST ...            four attempts
//
// The collector endpoint comes from the standard OTEL_EXPORTER_OTLP_ENDPOINT
// (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) environment variable and defaults
// to http://127.0.0.1:4318. The service name is -service, by default
// OTEL_SERVICE_NAME or hookbus-quickstart.
//
// For every published event the command prints one line
//
//	trace_id=<32 hex digits> event=<event type> deliveries=<webhooks subscribed>
//
// and it exits only after the spans are flushed to the collector, non-zero
// when any export failed. examples/tracing/e2e.sh runs it against Jaeger and
// checks the traces with examples/tracing/checktrace.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/signals"
	"github.com/hookbus/hookbus/webhooks"
)

// defaultEndpoint is the collector used when no OTLP endpoint variable is
// set: the OTLP/HTTP port of a collector on this machine, in plain HTTP.
const defaultEndpoint = "http://127.0.0.1:4318"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "tracing:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) (err error) {
	fs := flag.NewFlagSet("tracing", flag.ContinueOnError)
	defaultService := os.Getenv("OTEL_SERVICE_NAME")
	if defaultService == "" {
		defaultService = "hookbus-quickstart"
	}
	service := fs.String("service", defaultService, "service.name of the spans")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// OnDeadLetter prints from delivery workers, concurrently with run.
	stdout = &lockedWriter{w: stdout}

	tp, exp, endpoint, err := newTracerProvider(ctx, *service)
	if err != nil {
		return err
	}
	// Flush last, after the service has ended its spans, whatever happened.
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		ferr := errors.Join(tp.ForceFlush(flushCtx), tp.Shutdown(flushCtx))
		spans, failed := exp.exported.Load(), exp.failed.Load()
		fmt.Fprintf(stdout, "== exported %d spans to %s (%d failed)\n", spans, endpoint, failed)
		if ferr == nil && failed > 0 {
			ferr = fmt.Errorf("%d spans not exported to %s", failed, endpoint)
		}
		if ferr != nil {
			err = errors.Join(err, fmt.Errorf("flush spans: %w", ferr))
		}
	}()
	prop := propagation.TraceContext{}

	// The receiver continues the trace of each attempt from its traceparent.
	recv := newReceiver()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: otelhttp.NewHandler(recv, "receive webhook",
			otelhttp.WithTracerProvider(tp),
			otelhttp.WithPropagators(prop),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }),
		),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	b, err := bus.New(bus.Config{TracerProvider: tp, Propagator: prop})
	if err != nil {
		return err
	}
	hooks, err := webhooks.New(b, webhooks.Config{
		TracerProvider: tp,
		Sender: webhooks.SenderConfig{
			AllowHTTP:      true,
			AllowAddresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			RetryWaitMin:   50 * time.Millisecond,
			RetryWaitMax:   200 * time.Millisecond,
			Propagator:     prop,
		},
		OnDeadLetter: func(p webhooks.DeadLetterParams) {
			fmt.Fprintf(stdout, "  ! dead letter: %s to %q after %d attempts (%s)\n", p.Delivery.EventType, p.Webhook.Name, p.Delivery.Attempts, p.Delivery.Error)
		},
	})
	if err != nil {
		return err
	}
	if err := hooks.Start(ctx); err != nil {
		return err
	}
	// Deliveries end (and end their spans) before the receiver closes and
	// the spans are flushed.
	defer func() {
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err = errors.Join(err, hooks.Shutdown(shutCtx))
	}()

	fmt.Fprintln(stdout, "== webhooks")
	specs := []struct {
		name, path string
		et         webhooks.EventType
	}{
		{"CRM meeting sync", "/crm", webhooks.MeetingStatusChangedEvent},
		{"Notes mirror", "/notes", webhooks.MeetingNoteStatusChangedEvent},
		{"Deal signals", "/signals", webhooks.CommercialSignalDetectedEvent},
		{"Legacy ERP (down)", "/erp", webhooks.MeetingStatusChangedEvent},
	}
	names := map[string]string{}
	subscribed := map[webhooks.EventType]int{}
	for _, s := range specs {
		w, err := hooks.Create(ctx, webhooks.Webhook{
			Name: s.name, URL: base + s.path, EventType: s.et,
			Headers: map[string]string{"Authorization": "Bearer demo-token"},
		})
		if err != nil {
			return err
		}
		recv.addSecret(s.path, w.Secret)
		names[w.ID] = w.Name
		subscribed[s.et]++
		fmt.Fprintf(stdout, "  %-18s %-28s %s\n", w.Name, w.EventType, w.URL)
	}
	recv.setDown("/erp", true)

	fmt.Fprintln(stdout, "== publishing, one trace per host request")
	host := tp.Tracer("github.com/hookbus/hookbus/examples/tracing")
	want := 0
	for _, e := range demoEvents() {
		traceID, err := publish(ctx, host, hooks, e)
		if err != nil {
			return err
		}
		n := subscribed[e.EventType()]
		want += n
		fmt.Fprintf(stdout, "trace_id=%s event=%s deliveries=%d\n", traceID, e.EventType(), n)
	}
	if err := waitOutcomes(ctx, hooks, want); err != nil {
		return err
	}

	fmt.Fprintln(stdout, "== deliveries")
	if err := report(ctx, stdout, hooks, names); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "== receiver: %d requests, %d verified, %d answered 2xx\n",
		recv.requests.Load(), recv.verified.Load(), recv.ok.Load())
	return nil
}

// newTracerProvider returns an SDK tracer provider that batches spans to the
// OTLP/HTTP collector named by the environment (or defaultEndpoint), the
// exporter it wraps, and the endpoint for messages.
func newTracerProvider(ctx context.Context, service string) (*sdktrace.TracerProvider, *countingExporter, string, error) {
	var opts []otlptracehttp.Option
	endpoint := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		endpoint = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if endpoint == "" {
		endpoint = defaultEndpoint
		opts = append(opts, otlptracehttp.WithEndpointURL(defaultEndpoint+"/v1/traces"))
	}
	otlp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, nil, "", fmt.Errorf("otlp exporter for %s: %w", endpoint, err)
	}
	res, err := resource.Merge(resource.Default(),
		resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(service)))
	if err != nil {
		return nil, nil, "", fmt.Errorf("resource: %w", err)
	}
	exp := &countingExporter{SpanExporter: otlp}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
	)
	return tp, exp, endpoint, nil
}

// countingExporter counts the spans its exporter accepted and refused, so the
// command can fail when the collector did not get them: the batch processor
// only reports export errors of its last batch.
type countingExporter struct {
	sdktrace.SpanExporter
	exported, failed atomic.Int64
}

func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		e.failed.Add(int64(len(spans)))
		return err
	}
	e.exported.Add(int64(len(spans)))
	return nil
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// publish publishes e from a span standing for the host's HTTP request that
// caused it, and returns the id of the trace it started.
func publish(ctx context.Context, host trace.Tracer, hooks *webhooks.Service, e webhooks.Event) (trace.TraceID, error) {
	route, id := hostRoute(e)
	ctx, span := host.Start(ctx, "POST "+route,
		trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			semconv.HTTPRequestMethodPost,
			semconv.HTTPRoute(route),
			attribute.String("app.entity.id", id),
		))
	defer span.End()
	if err := hooks.Publish(ctx, e); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
		return span.SpanContext().TraceID(), fmt.Errorf("publish %s: %w", e.EventType(), err)
	}
	return span.SpanContext().TraceID(), nil
}

// hostRoute is the route of the host request that would publish e, and the
// id of the entity it changes.
func hostRoute(e webhooks.Event) (route, id string) {
	switch e := e.(type) {
	case webhooks.MeetingStatusChanged:
		return "/meetings/{meetingId}/status", e.MeetingID
	case webhooks.MeetingNoteStatusChanged:
		return "/meeting-notes/{meetingNoteId}/status", e.MeetingNoteID
	case webhooks.CommercialSignalDetected:
		return "/activities/{activityId}/signals", e.ActivityID
	default:
		return "/events", ""
	}
}

// demoEvents is the life of one meeting as a host would publish it.
func demoEvents() []webhooks.Event {
	return []webhooks.Event{
		webhooks.MeetingStatusChanged{MeetingID: "m-42", Status: webhooks.MeetingCreated},
		webhooks.MeetingStatusChanged{MeetingID: "m-42", Status: webhooks.MeetingTranscriptDone},
		webhooks.MeetingNoteStatusChanged{MeetingNoteID: "n-1", MeetingID: "m-42", Status: webhooks.MeetingNoteCreated},
		webhooks.CommercialSignalDetected{
			Code: signals.BuyingIntent, Description: signals.BuyingIntent.Description(),
			ContactID: "c-7", CompanyID: "co-3", Category: signals.Positive,
			ActivityType: signals.ActivityMeeting, ActivityID: "m-42",
			Evidence:   []string{"We want to roll this out to the whole team next quarter."},
			ChangeType: signals.ChangeNew,
		},
		webhooks.MeetingStatusChanged{MeetingID: "m-42", Status: webhooks.MeetingSummaryDone},
	}
}

// waitOutcomes polls the delivery log until n deliveries have an outcome.
func waitOutcomes(ctx context.Context, hooks *webhooks.Service, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := hooks.Log().Deliveries(ctx, webhooks.DeliveryQuery{})
		if err != nil {
			return err
		}
		if len(got) >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d deliveries finished", len(got), n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// report prints one line per delivery.
func report(ctx context.Context, stdout io.Writer, hooks *webhooks.Service, names map[string]string) error {
	recs, err := hooks.Log().Deliveries(ctx, webhooks.DeliveryQuery{})
	if err != nil {
		return err
	}
	sort.SliceStable(recs, func(i, j int) bool { return names[recs[i].WebhookID] < names[recs[j].WebhookID] })
	for _, r := range recs {
		fmt.Fprintf(stdout, "  %-18s %-28s %-13s attempts=%d status=%d\n", names[r.WebhookID], r.EventType, r.Outcome, r.Attempts, r.StatusCode)
	}
	return nil
}

// receiver checks every request with webhooks.VerifyRequests and its path's
// secret and answers 204, or 503 on a path that is down.
type receiver struct {
	mu       sync.Mutex
	handlers map[string]http.Handler // path: VerifyRequests with its secret
	down     map[string]bool

	requests, verified, ok atomic.Int64
}

func newReceiver() *receiver {
	return &receiver{handlers: map[string]http.Handler{}, down: map[string]bool{}}
}

func (r *receiver) addSecret(path, secret string) {
	h, err := webhooks.VerifyRequests(webhooks.ReceiverConfig{Secrets: []string{secret}},
		http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { r.handleVerified(w, req, path) }))
	if err != nil {
		panic(err) // secrets come from Create: always valid
	}
	r.mu.Lock()
	r.handlers[path] = h
	r.mu.Unlock()
}

func (r *receiver) setDown(path string, down bool) {
	r.mu.Lock()
	r.down[path] = down
	r.mu.Unlock()
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	r.mu.Lock()
	h := r.handlers[req.URL.Path]
	r.mu.Unlock()
	if h == nil {
		http.NotFound(w, req)
		return
	}
	h.ServeHTTP(w, req)
}

// handleVerified answers a request whose signature VerifyRequests accepted.
func (r *receiver) handleVerified(w http.ResponseWriter, req *http.Request, path string) {
	r.verified.Add(1)
	r.mu.Lock()
	down := r.down[path]
	r.mu.Unlock()
	if down {
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	}
	r.ok.Add(1)
	w.WriteHeader(http.StatusNoContent)
}
