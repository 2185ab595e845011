package webhooks

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// telemetry is a tracer and a meter provider that keep what they record.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newTelemetry() telemetry {
	spans := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	return telemetry{
		spans:  spans,
		tp:     sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
		reader: reader,
		mp:     sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
	}
}

// clientSpan is what the comparison looks at of a client span.
type clientSpan struct {
	name   string
	kind   trace.SpanKind
	attrs  attribute.Distinct
	show   string
	status sdktrace.Status
}

func (tm telemetry) clientSpans(t *testing.T) []clientSpan {
	t.Helper()
	var out []clientSpan
	for _, sp := range tm.spans.Ended() {
		if sp.SpanKind() != trace.SpanKindClient {
			continue
		}
		set := attribute.NewSet(sp.Attributes()...)
		out = append(out, clientSpan{
			name: sp.Name(), kind: sp.SpanKind(), attrs: set.Equivalent(),
			show: set.Encoded(attribute.DefaultEncoder()), status: sp.Status(),
		})
	}
	return out
}

// clientPoint is what the comparison looks at of a data point of the HTTP
// client metrics.
type clientPoint struct {
	metric string
	attrs  string
	count  uint64
	bounds string
	sum    int64 // of the body sizes; durations differ
}

func (tm telemetry) clientPoints(t *testing.T) []clientPoint {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tm.reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	var out []clientPoint
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Histogram[float64]:
				if m.Name != "http.client.request.duration" {
					continue
				}
				for _, dp := range data.DataPoints {
					out = append(out, clientPoint{metric: m.Name + " (" + m.Unit + ")", attrs: dp.Attributes.Encoded(attribute.DefaultEncoder()),
						count: dp.Count, bounds: fmt.Sprint(dp.Bounds)})
				}
			case metricdata.Histogram[int64]:
				if m.Name != "http.client.request.body.size" {
					continue
				}
				for _, dp := range data.DataPoints {
					out = append(out, clientPoint{metric: m.Name + " (" + m.Unit + ")", attrs: dp.Attributes.Encoded(attribute.DefaultEncoder()),
						count: dp.Count, bounds: fmt.Sprint(dp.Bounds), sum: dp.Sum})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b clientPoint) int { return strings.Compare(a.metric+a.attrs, b.metric+b.attrs) })
	return out
}

// localPort is the local port in an error's text, which differs from one
// connection to the next.
var localPort = regexp.MustCompile(`:[0-9]+->`)

func sameStatus(a, b sdktrace.Status) bool {
	return a.Code == b.Code && localPort.ReplaceAllString(a.Description, ":->") == localPort.ReplaceAllString(b.Description, ":->")
}

// TestClientTelemetryMatchesOtelhttp sends the same attempts through the
// sender and through otelhttp's Transport over the sender's own transport,
// to real receivers that answer, fail, hang, reset or break off their
// answer, and checks that the client spans (name, kind, attributes,
// status) and the client metrics (attributes, counts, buckets, body sizes)
// are otelhttp's.
func TestClientTelemetryMatchesOtelhttp(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/200":
			_, _ = io.WriteString(w, "thanks")
		case "/302":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/404":
			http.NotFound(w, r)
		case "/500":
			w.WriteHeader(http.StatusInternalServerError)
		case "/600":
			w.WriteHeader(600)
		case "/hang":
			time.Sleep(300 * time.Millisecond)
		case "/reset", "/short":
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			if r.URL.Path == "/short" {
				_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
				_ = buf.Flush()
			} else if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
		}
	})
	srv := httptest.NewServer(handler)
	defer srv.Close()
	gone := httptest.NewServer(handler)
	goneURL := gone.URL
	gone.Close()

	secret, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"type":"meeting.status_changed","data":{"meeting_id":"m_1"}}`)
	for _, tc := range []struct {
		name     string
		url      string
		untraced bool // no span in the context: metrics only
		cfg      SenderConfig
	}{
		{name: "204", url: srv.URL + "/204"},
		{name: "200 with a body", url: srv.URL + "/200"},
		{name: "redirect", url: srv.URL + "/302"},
		{name: "404", url: srv.URL + "/404?q=1"},
		{name: "500", url: srv.URL + "/500"},
		{name: "status 600", url: srv.URL + "/600"},
		{name: "hang", url: srv.URL + "/hang"},
		{name: "reset", url: srv.URL + "/reset"},
		{name: "short body", url: srv.URL + "/short"},
		{name: "refused", url: goneURL + "/204"},
		{name: "credentials in the URL", url: strings.Replace(srv.URL, "http://", "http://user:pass@", 1) + "/204"},
		{name: "localhost name", url: strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/204"},
		{name: "untraced", url: srv.URL + "/204", untraced: true},
		{name: "untraced refused", url: goneURL + "/204", untraced: true},
		{name: "HTTP2 mode", url: srv.URL + "/200", cfg: SenderConfig{HTTP2: true}},
		{name: "HTTP2 mode, reset", url: srv.URL + "/reset", cfg: SenderConfig{HTTP2: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours, theirs := newTelemetry(), newTelemetry()
			cfg := tc.cfg
			cfg.AllowHTTP = true
			cfg.AllowAddresses = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
			cfg.Timeout = 100 * time.Millisecond
			cfg.MaxRetries = -1
			cfg.TracerProvider, cfg.MeterProvider = ours.tp, ours.mp
			s, err := NewSender(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			target, err := NewTarget(Webhook{ID: "wh_1", URL: tc.url, Secret: secret, EventType: MeetingStatusChangedEvent}, time.Now())
			if err != nil {
				t.Fatal(err)
			}

			ctx := t.Context()
			if !tc.untraced {
				var parent trace.Span
				ctx, parent = ours.tp.Tracer("test").Start(ctx, "deliver")
				defer parent.End()
			}
			_, _ = s.Send(ctx, SendRequest{Target: target, EventID: "evt_1", Payload: payload})

			// otelhttp over the same transport, for the same attempt.
			rt := otelhttp.NewTransport(s.transport,
				otelhttp.WithTracerProvider(theirs.tp), otelhttp.WithMeterProvider(theirs.mp),
				otelhttp.WithPropagators(propagation.TraceContext{}))
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, tc.url, bytes.NewReader(payload))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := rt.RoundTrip(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
			got, want := ours.clientSpans(t), theirs.clientSpans(t)
			if tc.untraced {
				if len(got) != 0 {
					t.Errorf("an untraced attempt made %d client spans", len(got))
				}
			} else if len(got) != 1 || len(want) != 1 {
				t.Errorf("client spans: %d made, otelhttp made %d; want 1 each", len(got), len(want))
			} else if got[0].name != want[0].name || got[0].kind != want[0].kind || got[0].attrs != want[0].attrs || !sameStatus(got[0].status, want[0].status) {
				t.Errorf("client span:\n got  %s %v %s %+v\n want %s %v %s %+v",
					got[0].name, got[0].kind, got[0].show, got[0].status, want[0].name, want[0].kind, want[0].show, want[0].status)
			}

			gotPoints, wantPoints := ours.clientPoints(t), theirs.clientPoints(t)
			if len(wantPoints) != 2 {
				t.Fatalf("otelhttp recorded %d data points, want 2: %+v", len(wantPoints), wantPoints)
			}
			if !slices.Equal(gotPoints, wantPoints) {
				t.Errorf("client metrics:\n got  %+v\n want %+v", gotPoints, wantPoints)
			}
		})
	}
}

// TestClientSpanEndsWithItsBody checks that the client span of an attempt
// whose answer has no body ends, as otelhttp's does, when that empty body is
// closed, which the sender does after it has judged and recorded the
// attempt. (A body the sender reads to its end ends the span there, in
// both.)
func TestClientSpanEndsWithItsBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/200" {
			w.Header().Set("Content-Length", "0")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	secret, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/204", "/200"} {
		tm := newTelemetry()
		s, err := NewSender(SenderConfig{AllowHTTP: true, AllowAddresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			TracerProvider: tm.tp, MeterProvider: tm.mp})
		if err != nil {
			t.Fatal(err)
		}
		target, err := NewTarget(Webhook{ID: "wh_1", URL: srv.URL + path, Secret: secret, EventType: MeetingStatusChangedEvent}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ctx, parent := tm.tp.Tracer("test").Start(t.Context(), "deliver")
		var judged time.Time
		if _, err := s.Send(ctx, SendRequest{Target: target, EventID: "evt_1", Payload: []byte(`{}`),
			OnAttempt: func(Attempt) { time.Sleep(10 * time.Millisecond); judged = time.Now() }}); err != nil {
			t.Fatal(err)
		}
		parent.End()
		s.Close()
		var spans int
		for _, sp := range tm.spans.Ended() {
			if sp.SpanKind() == trace.SpanKindClient {
				spans++
				if sp.EndTime().Before(judged) {
					t.Errorf("%s: the client span ended %v before the attempt was judged", path, judged.Sub(sp.EndTime()))
				}
			}
		}
		if spans != 1 {
			t.Errorf("%s: %d client spans, want 1", path, spans)
		}
	}
}

// TestClientBodySizeOfAnEarlyAnswer checks that on net/http's Transport,
// which goes on sending the body after a receiver has answered, the body
// size is counted once the whole body has gone, as otelhttp counts it.
func TestClientBodySizeOfAnEarlyAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.EnableFullDuplex()
		_, _ = io.ReadFull(r.Body, make([]byte, 10))
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		_ = rc.Flush()
		time.Sleep(20 * time.Millisecond)
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	payload := bytes.Repeat([]byte("x"), 8<<20)
	tm := newTelemetry()
	s, err := NewSender(SenderConfig{HTTP2: true, AllowHTTP: true, AllowAddresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		MaxRetries: -1, MaxPayloadBytes: len(payload), TracerProvider: tm.tp, MeterProvider: tm.mp})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	secret, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	target, err := NewTarget(Webhook{ID: "wh_1", URL: srv.URL, Secret: secret, EventType: MeetingStatusChangedEvent}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(t.Context(), SendRequest{Target: target, EventID: "evt_1", Payload: payload}); err == nil {
		t.Fatal("a 413 was taken for a success")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var size *clientPoint
		points := tm.clientPoints(t)
		for i := range points {
			if strings.HasPrefix(points[i].metric, "http.client.request.body.size") {
				size = &points[i]
			}
		}
		if size != nil {
			if size.count != 1 || size.sum != int64(len(payload)) {
				t.Errorf("body size: %d recorded, summing %d; want 1 of %d", size.count, size.sum, len(payload))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no body size recorded 5 s after the attempt")
		}
	}
}
