package webhooks_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookbus/hookbus/webhooks"
)

// rawReceiver is a loopback HTTP/1.1 server that records every request as
// it arrived on the wire and answers each with the next status of a script
// (204 once the script is spent).
type rawReceiver struct {
	ln net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex
	statuses []int
	requests []rawRequest
}

// rawRequest is one request as read from the connection.
type rawRequest struct {
	line   string   // the request line
	fields []string // the header lines, in the order sent
	body   string
}

func newRawReceiver(t *testing.T) *rawReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &rawReceiver{ln: ln}
	r.wg.Go(r.serve)
	t.Cleanup(func() {
		_ = ln.Close()
		r.wg.Wait()
	})
	return r
}

// send sends req through s, with an OnRequest hook if viaMap (so that its
// fields go in a header map rather than apart), to the receiver answering
// with statuses, and returns the requests it recorded.
func (r *rawReceiver) send(ctx context.Context, s *webhooks.Sender, req webhooks.SendRequest, viaMap bool, statuses ...int) ([]rawRequest, error) {
	if viaMap {
		req.OnRequest = func(*http.Request) {}
	}
	r.script(statuses...)
	_, err := s.Send(ctx, req)
	return r.recorded(), err
}

func (r *rawReceiver) url() string { return "http://" + r.ln.Addr().String() + "/hook?x=1" }

// script sets the statuses of the next requests and forgets those recorded.
func (r *rawReceiver) script(statuses ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses, r.requests = statuses, nil
}

func (r *rawReceiver) recorded() []rawRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

func (r *rawReceiver) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.wg.Go(func() {
			defer c.Close()
			br := textproto.NewReader(bufio.NewReader(c))
			for {
				req, err := readRawRequest(br)
				if err != nil {
					return
				}
				r.mu.Lock()
				r.requests = append(r.requests, req)
				status := http.StatusNoContent
				if len(r.statuses) > 0 {
					status, r.statuses = r.statuses[0], r.statuses[1:]
				}
				r.mu.Unlock()
				answer := "HTTP/1.1 204 No Content\r\n\r\n"
				if status != http.StatusNoContent {
					answer = "HTTP/1.1 " + strconv.Itoa(status) + " X\r\nContent-Length: 0\r\n\r\n"
				}
				if _, err := io.WriteString(c, answer); err != nil {
					return
				}
			}
		})
	}
}

func readRawRequest(br *textproto.Reader) (rawRequest, error) {
	line, err := br.ReadLine()
	if err != nil {
		return rawRequest{}, err
	}
	req := rawRequest{line: line}
	length := 0
	for {
		f, err := br.ReadLine()
		if err != nil {
			return rawRequest{}, err
		}
		if f == "" {
			break
		}
		req.fields = append(req.fields, f)
		if name, value, _ := strings.Cut(f, ": "); strings.EqualFold(name, "Content-Length") {
			if length, err = strconv.Atoi(value); err != nil {
				return rawRequest{}, err
			}
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(br.R, body); err != nil {
		return rawRequest{}, err
	}
	req.body = string(body)
	return req, nil
}

// TestSignedFieldsOnTheWire checks the requests h1 sends with the signed
// fields kept apart from the request's header (the default) against those
// of the same delivery built as a header map (what a request with
// OnRequest gets), byte for byte, field by field: custom headers, secrets
// being rotated (up to the most that sign), a retry re-signed, an empty
// body, a traced attempt, and ids that cannot be written as they are.
func TestSignedFieldsOnTheWire(t *testing.T) {
	rcv := newRawReceiver(t)
	base := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	secret := func() string {
		s, err := webhooks.GenerateSecret()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var previous []webhooks.PreviousSecret
	for range webhooks.MaxPreviousSecrets {
		previous = append(previous, webhooks.PreviousSecret{Secret: secret(), ExpiresAt: base.Add(time.Hour)})
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })

	for _, tc := range []struct {
		name     string
		webhook  webhooks.Webhook
		eventID  string
		payload  string
		statuses []int
		traced   bool
		wantErr  bool
		userinfo bool                                  // credentials in the URL
		ctx      func(context.Context) context.Context // what the caller's context carries
	}{
		{name: "plain", payload: `{"a":1}`},
		{name: "custom headers", webhook: webhooks.Webhook{Headers: map[string]string{"A-First": "1", "Zed": "z", "X-Tenant": "t 1"}}, payload: `{}`},
		{name: "custom header with spaces around its value", webhook: webhooks.Webhook{Headers: map[string]string{"X-Padded": " p \t"}}, payload: `{}`},
		{name: "custom header with a line break", webhook: webhooks.Webhook{Headers: map[string]string{"X-Bad": "a\r\nX-Injected: 1"}}, payload: `{}`, wantErr: true},
		{name: "custom header named as a signed one", webhook: webhooks.Webhook{Headers: map[string]string{"webhook-id": "mine"}}, payload: `{}`},
		{name: "two secrets", webhook: webhooks.Webhook{PreviousSecrets: previous[:1]}, payload: `{}`},
		{name: "every secret", webhook: webhooks.Webhook{PreviousSecrets: previous}, payload: `{}`},
		{name: "retried", payload: `{"b":2}`, statuses: []int{503, 500}},
		{name: "empty body", payload: ``},
		{name: "traced", payload: `{}`, traced: true, statuses: []int{503}},
		{name: "custom Baggage, propagated over it", webhook: webhooks.Webhook{Headers: map[string]string{"Baggage": "tenant=acme"}}, payload: `{}`,
			ctx: func(ctx context.Context) context.Context {
				m, _ := baggage.NewMember("k", "v")
				b, _ := baggage.New(m)
				ctx = baggage.ContextWithBaggage(ctx, b)
				return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}}))
			}},
		{name: "custom traceparent, propagated over it", webhook: webhooks.Webhook{Headers: map[string]string{"traceparent": "00-mine"}}, payload: `{}`,
			ctx: func(ctx context.Context) context.Context {
				return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}}))
			}},
		{name: "custom Authorization and credentials in the URL", webhook: webhooks.Webhook{Headers: map[string]string{"Authorization": "Bearer tok"}}, payload: `{}`, userinfo: true},
		{name: "id with a space around it", eventID: " evt_1 ", payload: `{}`, wantErr: true},
		{name: "id with a line break", eventID: "evt\r\nX-Injected: 1", payload: `{}`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.webhook
			w.ID, w.URL, w.Secret, w.EventType = "wh_1", rcv.url(), secret(), webhooks.MeetingStatusChangedEvent
			if tc.userinfo {
				w.URL = strings.Replace(w.URL, "http://", "http://user:pw@", 1)
			}
			tg, err := webhooks.NewTarget(w, base)
			if err != nil {
				t.Fatal(err)
			}
			eventID := tc.eventID
			if eventID == "" {
				eventID = "evt_0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
			}
			send := func(viaMap bool) ([]rawRequest, error) {
				tick := 0
				s, err := webhooks.NewSender(webhooks.SenderConfig{
					AllowHTTP: true, AllowAddresses: engLoopback, MaxRetries: 2,
					RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond, TracerProvider: tp,
					Now: func() time.Time { tick++; return base.Add(time.Duration(tick) * time.Second) },
				})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				ctx := t.Context()
				if tc.ctx != nil {
					ctx = tc.ctx(ctx)
				}
				if tc.traced {
					c, span := tp.Tracer("test").Start(ctx, "deliver")
					defer span.End()
					ctx = c
				}
				req := webhooks.SendRequest{Target: tg, EventID: eventID, DeliveryID: "dlv_1", Payload: []byte(tc.payload)}
				return rcv.send(ctx, s, req, viaMap, tc.statuses...)
			}
			apart, errApart := send(false)
			inMap, errMap := send(true)
			if (errApart != nil) != tc.wantErr || (errMap != nil) != tc.wantErr {
				t.Fatalf("Send = %v apart, %v in a map; want an error: %v", errApart, errMap, tc.wantErr)
			}
			if tc.wantErr {
				if errApart.Error() != errMap.Error() || len(apart) != 0 || len(inMap) != 0 {
					t.Fatalf("errors %q and %q, %d and %d requests sent; want the same error and none sent", errApart, errMap, len(apart), len(inMap))
				}
				return
			}
			if want := 1 + len(tc.statuses); len(apart) != want || len(inMap) != want {
				t.Fatalf("%d and %d requests, want %d each: %q", len(apart), len(inMap), want, apart)
			}
			for i := range apart {
				a, m := apart[i], inMap[i]
				af, mf := comparableFields(t, a.fields, tc.traced, tc.ctx != nil), comparableFields(t, m.fields, tc.traced, tc.ctx != nil)
				if a.line != m.line || a.body != m.body || !slices.Equal(af, mf) {
					t.Errorf("request %d apart:\n%s\n%q\n%s\nin a map:\n%s\n%q\n%s", i+1, a.line, af, a.body, m.line, mf, m.body)
				}
				if !slices.Contains(a.fields, "Content-Length: "+strconv.Itoa(len(tc.payload))) || countField(a.fields, "Transfer-Encoding") != 0 {
					t.Errorf("request %d has fields %q, want Content-Length: %d and no Transfer-Encoding", i+1, a.fields, len(tc.payload))
				}
				for _, name := range []string{"Host", "User-Agent", "Content-Type", "Webhook-Id", "Webhook-Timestamp", "Webhook-Signature", "X-Webhook-Signature", "X-Webhook-Event"} {
					if n := countField(a.fields, name); n != 1 {
						t.Errorf("request %d has %s %d times, want once", i+1, name, n)
					}
				}
				for _, name := range []string{"Authorization", "Baggage", "Traceparent"} {
					if n := countField(a.fields, name); n > 1 {
						t.Errorf("request %d has %s %d times, want at most once", i+1, name, n)
					}
				}

			}
		})
	}
}

// comparableFields returns the header lines in their order, checking that
// a traced request, or one whose context has a span context to propagate,
// has a traceparent; a traced one's value differs between traces and is
// replaced.
func comparableFields(t *testing.T, fields []string, traced, propagated bool) []string {
	t.Helper()
	want := traced || propagated
	var out []string
	for _, f := range fields {
		if name, _, _ := strings.Cut(f, ":"); strings.EqualFold(name, "Traceparent") {
			if !want {
				t.Errorf("request without a trace has %q", f)
			}
			want = false // seen
			if traced {
				f = name + ": (a trace)"
			}
		}
		out = append(out, f)
	}
	if want {
		t.Errorf("request without a traceparent: %q", fields)
	}
	return out
}

// TestHooksSeeTheirOwnRequestHeader checks that a RetryPolicy of the
// caller's gets a request whose header holds every field sent, and that
// what it changes there stays with that delivery: the next one is sent
// whole.
func TestHooksSeeTheirOwnRequestHeader(t *testing.T) {
	rcv := newRawReceiver(t)
	tg, err := webhooks.NewTarget(webhooks.Webhook{ID: "wh_1", URL: rcv.url(), Secret: mustSecret(t),
		EventType: webhooks.MeetingStatusChangedEvent, Headers: map[string]string{"Authorization": "Bearer tok"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	s, err := webhooks.NewSender(webhooks.SenderConfig{
		AllowHTTP: true, AllowAddresses: engLoopback, MaxRetries: 1, RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond,
		RetryPolicy: func(ctx context.Context, resp *http.Response, err error) (bool, error) {
			if resp != nil {
				seen = append(seen, resp.Request.Header.Get(webhooks.HeaderID)+" "+resp.Request.Header.Get("Authorization"))
				resp.Request.Header.Del("Authorization")
			}
			return webhooks.DefaultRetryPolicy(ctx, resp, err)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range []string{"evt_1", "evt_2"} {
		rcv.script(503)
		if _, err := s.Send(t.Context(), webhooks.SendRequest{Target: tg, EventID: id, DeliveryID: "dlv_" + id, Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		sent := rcv.recorded()
		if len(sent) != 2 || countField(sent[0].fields, "Authorization") != 1 || countField(sent[0].fields, webhooks.HeaderID) != 1 {
			t.Errorf("%s: sent %q, want two requests, the first with Authorization and webhook-id once", id, sent)
		}
	}
	// Each delivery's first attempt; the retry has what the policy left.
	if want := []string{"evt_1 Bearer tok", "evt_1 ", "evt_2 Bearer tok", "evt_2 "}; !slices.Equal(seen, want) {
		t.Errorf("the policy saw %q, want %q", seen, want)
	}
}

func mustSecret(t *testing.T) string {
	t.Helper()
	s, err := webhooks.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func countField(fields []string, name string) int {
	n := 0
	for _, f := range fields {
		if k, _, _ := strings.Cut(f, ":"); strings.EqualFold(k, name) {
			n++
		}
	}
	return n
}

// fixedPropagator injects fixed fields, in order, and, if keys is set,
// one more field listing the carrier's keys; with keep, it sets Tracestate
// only if the carrier has none (a propagator may read what it writes to).
type fixedPropagator struct {
	fields     [][2]string
	keep, keys bool
}

func (p fixedPropagator) Inject(_ context.Context, c propagation.TextMapCarrier) {
	for _, kv := range p.fields {
		c.Set(kv[0], kv[1])
	}
	if p.keep && c.Get("tracestate") == "" {
		c.Set("tracestate", "ours=1")
	}
	if p.keys {
		keys := c.Keys()
		slices.Sort(keys)
		c.Set("x-keys", strings.Join(keys, ","))
	}
}

func (fixedPropagator) Extract(ctx context.Context, _ propagation.TextMapCarrier) context.Context {
	return ctx
}

func (fixedPropagator) Fields() []string { return nil }

// TestPropagatedFieldsOnTheWire checks, on the wire, that whatever fields
// a propagator sets (several, odd names, long values, values net/http
// trims, names it refuses, names of other fields, the same name twice) go
// out as they would from a header holding every field, attempt after
// attempt, and that a propagator reading the carrier sees every field.
func TestPropagatedFieldsOnTheWire(t *testing.T) {
	rcv := newRawReceiver(t)
	base := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	secret := mustSecret(t)
	long := strings.Repeat("k=v,", 300) + "z=1" // beyond the room the fields are rendered in
	for _, tc := range []struct {
		name     string
		headers  map[string]string
		prop     fixedPropagator
		statuses []int
	}{
		{name: "B3, several fields", prop: fixedPropagator{fields: [][2]string{{"x-b3-traceid", "1"}, {"x-b3-spanid", "2"}, {"x-b3-sampled", "1"}}}},
		{name: "Jaeger, digits and underscores", prop: fixedPropagator{fields: [][2]string{{"uber-trace-id", "a:b:0:1"}, {"uberctx-k_1", "v"}, {"x-9a_b", "w"}}}},
		{name: "a custom header of the name, in other cases", headers: map[string]string{"uber-trace-id": "mine"}, prop: fixedPropagator{fields: [][2]string{{"Uber-Trace-ID", "theirs"}}}},
		{name: "long baggage, retried", prop: fixedPropagator{fields: [][2]string{{"baggage", long}, {"traceparent", "00-x"}}}, statuses: []int{503, 503}},
		{name: "a value net/http trims", prop: fixedPropagator{fields: [][2]string{{"traceparent", "00-x"}, {"tracestate", " a=b "}}}},
		{name: "a name net/http refuses, after a valid one", headers: map[string]string{"Baggage": "mine"}, prop: fixedPropagator{fields: [][2]string{{"baggage", "theirs"}, {"bad key", "v"}}}},
		{name: "a reserved name", prop: fixedPropagator{fields: [][2]string{{"traceparent", "00-x"}, {"content-length", "5"}}}},
		{name: "the same name twice", prop: fixedPropagator{fields: [][2]string{{"traceparent", "1"}, {"Traceparent", "2"}}}},
		{name: "an empty value", prop: fixedPropagator{fields: [][2]string{{"x-e", ""}}}},
		{name: "a signed field's name", prop: fixedPropagator{fields: [][2]string{{"webhook-id", "spoof"}}}},
		{name: "Content-Type", prop: fixedPropagator{fields: [][2]string{{"content-type", "text/plain"}}}},
		{name: "reading the carrier", headers: map[string]string{"Tracestate": "vendor=mine"}, prop: fixedPropagator{keep: true, keys: true}},
		{name: "reading what it set", prop: fixedPropagator{fields: [][2]string{{"tracestate", "set=1"}}, keep: true, keys: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := webhooks.NewTarget(webhooks.Webhook{ID: "wh_1", URL: rcv.url(), Secret: secret, EventType: webhooks.MeetingStatusChangedEvent, Headers: tc.headers}, base)
			if err != nil {
				t.Fatal(err)
			}
			send := func(viaMap bool) ([]rawRequest, error) {
				tick := 0
				rec := tracetest.NewSpanRecorder()
				tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
				s, err := webhooks.NewSender(webhooks.SenderConfig{AllowHTTP: true, AllowAddresses: engLoopback, MaxRetries: 2,
					RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond, Propagator: tc.prop, TracerProvider: tp,
					Now: func() time.Time { tick++; return base.Add(time.Duration(tick) * time.Second) }})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				ctx := trace.ContextWithSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}}))
				req := webhooks.SendRequest{Target: tg, EventID: "evt_1", Payload: []byte(`{}`)}
				return rcv.send(ctx, s, req, viaMap, tc.statuses...)
			}
			apart, errApart := send(false)
			inMap, errMap := send(true)
			if (errApart == nil) != (errMap == nil) || len(apart) != len(inMap) {
				t.Fatalf("apart: %d requests, error %v; in a map: %d requests, error %v", len(apart), errApart, len(inMap), errMap)
			}
			for i := range apart {
				if !slices.Equal(apart[i].fields, inMap[i].fields) {
					t.Errorf("request %d:\napart    %q\nin a map %q", i+1, apart[i].fields, inMap[i].fields)
				}
			}
		})
	}
}
